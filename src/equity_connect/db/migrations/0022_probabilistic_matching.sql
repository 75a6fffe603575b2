-- Probabilistic property matching (equity_connect.matching), second pass of
-- the ingest's dedupe after the exact cascade.

-- A row joined to a lead by match weights, not by an exact key.
alter type public.match_key add value if not exists 'probabilistic';

-- What a probabilistic match rested on: its score, the weights' version,
-- each compared field's level, and which fields agreed and differed.
alter table public.upload_rows add column if not exists match_evidence jsonb;

-- Pairs scored between the review and merge thresholds: not merged, kept
-- for an ops decision. lead_id is the lead the row became; other_lead_id
-- the lead it may be. A decision holds for the pair of leads, so a later
-- upload neither re-asks nor undoes it.
create table if not exists public.match_reviews (
  id            bigint generated always as identity primary key,
  created_at    timestamptz not null default now(),
  -- no FK, as upload_rows' lineage: a review outlives a truncated upload log
  upload_id     uuid not null,
  row_number    integer not null,
  -- no FKs: a "merged" decision outlives the lead it folded away
  lead_id       uuid not null,
  other_lead_id uuid not null,
  score         double precision not null,
  evidence      jsonb not null,
  status        text not null default 'pending',
  decided_at    timestamptz,
  decided_by    text,
  constraint match_reviews_status_check check (status in ('pending', 'merged', 'apart')),
  constraint match_reviews_distinct_check check (lead_id <> other_lead_id),
  constraint match_reviews_pair_key unique (lead_id, other_lead_id)
);
create index if not exists match_reviews_pending_idx on public.match_reviews (created_at)
  where status = 'pending';
create index if not exists match_reviews_other_idx on public.match_reviews (other_lead_id);
select ec_internal.pipeline_only('match_reviews');

-- Blocking keys against existing leads (ingest/queries.sql unplaced_leads):
-- ZIP + house number, ZIP + street prefix (a transposed number), ZIP + owner
-- surname (a transposed number on a misspelled street), and city + state +
-- house number (a row or a lead without a ZIP).
create index if not exists leads_block_zip_number_idx
  on public.leads (property_zip, (split_part(property_address, ' ', 1)))
  where property_zip is not null;
create index if not exists leads_block_zip_street_idx
  on public.leads (property_zip, (left(split_part(property_address, ' ', 2), 4)))
  where property_zip is not null;
create index if not exists leads_block_zip_surname_idx
  on public.leads (property_zip, (upper(trim(split_part(owner_last_name, ',', 1)))))
  where property_zip is not null;
create index if not exists leads_block_city_number_idx
  on public.leads (property_city, property_state, (split_part(property_address, ' ', 1)));

-- The suppression half of ec_internal.phone_contact_forbidden (0015) as a
-- yes/no a broker's page may ask about its own lead's indexes: the number in
-- the suppression set for any reason, or the e-mail there for an opt-out.
-- Brokers cannot read suppressions (RLS), and the answer reveals nothing but
-- this one bit about values they already hold; hence SECURITY DEFINER, with
-- a pinned search_path, outside the exposed schema.
create or replace function ec_internal.phone_suppressed(p_phone_index bytea, p_email_index bytea)
  returns boolean
  language sql stable security definer
  set search_path = ''
as $$
  select exists (
    select 1 from public.suppressions s
    where (s.channel = 'phone' and s.value_index = p_phone_index)
       or (s.channel = 'email' and s.value_index = p_email_index and s.reason <> 'bounced')
  )
$$;
revoke all on function ec_internal.phone_suppressed(bytea, bytea) from public, anon, authenticated;
grant execute on function ec_internal.phone_suppressed(bytea, bytea)
  to authenticated, service_role, pipeline_writer;
