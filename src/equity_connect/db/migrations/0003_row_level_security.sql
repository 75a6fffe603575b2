-- Row-level security on every table, forced so that even the table owner
-- goes through a policy.
--
-- Who is who:
--   anon            no access at all (Supabase grants it everything by
--                   default privileges; we revoke, and RLS would still
--                   return nothing).
--   authenticated   a broker: sees, inserts and updates only the leads whose
--                   assigned_broker_id is their auth.uid(); deletes nothing.
--   service_role,   the pipeline (API's ops paths, workers, CLI). The plan's
--   pipeline_writer policy tested auth.role() = 'service_role', a claim any
--                   caller can set in a session GUC; a policy TO a role is
--                   enforced by the server's own role check instead.
--
-- CREATE POLICY has no IF NOT EXISTS (the plan's syntax is not PostgreSQL):
-- each policy is dropped and re-created, which is idempotent and also
-- updates a changed definition.

select ec_internal.pipeline_only(t)
from unnest(array[
  'brokers', 'uploads', 'ingest_replay_guard', 'leads', 'upload_rows', 'leads_staging',
  'pipeline_events', 'pipeline_dlq', 'consent_tokens', 'verification_code_map',
  'inbound_events', 'suppressions', 'security_events'
]) as t;

grant usage on schema public to service_role, pipeline_writer, authenticated;
grant usage, select on all sequences in schema public to service_role, pipeline_writer;

-- Brokers: select, insert, update of their own leads. DELETE is granted so
-- that, as on Supabase (whose default privileges grant it), only RLS stands
-- between a broker and other rows: with no DELETE policy a broker's DELETE
-- affects nothing. UPDATE is limited to the columns a broker works with;
-- assigned_broker_id is among them so that WITH CHECK (not a missing grant)
-- is what stops a broker handing a lead to another broker.
grant select, insert, delete on table public.leads to authenticated;
grant update (campaign_status, assigned_broker_id, current_sequence_step, last_reply_at)
  on table public.leads to authenticated;

drop policy if exists broker_leads_select on public.leads;
create policy broker_leads_select on public.leads
  for select to authenticated
  using (assigned_broker_id = (select auth.uid()));

drop policy if exists broker_leads_insert on public.leads;
create policy broker_leads_insert on public.leads
  for insert to authenticated
  with check (assigned_broker_id = (select auth.uid()));

-- The seed's broker_leads_modify, by its name, with WITH CHECK as strict as USING.
drop policy if exists broker_leads_modify on public.leads;
create policy broker_leads_modify on public.leads
  for update to authenticated
  using (assigned_broker_id = (select auth.uid()))
  with check (assigned_broker_id = (select auth.uid()));

-- A broker reads their own broker row (name, capacity, booking URL).
grant select on table public.brokers to authenticated;
drop policy if exists broker_self_select on public.brokers;
create policy broker_self_select on public.brokers
  for select to authenticated
  using (id = (select auth.uid()));
