-- The plan's schema, corrected. Where this differs from
-- seed/production-plan.md the comment beside it says why.
--
-- Not created: the pgcrypto extension. gen_random_uuid() is core since
-- PostgreSQL 13, and PII is encrypted in the application (DESIGN.md), so
-- no key ever travels to the server in SQL text.

-- Enums. CREATE TYPE has no IF NOT EXISTS, hence the guards.
do $$
begin
  if to_regtype('public.campaign_status') is null then
    create type public.campaign_status as enum (
      'new', 'queued', 'active', 'replied', 'paused',
      'unsubscribed', 'bounced', 'do_not_contact', 'converted'
    );
  end if;
  if to_regtype('public.upload_status') is null then
    create type public.upload_status as enum ('received', 'processing', 'completed', 'failed');
  end if;
  if to_regtype('public.upload_row_status') is null then
    create type public.upload_row_status as enum ('inserted', 'merged', 'rejected');
  end if;
  if to_regtype('public.match_key') is null then
    create type public.match_key as enum ('mak', 'apn', 'addr_hash');
  end if;
  if to_regtype('public.signature_scheme') is null then
    -- 'local' marks an ingest run from the CLI on a trusted machine (no HTTP).
    create type public.signature_scheme as enum ('standard_webhooks', 'plan_hmac', 'local');
  end if;
  if to_regtype('public.contact_channel') is null then
    create type public.contact_channel as enum ('email', 'phone');
  end if;
  if to_regtype('public.suppression_reason') is null then
    create type public.suppression_reason as enum (
      'unsubscribed', 'bounced', 'do_not_contact', 'dnc', 'wrong_contact', 'opt_out'
    );
  end if;
  if to_regtype('public.inbound_provider') is null then
    create type public.inbound_provider as enum ('instantly', 'vapi', 'calcom');
  end if;
  if to_regtype('public.inbound_status') is null then
    create type public.inbound_status as enum ('received', 'processed', 'ignored', 'failed');
  end if;
  if to_regtype('public.dlq_status') is null then
    create type public.dlq_status as enum ('pending', 'replayed', 'discarded');
  end if;
end
$$;

create or replace function public.set_updated_at() returns trigger
  language plpgsql
  set search_path = ''
as $$
begin
  new.updated_at := now();
  return new;
end
$$;

-- jsonb || over rows, in the aggregate's ORDER BY: later objects' keys win.
-- Used to merge the unknown CSV columns kept in leads.raw.
do $$
begin
  if to_regprocedure('public.jsonb_merge_agg(jsonb)') is null then
    create aggregate public.jsonb_merge_agg(jsonb) (
      sfunc = jsonb_concat, stype = jsonb, initcond = '{}'
    );
  end if;
end
$$;

-- Brokers (loan officers). id is the Supabase auth user id, so auth.uid()
-- of a broker's JWT equals brokers.id.
create table if not exists public.brokers (
  id               uuid primary key default gen_random_uuid(),
  name             text not null,
  email            text not null,
  active           boolean not null default true,
  daily_capacity   integer not null default 50,
  calcom_event_url text,
  notify_webhook_url text,
  created_at       timestamptz not null default now(),
  updated_at       timestamptz not null default now(),
  constraint brokers_daily_capacity_check check (daily_capacity >= 0),
  constraint brokers_name_check check (length(btrim(name)) > 0)
);
create unique index if not exists brokers_email_key on public.brokers (lower(email));
drop trigger if exists trg_brokers_updated_at on public.brokers;
create trigger trg_brokers_updated_at before update on public.brokers
  for each row execute function public.set_updated_at();

-- One row per distinct uploaded body: the SHA-256 is the upload's identity.
create table if not exists public.uploads (
  id               uuid primary key default gen_random_uuid(),
  sha256           bytea not null,
  source           text,
  filename         text,
  byte_size        bigint not null,
  signature_scheme public.signature_scheme not null,
  status           public.upload_status not null default 'received',
  row_count        integer not null default 0,
  inserted_count   integer not null default 0,
  merged_count     integer not null default 0,
  rejected_count   integer not null default 0,
  error            text,
  received_at      timestamptz not null default now(),
  completed_at     timestamptz,
  updated_at       timestamptz not null default now(),
  constraint uploads_sha256_key unique (sha256),
  constraint uploads_sha256_length check (octet_length(sha256) = 32),
  constraint uploads_counts_check check (
    row_count >= 0 and inserted_count >= 0 and merged_count >= 0 and rejected_count >= 0
    and inserted_count + merged_count + rejected_count <= row_count
  )
);
drop trigger if exists trg_uploads_updated_at on public.uploads;
create trigger trg_uploads_updated_at before update on public.uploads
  for each row execute function public.set_updated_at();

-- The plan's replay guard: any signed body (upload or webhook) is accepted
-- once. bytea rather than the plan's hex text: half the size in the index.
create table if not exists public.ingest_replay_guard (
  content_sha256 bytea primary key,
  source         text not null,
  received_at    timestamptz not null default now(),
  constraint ingest_replay_guard_sha256_length check (octet_length(content_sha256) = 32)
);

create table if not exists public.leads (
  id                 uuid primary key default gen_random_uuid(),
  -- identity keys, in dedupe order: MAK, then county + APN, then address hash
  mak                text,
  county_fips        text,
  apn                text,
  apn_normalized     text,
  addr_hash          bytea,
  -- owner and property (public-record data, kept in clear for search and routing)
  owner_first_name   text,
  owner_last_name    text,
  owner_age          integer,
  property_address   text,
  property_unit      text,
  property_city      text,
  property_state     text,
  property_zip       text,
  estimated_value    bigint,
  estimated_equity   bigint,
  year_built         integer,
  source             text,
  -- no FK: a foreign key is a per-row trigger on every million-row ingest,
  -- and lineage (upload_rows) already ties each lead to its uploads
  first_upload_id    uuid,
  raw                jsonb not null default '{}'::jsonb,
  -- contact PII: AES-256-GCM envelope ciphertext plus an HMAC blind index
  -- (never plaintext, never a plain SHA-256: see security/crypto.py)
  email_ciphertext   bytea,
  email_index        bytea,
  phone_ciphertext   bytea,
  phone_index        bytea,
  -- verification (the plan's columns) and enrichment
  email_verified     boolean not null default false,
  phone_verified     boolean not null default false,
  phone_dnc          boolean not null default false,
  email_verification_codes text[] not null default '{}',
  phone_verification_codes text[] not null default '{}',
  skiptrace_payload  jsonb not null default '{}'::jsonb,
  enriched_at        timestamptz,
  -- scoring
  lead_score         integer not null default 0,
  score_breakdown    jsonb not null default '{}'::jsonb,
  -- campaign
  campaign_status    public.campaign_status not null default 'new',
  campaign_id        text,
  added_to_campaign_at timestamptz,
  current_sequence_step integer not null default 0,
  last_reply_at      timestamptz,
  assigned_broker_id uuid,
  -- consent
  consent            boolean not null default false,
  consented_at       timestamptz,
  consent_method     text,
  -- calls
  vapi_call_id       text,
  call_attempt_count integer not null default 0,
  created_at         timestamptz not null default now(),
  updated_at         timestamptz not null default now(),
  constraint lead_score_range check (lead_score between 0 and 100),
  constraint consent_requires_timestamp check (consent = false or consented_at is not null),
  constraint leads_call_attempt_count_check check (call_attempt_count >= 0),
  constraint leads_current_sequence_step_check check (current_sequence_step >= 0),
  constraint leads_county_fips_check check (county_fips ~ '^[0-9]{5}$'),
  constraint leads_property_state_check check (property_state ~ '^[A-Z]{2}$'),
  constraint leads_property_zip_check check (property_zip ~ '^[0-9]{5}$'),
  constraint leads_addr_hash_length check (octet_length(addr_hash) = 32),
  constraint leads_owner_age_check check (owner_age between 0 and 130),
  constraint leads_email_pair_check check ((email_ciphertext is null) = (email_index is null)),
  constraint leads_phone_pair_check check ((phone_ciphertext is null) = (phone_index is null))
);

-- The plan's ADD CONSTRAINT IF NOT EXISTS is not PostgreSQL; an FK added
-- after the fact (e.g. on a database that had leads before brokers) is
-- guarded by its name instead.
do $$
begin
  if not exists (
    select 1 from pg_constraint
    where conname = 'leads_broker_fk' and conrelid = 'public.leads'::regclass
  ) then
    alter table public.leads
      add constraint leads_broker_fk foreign key (assigned_broker_id)
      references public.brokers (id) on delete set null;
  end if;
end
$$;

-- NULL-safe identity: partial unique indexes, so any number of leads may
-- lack a key while no two may share one. APN is unique per county, not
-- nationally (the plan keyed it alone).
create unique index if not exists leads_mak_key
  on public.leads (mak) where mak is not null;
create unique index if not exists leads_county_apn_key
  on public.leads (county_fips, apn_normalized)
  where county_fips is not null and apn_normalized is not null;
create unique index if not exists leads_addr_hash_key
  on public.leads (addr_hash) where addr_hash is not null;

-- The plan's hot paths, as partial indexes. Its two wide composite indexes
-- (leads_active_phone_idx, leads_last_reply_idx) are left out: these
-- partial ones serve the same queries, and every index on leads is paid
-- for by every row of every million-row ingest.
create index if not exists leads_feed_hot_idx
  on public.leads (added_to_campaign_at, lead_score desc)
  where campaign_status in ('queued', 'active') and phone_verified is true;
create index if not exists leads_replied_lookup_idx
  on public.leads (last_reply_at desc)
  where campaign_status = 'replied';
-- RLS filters every broker query on this column.
create index if not exists leads_assigned_broker_idx
  on public.leads (assigned_broker_id, created_at desc)
  where assigned_broker_id is not null;
-- Blind-index lookups: suppression checks, booking and reply matching.
create index if not exists leads_email_index_idx
  on public.leads (email_index) where email_index is not null;
create index if not exists leads_phone_index_idx
  on public.leads (phone_index) where phone_index is not null;
create index if not exists leads_first_upload_idx
  on public.leads (first_upload_id) where first_upload_id is not null;

-- added_to_campaign_at: stamped on the first transition to 'active' and
-- never cleared afterwards (the plan's trigger stamped it but let a later
-- UPDATE null it, losing when the lead was first fed). The INSERT trigger
-- has a WHEN clause so bulk ingest (always 'new') pays no trigger call.
create or replace function public.leads_before_write() returns trigger
  language plpgsql
  set search_path = ''
as $$
begin
  if tg_op = 'UPDATE' then
    new.updated_at := now();
    new.added_to_campaign_at := coalesce(new.added_to_campaign_at, old.added_to_campaign_at);
    if new.campaign_status = 'active' and old.campaign_status is distinct from 'active' then
      new.added_to_campaign_at := coalesce(new.added_to_campaign_at, now());
    end if;
  elsif new.campaign_status = 'active' then
    new.added_to_campaign_at := coalesce(new.added_to_campaign_at, now());
  end if;
  return new;
end
$$;

-- The plan's trigger name, kept so its DROP TRIGGER IF EXISTS still finds it.
drop trigger if exists trg_set_added_to_campaign_at on public.leads;
create trigger trg_set_added_to_campaign_at before update on public.leads
  for each row execute function public.leads_before_write();
drop trigger if exists trg_leads_insert_active on public.leads;
create trigger trg_leads_insert_active before insert on public.leads
  for each row when (new.campaign_status = 'active')
  execute function public.leads_before_write();

-- Lineage: every data row of every upload, with what became of it.
create table if not exists public.upload_rows (
  upload_id      uuid not null references public.uploads (id) on delete cascade,
  row_number     integer not null,
  line_number    integer,
  -- no FK, for the same per-row cost; lineage outlives a deleted lead
  lead_id        uuid,
  status         public.upload_row_status not null,
  match_key      public.match_key,
  field          text,
  reason         text,
  -- non-fatal findings on an accepted row, e.g. an invalid email dropped
  notes          text,
  -- a rejected row's original cells, encrypted (they may hold PII), so an
  -- operator can see and replay it
  raw_ciphertext bytea,
  constraint upload_rows_pkey primary key (upload_id, row_number),
  constraint upload_rows_row_number_check check (row_number > 0),
  constraint upload_rows_reason_check check ((status = 'rejected') = (reason is not null)),
  constraint upload_rows_match_key_check check (status = 'merged' or match_key is null)
);

-- The plan's staging table, with PII as ciphertext + blind index instead of
-- plaintext: staging is storage too. UNLOGGED because it is scratch space
-- re-creatable from the upload; WAL for it would double the ingest's writes.
--
-- Each ingest stages into a temporary table shaped LIKE this one: private to
-- its transaction (concurrent uploads never contend, a crash leaves nothing
-- to clean up) and free of WAL. This table is the shape, and a place for
-- tools that want to stage outside an ingest transaction.
create unlogged table if not exists public.leads_staging (
  upload_id        uuid not null,
  row_number       integer not null,
  line_number      integer,
  -- the id the row's lead gets if the row creates one; PII ciphertexts are
  -- bound to it (associated data) before the merge decides
  lead_hint        uuid not null,
  mak              text,
  county_fips      text,
  apn              text,
  apn_normalized   text,
  addr_hash        bytea,
  owner_first_name text,
  owner_last_name  text,
  owner_age        integer,
  property_address text,
  property_unit    text,
  property_city    text,
  property_state   text,
  property_zip     text,
  estimated_value  bigint,
  estimated_equity bigint,
  year_built       integer,
  source           text,
  email_ciphertext bytea,
  email_index      bytea,
  phone_ciphertext bytea,
  phone_index      bytea,
  raw              jsonb,
  notes            text,
  loaded_at        timestamptz not null default now()
);
create index if not exists leads_staging_upload_idx on public.leads_staging (upload_id, row_number);

-- Funnel and operations events. No PII by construction: ids, counts, codes.
create table if not exists public.pipeline_events (
  id             bigint generated always as identity primary key,
  occurred_at    timestamptz not null default now(),
  stage          text not null,
  outcome        text not null,
  count          integer not null default 1,
  duration_ms    double precision,
  provider       text,
  status_code    integer,
  upload_id      uuid,
  lead_id        uuid,
  broker_id      uuid,
  correlation_id text,
  detail         jsonb not null default '{}'::jsonb,
  constraint pipeline_events_count_check check (count >= 0)
);
create index if not exists pipeline_events_stage_time_idx
  on public.pipeline_events (stage, occurred_at);
create index if not exists pipeline_events_upload_idx
  on public.pipeline_events (upload_id) where upload_id is not null;

-- The plan's DLQ, plus what replay needs: attempts, last error, status.
create table if not exists public.pipeline_dlq (
  id          bigint generated always as identity primary key,
  source      text not null,
  payload     jsonb not null,
  reason      text,
  retry_after timestamptz,
  attempts    integer not null default 0,
  status      public.dlq_status not null default 'pending',
  replayed_at timestamptz,
  created_at  timestamptz not null default now()
);
create index if not exists pipeline_dlq_pending_idx
  on public.pipeline_dlq (created_at) where status = 'pending';

-- Consent tokens: only a hash of the nonce is stored; single use; expiring;
-- bound to lead and broker.
create table if not exists public.consent_tokens (
  id         uuid primary key default gen_random_uuid(),
  lead_id    uuid not null references public.leads (id) on delete cascade,
  broker_id  uuid references public.brokers (id) on delete set null,
  nonce_hash bytea not null,
  created_at timestamptz not null default now(),
  expires_at timestamptz not null,
  used_at    timestamptz,
  constraint consent_tokens_nonce_hash_key unique (nonce_hash),
  constraint consent_tokens_expiry_check check (expires_at > created_at),
  constraint consent_tokens_used_check check (used_at is null or used_at >= created_at)
);
create index if not exists consent_tokens_lead_idx on public.consent_tokens (lead_id);

-- Provider result codes → verified or not, versioned: re-deriving flags
-- after a mapping change reads the newest version of each code.
create table if not exists public.verification_code_map (
  provider    text not null,
  channel     public.contact_channel not null,
  code        text not null,
  version     integer not null default 1,
  is_verified boolean not null,
  description text,
  created_at  timestamptz not null default now(),
  constraint verification_code_map_pkey primary key (provider, channel, code, version),
  constraint verification_code_map_version_check check (version > 0)
);

-- Webhooks are stored first and processed later. The body is PII (emails,
-- phone numbers, transcripts), so only its ciphertext is kept.
create table if not exists public.inbound_events (
  id                 uuid primary key default gen_random_uuid(),
  provider           public.inbound_provider not null,
  external_id        text not null,
  event_type         text not null,
  status             public.inbound_status not null default 'received',
  payload_ciphertext bytea not null,
  lead_id            uuid references public.leads (id) on delete set null,
  error              text,
  received_at        timestamptz not null default now(),
  processed_at       timestamptz,
  constraint inbound_events_provider_external_id_key unique (provider, external_id)
);

-- Suppression is keyed by blind index, not lead id, so it outlives the lead:
-- a re-imported opted-out owner stays suppressed.
create table if not exists public.suppressions (
  id          bigint generated always as identity primary key,
  channel     public.contact_channel not null,
  value_index bytea not null,
  reason      public.suppression_reason not null,
  source      text not null,
  lead_id     uuid references public.leads (id) on delete set null,
  created_at  timestamptz not null default now(),
  constraint suppressions_channel_value_key unique (channel, value_index)
);

-- Rejected requests (bad signatures, oversize bodies): what was refused and
-- why, without the body or any secret.
create table if not exists public.security_events (
  id          bigint generated always as identity primary key,
  occurred_at timestamptz not null default now(),
  kind        text not null,
  code        text not null,
  remote_addr text,
  detail      jsonb not null default '{}'::jsonb
);
create index if not exists security_events_time_idx on public.security_events (occurred_at);
