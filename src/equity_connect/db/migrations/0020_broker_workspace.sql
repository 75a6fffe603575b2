-- The broker workspace (web/lead_pages.py, leads/): search indexes, and what a
-- broker may read of their own leads' history, under RLS.
--
-- Search. pg_trgm would serve "contains" searches, but the embedded server
-- (pgserver) ships without it, so search is by prefix on lower(), which
-- every PostgreSQL serves from a btree in the "C" collation (byte order:
-- LIKE 'smi%' becomes a range scan): name, street and city match from their
-- first letter ("smi" finds Smith, "12 oak" finds 12 Oak St). The same
-- indexes give the list's name and city orders (ORDER BY ... COLLATE "C"),
-- which text_pattern_ops indexes could not. Phone and email are found through
-- their blind indexes (existing indexes), ZIP by equality. Every index here
-- is paid for by each ingest, so only the ones the list's searches and sorts
-- use are made (bench/workspace.py measures them at a million leads).
create index if not exists leads_owner_name_idx
  on public.leads ((lower(owner_last_name) collate "C"), (lower(owner_first_name) collate "C"), id);
create index if not exists leads_owner_first_prefix_idx
  on public.leads ((lower(owner_first_name) collate "C"));
create index if not exists leads_address_prefix_idx
  on public.leads ((lower(property_address) collate "C"));
create index if not exists leads_city_order_idx
  on public.leads ((lower(property_city) collate "C"), (lower(property_address) collate "C"), id);
create index if not exists leads_zip_idx on public.leads (property_zip);
-- A broker's own name search (the common one) reads only their rows.
create index if not exists leads_broker_last_name_idx
  on public.leads (assigned_broker_id, (lower(owner_last_name) collate "C"))
  where assigned_broker_id is not null;
-- The callable-now filter: leads in the states whose calling hours are open.
create index if not exists leads_state_idx on public.leads (property_state);
-- The list's default order (best score first), for ops over every lead and
-- for one broker (RLS adds assigned_broker_id = auth.uid() to each query).
create index if not exists leads_score_order_idx on public.leads (lead_score desc, id);
create index if not exists leads_created_order_idx on public.leads (created_at desc, id);
create index if not exists leads_broker_score_idx
  on public.leads (assigned_broker_id, lead_score desc, id)
  where assigned_broker_id is not null;

-- Status and consent filters, and the counts of their pages (index-only).
create index if not exists leads_status_score_idx
  on public.leads (campaign_status, lead_score desc, id);
create index if not exists leads_consent_idx
  on public.leads (lead_score desc, id) where consent;

-- The lead page's timeline reads each history table by lead.
create index if not exists upload_rows_lead_idx
  on public.upload_rows (lead_id) where lead_id is not null;
create index if not exists pipeline_events_lead_idx
  on public.pipeline_events (lead_id, occurred_at) where lead_id is not null;
create index if not exists inbound_events_lead_idx
  on public.inbound_events (lead_id) where lead_id is not null;
create index if not exists suppressions_lead_idx
  on public.suppressions (lead_id) where lead_id is not null;

-- A broker reads the history of their own leads, as the API does for them
-- (SET LOCAL ROLE authenticated): column grants leave out what is not theirs
-- to see (a rejected row's cells, a provider's raw answer, the suppression
-- list's blind indexes), and each policy admits only rows of a lead RLS lets
-- the broker see. Nothing here is writable by a broker.
grant select (upload_id, row_number, line_number, lead_id, status, match_key, notes)
  on table public.upload_rows to authenticated;
drop policy if exists broker_upload_rows_select on public.upload_rows;
create policy broker_upload_rows_select on public.upload_rows
  for select to authenticated
  using (exists (select 1 from public.leads l
                 where l.id = upload_rows.lead_id and l.assigned_broker_id = (select auth.uid())));

grant select (id, provider, lead_id, matched, created_at)
  on table public.skiptrace_requests to authenticated;
drop policy if exists broker_skiptrace_select on public.skiptrace_requests;
create policy broker_skiptrace_select on public.skiptrace_requests
  for select to authenticated
  using (exists (select 1 from public.leads l
                 where l.id = skiptrace_requests.lead_id
                   and l.assigned_broker_id = (select auth.uid())));

-- Contacts: the ciphertext is granted because the page decrypts it for the
-- owning broker in the application (the keys never reach the database); the
-- blind index is its associated data (the broker holds their leads' own
-- indexes on leads already).
grant select (id, lead_id, channel, value_ciphertext, value_index, provider, codes, verified, dnc, phone_type,
              score, created_at, updated_at)
  on table public.lead_contacts to authenticated;
drop policy if exists broker_contacts_select on public.lead_contacts;
create policy broker_contacts_select on public.lead_contacts
  for select to authenticated
  using (exists (select 1 from public.leads l
                 where l.id = lead_contacts.lead_id and l.assigned_broker_id = (select auth.uid())));

-- Pipeline events hold no PII by construction (ids, counts, codes).
grant select (id, occurred_at, stage, outcome, provider, lead_id, broker_id, correlation_id, detail)
  on table public.pipeline_events to authenticated;
drop policy if exists broker_events_select on public.pipeline_events;
create policy broker_events_select on public.pipeline_events
  for select to authenticated
  using (lead_id is not null
         and exists (select 1 from public.leads l
                     where l.id = pipeline_events.lead_id
                       and l.assigned_broker_id = (select auth.uid())));

-- A call's report (its summary): ciphertext, decrypted by the application.
grant select (id, provider, external_id, event_type, status, payload_ciphertext, lead_id,
              received_at)
  on table public.inbound_events to authenticated;
drop policy if exists broker_inbound_select on public.inbound_events;
create policy broker_inbound_select on public.inbound_events
  for select to authenticated
  using (exists (select 1 from public.leads l
                 where l.id = inbound_events.lead_id and l.assigned_broker_id = (select auth.uid())));

-- Suppressions of the broker's leads: reason and source, never the index.
grant select (id, channel, reason, source, lead_id, created_at)
  on table public.suppressions to authenticated;
drop policy if exists broker_suppressions_select on public.suppressions;
create policy broker_suppressions_select on public.suppressions
  for select to authenticated
  using (exists (select 1 from public.leads l
                 where l.id = suppressions.lead_id and l.assigned_broker_id = (select auth.uid())));

-- The feed batch that pushed a lead to the campaign.
grant select (id, business_date, status, lead_count, created_at, pushed_at)
  on table public.feed_batches to authenticated;
drop policy if exists broker_feed_batches_select on public.feed_batches;
create policy broker_feed_batches_select on public.feed_batches
  for select to authenticated
  using (exists (select 1 from public.leads l
                 where l.feed_batch_id = feed_batches.id
                   and l.assigned_broker_id = (select auth.uid())));

-- Audit rows about the broker's leads (row_id is text: the CASE keeps a
-- non-uuid row id, e.g. a dead letter's number, from failing the cast).
grant select (id, occurred_at, actor_role, actor_id, action, table_name, row_id, before, after)
  on table public.audit_log to authenticated;
drop policy if exists broker_audit_select on public.audit_log;
create policy broker_audit_select on public.audit_log
  for select to authenticated
  using (table_name = 'leads'
         and exists (select 1 from public.leads l
                     where l.id = case when audit_log.row_id ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
                                       then audit_log.row_id::uuid end
                       and l.assigned_broker_id = (select auth.uid())));

-- What each provider's verification code means: reference data, no PII.
grant select on table public.verification_code_map to authenticated;
drop policy if exists broker_code_map_select on public.verification_code_map;
create policy broker_code_map_select on public.verification_code_map
  for select to authenticated using (true);
