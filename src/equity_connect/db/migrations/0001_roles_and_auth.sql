-- Roles and the Supabase-compatible auth helpers.
--
-- On Supabase these already exist (owned by supabase_auth_admin), so every
-- object here is created only where it is missing and never replaced: a
-- CREATE OR REPLACE of auth.uid() would fail there for lack of ownership.

-- Roles are cluster-wide while migrations (and their advisory lock) are
-- per-database, so two databases migrating at once can race to create the
-- same role; the duplicate_object handler makes the loser a no-op.
do $$
declare
  r text;
begin
  foreach r in array array['anon', 'authenticated', 'service_role', 'pipeline_writer'] loop
    if not exists (select 1 from pg_roles where rolname = r) then
      begin
        execute format('create role %I nologin', r);
      exception when duplicate_object or unique_violation then
        null;
      end;
    end if;
    -- The API and the tests act as a broker with SET LOCAL ROLE, which needs
    -- membership. The pipeline's policies are granted TO pipeline_writer, and
    -- membership is what lets a non-superuser table owner pass FORCE RLS.
    if not pg_has_role(current_user, r, 'member') then
      begin
        execute format('grant %I to %I', r, current_user);
      exception when duplicate_object or unique_violation or invalid_grant_operation then
        null;
      end;
    end if;
  end loop;
end
$$;

create schema if not exists auth;

-- Same bodies as supabase/auth's migrations, plus nullif() on the claims
-- string: RESET leaves it '' and ''::jsonb would raise instead of meaning
-- "nobody".
do $$
begin
  if to_regprocedure('auth.uid()') is null then
    create function auth.uid() returns uuid
      language sql stable
      set search_path = ''
    as $f$
      select nullif(
        coalesce(
          current_setting('request.jwt.claim.sub', true),
          nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub'
        ), ''
      )::uuid
    $f$;
  end if;

  if to_regprocedure('auth.role()') is null then
    create function auth.role() returns text
      language sql stable
      set search_path = ''
    as $f$
      select nullif(
        coalesce(
          current_setting('request.jwt.claim.role', true),
          nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role'
        ), ''
      )::text
    $f$;
  end if;

  if to_regprocedure('auth.jwt()') is null then
    create function auth.jwt() returns jsonb
      language sql stable
      set search_path = ''
    as $f$
      select coalesce(
        nullif(current_setting('request.jwt.claim', true), ''),
        nullif(current_setting('request.jwt.claims', true), '')
      )::jsonb
    $f$;
  end if;
end
$$;

grant usage on schema auth to anon, authenticated, service_role, pipeline_writer;
grant execute on function auth.uid(), auth.role(), auth.jwt()
  to anon, authenticated, service_role, pipeline_writer;

-- Migration helpers, in a schema no client role can use.
create schema if not exists ec_internal;
revoke all on schema ec_internal from public;

-- Put a table behind RLS (enabled and forced), visible to the pipeline roles
-- only. Every migration that creates a table calls this, so "no client
-- access unless a policy says so" is one definition, not a copy per table.
create or replace function ec_internal.pipeline_only(tbl text) returns void
  language plpgsql
  set search_path = ''
as $$
begin
  execute format('alter table public.%I enable row level security', tbl);
  execute format('alter table public.%I force row level security', tbl);
  execute format('revoke all on table public.%I from anon, authenticated, public', tbl);
  execute format(
    'grant select, insert, update, delete on table public.%I to service_role, pipeline_writer', tbl
  );
  execute format('drop policy if exists pipeline_all on public.%I', tbl);
  execute format(
    'create policy pipeline_all on public.%I for all to service_role, pipeline_writer '
    'using (true) with check (true)',
    tbl
  );
end
$$;
