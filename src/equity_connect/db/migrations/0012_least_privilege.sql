-- Least privilege: what Supabase's default privileges hand out, what a broker
-- may write, and the login role the API and workers use.
--
-- Supabase sets default privileges in schema public that grant ALL on every
-- new table, sequence and function to anon, authenticated and service_role.
-- Every table here revokes its own grants (ec_internal.pipeline_only), but
-- the migration ledger, the identity sequences and the functions kept them:
-- with the public anon key anyone could read and plant schema_migrations
-- rows (a planted row blocks every later migrate) and draw every sequence.
-- `db migrate` ends with a check of what anon and authenticated hold
-- (db/queries.sql, client_privilege_leaks) and fails if they hold more.

-- From now on, objects this role creates in public get nothing for the
-- client roles by default, as on plain PostgreSQL (where the tests run):
-- each migration grants what a role needs, explicitly. On plain PostgreSQL
-- there is no such default and these are no-ops.
alter default privileges in schema public revoke all on tables from anon, authenticated;
alter default privileges in schema public revoke all on sequences from anon, authenticated;
alter default privileges in schema public revoke all on functions from anon, authenticated;

-- What the defaults already granted on the objects of the migrations before this one.
revoke all on all tables in schema public from anon;
revoke all on all sequences in schema public from anon, authenticated;
revoke all on all functions in schema public from anon;
revoke all on all tables in schema ec_internal from anon, authenticated;
revoke all on all sequences in schema ec_internal from anon, authenticated;
revoke all on all functions in schema ec_internal from anon;
-- 0011's SECURITY DEFINER triggers kept PUBLIC's EXECUTE; a trigger needs none.
revoke all on function ec_internal.uploads_delete_lineage() from public;
revoke all on function ec_internal.uploads_truncate_lineage() from public;
revoke all on schema public from anon;
revoke all on schema ec_internal from anon;
revoke create on schema public from authenticated;
revoke create on schema ec_internal from authenticated;
-- RLS does not apply to TRUNCATE, and REFERENCES/TRIGGER are owner business.
revoke truncate, references, trigger on all tables in schema public from authenticated;
-- No RLS on these: the pipeline reads them, nobody else.
revoke all on table public.schema_migrations from public, anon, authenticated;
grant select on table public.schema_migrations to service_role, pipeline_writer;
revoke all on table public.mv_contactable_leads from public, anon, authenticated;

-- The audit log and notes: the database sets the facts a broker could forge.
-- A broker (the API's SET LOCAL ROLE authenticated, or a Supabase session
-- token on the project's REST API) held INSERT on every audit_log column
-- and on lead_notes.created_at. Now brokers insert no audit row at all (the
-- application writes a broker's audit row as the pipeline, in the same
-- transaction: web/audit.py), and nobody chooses id, occurred_at or a
-- note's created_at.
drop policy if exists broker_audit_insert on public.audit_log;
revoke insert on table public.audit_log from authenticated, service_role, pipeline_writer;
grant insert (actor_role, actor_id, action, table_name, row_id, before, after, request_id)
  on table public.audit_log to service_role, pipeline_writer;
revoke insert, update on table public.lead_notes from authenticated;
grant insert (lead_id, broker_id, body) on table public.lead_notes to authenticated;

-- Rejected requests are counted, not logged one row each (8,146 rows in 10 s
-- at 809 req/s): a row now stands for `hits` rejections of one kind, code
-- and address from first_at (occurred_at) to last_at (web/guards.py).
alter table public.security_events add column if not exists hits integer not null default 1;
alter table public.security_events add column if not exists last_at timestamptz;
do $$
begin
  if not exists (select 1 from pg_constraint where conname = 'security_events_hits_check') then
    alter table public.security_events
      add constraint security_events_hits_check check (hits >= 1);
  end if;
end
$$;

-- REFRESH MATERIALIZED VIEW needs ownership (PostgreSQL 15 and 16), which
-- the application's login must not have: this one function, running as
-- the owner, is all of it the pipeline gets.
create or replace function ec_internal.refresh_contactable_leads() returns void
  language plpgsql
  security definer
  set search_path = ''
as $$
begin
  refresh materialized view concurrently public.mv_contactable_leads;
end
$$;
revoke all on function ec_internal.refresh_contactable_leads() from public, anon, authenticated;
grant execute on function ec_internal.refresh_contactable_leads() to service_role, pipeline_writer;

-- The API and workers' login: no superuser, no CREATE anywhere, no role
-- attribute; a member of pipeline_writer (the pipeline's grants and
-- policies) and of authenticated (SET LOCAL ROLE for a broker's request).
-- It has no password: local trust (the embedded default) lets it in; on a
-- server with password authentication set one (`alter role ec_app password
-- …`) and put it in DATABASE_URL. An existing ec_app is left as it is.
do $$
declare
  r text;
begin
  if not exists (select 1 from pg_roles where rolname = 'ec_app') then
    begin
      create role ec_app login nosuperuser nocreatedb nocreaterole noreplication nobypassrls;
    exception when duplicate_object or unique_violation then
      null;  -- another database of the cluster created it meanwhile
    end;
  end if;
  foreach r in array array['pipeline_writer', 'authenticated'] loop
    if not pg_has_role('ec_app', r, 'member') then
      begin
        execute format('grant %I to ec_app', r);
      exception when insufficient_privilege or invalid_grant_operation then
        raise warning 'could not grant % to ec_app: % (grant it as a role with admin option on %)',
          r, sqlerrm, r;
      end;
    end if;
  end loop;
end
$$;
