-- The daily feed: the cap per business day, feed batches, scheduled runs.

alter table public.brokers add column if not exists instantly_campaign_id text;

alter table public.leads add column if not exists feed_batch_id uuid;
alter table public.leads add column if not exists fed_on date;

-- One row per business day. The feeder locks it (SELECT … FOR UPDATE) and
-- adds to fed_count in the same transaction as it reserves leads, so any
-- number of concurrent runs together never pass the cap; the CHECK makes a
-- bug that tried fail loudly instead of over-sending.
create table if not exists public.feed_days (
  business_date date primary key,
  cap           integer not null,
  fed_count     integer not null default 0,
  updated_at    timestamptz not null default now(),
  constraint feed_days_cap_check check (cap >= 0 and fed_count >= 0 and fed_count <= cap)
);

do $$
begin
  if to_regtype('public.feed_batch_status') is null then
    create type public.feed_batch_status as enum ('reserved', 'pushed', 'failed');
  end if;
end
$$;

-- Leads reserved by one feeder run, pushed to the campaign provider by a job.
create table if not exists public.feed_batches (
  id            uuid primary key default gen_random_uuid(),
  business_date date not null references public.feed_days (business_date),
  status        public.feed_batch_status not null default 'reserved',
  lead_count    integer not null,
  created_at    timestamptz not null default now(),
  pushed_at     timestamptz,
  detail        jsonb not null default '{}'::jsonb
);

create index if not exists leads_feed_batch_idx on public.leads (feed_batch_id)
  where feed_batch_id is not null;

-- Every scheduled run: when it ran, how it ended, what it counted.
create table if not exists public.job_runs (
  id            bigint generated always as identity primary key,
  job_name      text not null,
  business_date date not null,
  started_at    timestamptz not null default clock_timestamp(),
  finished_at   timestamptz,
  outcome       text,
  counts        jsonb not null default '{}'::jsonb,
  error         text,
  constraint job_runs_outcome_check
    check (outcome is null or outcome in ('ok', 'skipped: locked', 'failed'))
);
create index if not exists job_runs_name_date_idx on public.job_runs (job_name, business_date);

select ec_internal.pipeline_only(t)
from unnest(array['feed_days', 'feed_batches', 'job_runs']) as t;
