-- The job queue, shared rate limits, skip-trace request log, contacts found
-- by skip-trace, and the verification code map's first version.
--
-- The queue is our own rather than procrastinate's: it lives in these
-- migrations (one schema story on Supabase and plain Postgres), a job is a
-- row inserted in the caller's transaction (enqueue-with-the-write for
-- free), and dead jobs land in the plan's pipeline_dlq. Claiming uses
-- FOR UPDATE SKIP LOCKED; a lease (locked_until, extended by a heartbeat)
-- brings back jobs of a worker that died.

do $$
begin
  if to_regtype('public.job_status') is null then
    create type public.job_status as enum ('queued', 'running', 'succeeded', 'dead');
  end if;
end
$$;

create table if not exists public.jobs (
  id              bigint generated always as identity primary key,
  task            text not null,
  args            jsonb not null default '{}'::jsonb,
  queue           text not null default 'default',
  status          public.job_status not null default 'queued',
  priority        integer not null default 0,
  run_at          timestamptz not null default now(),
  attempts        integer not null default 0,
  max_attempts    integer not null default 8,
  -- at most one live job per key (e.g. one schedule run per business day)
  idempotency_key text,
  locked_by       text,
  locked_until    timestamptz,
  last_error      text,
  created_at      timestamptz not null default now(),
  started_at      timestamptz,
  finished_at     timestamptz,
  constraint jobs_attempts_check check (attempts >= 0 and max_attempts > 0),
  constraint jobs_task_check check (task ~ '^[a-z_]+\.[a-z_]+$')
);
create unique index if not exists jobs_idempotency_key
  on public.jobs (task, idempotency_key) where idempotency_key is not null;
create index if not exists jobs_ready_idx
  on public.jobs (queue, priority desc, run_at, id) where status = 'queued';
create index if not exists jobs_lease_idx
  on public.jobs (locked_until) where status = 'running';

-- Worker liveness, for /readyz and to tell a stalled job from a slow one.
create table if not exists public.workers (
  id           text primary key,
  hostname     text not null,
  pid          integer not null,
  started_at   timestamptz not null default now(),
  last_seen_at timestamptz not null default now()
);

-- A token bucket per provider, shared by every worker on every machine: the
-- row lock serializes takers, so together they stay under the rate.
create table if not exists public.rate_limits (
  provider       text primary key,
  capacity       double precision not null,
  refill_per_sec double precision not null,
  tokens         double precision not null,
  updated_at     timestamptz not null default clock_timestamp(),
  constraint rate_limits_positive check (capacity > 0 and refill_per_sec > 0 and tokens <= capacity)
);

-- One row per provider call, keyed by an idempotency key derived from
-- provider × property: a retried or replayed job finds the stored answer and
-- never asks the provider twice. The response holds PII: ciphertext only.
create table if not exists public.skiptrace_requests (
  id                  bigint generated always as identity primary key,
  provider            text not null,
  idempotency_key     text not null,
  lead_id             uuid not null,
  matched             boolean,
  response_ciphertext bytea,
  created_at          timestamptz not null default now(),
  constraint skiptrace_requests_key unique (provider, idempotency_key)
);
create index if not exists skiptrace_requests_lead_idx on public.skiptrace_requests (lead_id);

-- Every phone and email a provider returned for a lead, verified or not.
create table if not exists public.lead_contacts (
  id              bigint generated always as identity primary key,
  lead_id         uuid not null references public.leads (id) on delete cascade,
  channel         public.contact_channel not null,
  value_ciphertext bytea not null,
  value_index     bytea not null,
  provider        text not null,
  codes           text[] not null default '{}',
  verified        boolean not null default false,
  dnc             boolean not null default false,
  phone_type      text,
  score           integer,
  created_at      timestamptz not null default now(),
  updated_at      timestamptz not null default now(),
  constraint lead_contacts_value_key unique (lead_id, channel, value_index)
);
create index if not exists lead_contacts_index_idx on public.lead_contacts (channel, value_index);

alter table public.leads add column if not exists enrichment_attempted_at timestamptz;

-- Verification codes, version 1. Melissa: AS/ES/EE/PS/PE result codes
-- (provider-formats.md §1; ES02/ES03 are UNVERIFIED there, so only ES01
-- verifies). BatchData has no codes; its phone flags map to pseudo-codes
-- (reachable / unreachable / untested) so one table explains every flag.
insert into public.verification_code_map (provider, channel, code, version, is_verified, description)
values
  ('melissa', 'email', 'ES01', 1, true,  'valid email'),
  ('melissa', 'email', 'ES02', 1, false, 'invalid email (unverified meaning)'),
  ('melissa', 'email', 'ES03', 1, false, 'unknown email (unverified meaning)'),
  ('melissa', 'email', 'EE01', 1, false, 'syntax error'),
  ('melissa', 'email', 'EE02', 1, false, 'domain not found'),
  ('melissa', 'email', 'EE03', 1, false, 'mail server not found'),
  ('melissa', 'email', 'EE04', 1, false, 'invalid mailbox'),
  ('melissa', 'phone', 'PS01', 1, true,  'valid phone'),
  ('melissa', 'phone', 'PS02', 1, false, '7-digit match only'),
  ('melissa', 'phone', 'PS03', 1, true,  'corrected area code'),
  ('melissa', 'phone', 'PS07', 1, true,  'cellular line'),
  ('melissa', 'phone', 'PS08', 1, true,  'land line'),
  ('melissa', 'phone', 'PE01', 1, false, 'invalid phone'),
  ('melissa', 'phone', 'PE02', 1, false, 'blank phone'),
  ('melissa', 'phone', 'PE03', 1, false, 'wrong digit count'),
  ('melissa', 'phone', 'PE04', 1, false, 'multiple matches'),
  ('melissa', 'phone', 'PE05', 1, false, 'bad prefix'),
  ('batchdata', 'phone', 'reachable',   1, true,  'tested and reachable'),
  ('batchdata', 'phone', 'unreachable', 1, false, 'tested, not reachable'),
  ('batchdata', 'phone', 'untested',    1, false, 'not tested'),
  ('batchdata', 'email', 'returned',    1, false, 'returned without verification')
on conflict on constraint verification_code_map_pkey do nothing;

-- The offline simulator answers in Melissa's codes.
insert into public.verification_code_map (provider, channel, code, version, is_verified, description)
select 'simulator', channel, code, version, is_verified, 'simulated: ' || description
from public.verification_code_map where provider = 'melissa'
on conflict on constraint verification_code_map_pkey do nothing;

select ec_internal.pipeline_only(t)
from unnest(array['jobs', 'workers', 'rate_limits', 'skiptrace_requests', 'lead_contacts']) as t;
