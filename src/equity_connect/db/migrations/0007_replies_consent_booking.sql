-- Replies, consent records, bookings and broker notifications.

alter table public.leads add column if not exists last_reply_intent text;
alter table public.consent_tokens add column if not exists purpose text not null default 'booking';

do $$
begin
  if to_regtype('public.consent_method') is null then
    create type public.consent_method as enum ('web_click', 'voice_call', 'email_reply');
  end if;
  if to_regtype('public.booking_status') is null then
    create type public.booking_status as enum ('accepted', 'rescheduled', 'cancelled');
  end if;
  if to_regtype('public.notification_status') is null then
    create type public.notification_status as enum ('pending', 'sent', 'failed');
  end if;
end
$$;

-- The auditable consent record (prior express written consent evidence):
-- who, when, how, which disclosure text, from where. Append-only.
create table if not exists public.consent_records (
  id                 bigint generated always as identity primary key,
  lead_id            uuid not null references public.leads (id) on delete cascade,
  broker_id          uuid references public.brokers (id) on delete set null,
  token_id           uuid references public.consent_tokens (id) on delete set null,
  method             public.consent_method not null,
  disclosure_version text not null,
  source_ip          text,
  user_agent         text,
  call_id            text,
  consented_at       timestamptz not null default clock_timestamp()
);
create index if not exists consent_records_lead_idx on public.consent_records (lead_id);

create or replace function public.consent_records_append_only() returns trigger
  language plpgsql
  set search_path = ''
as $$
begin
  raise exception 'consent records are append-only'
    using errcode = 'insufficient_privilege';
end
$$;
drop trigger if exists trg_consent_records_append_only on public.consent_records;
create trigger trg_consent_records_append_only before update or delete on public.consent_records
  for each row execute function public.consent_records_append_only();

create table if not exists public.bookings (
  id                 uuid primary key default gen_random_uuid(),
  lead_id            uuid not null references public.leads (id) on delete cascade,
  broker_id          uuid references public.brokers (id) on delete set null,
  calcom_uid         text not null,
  calcom_booking_id  bigint,
  status             public.booking_status not null,
  start_time         timestamptz,
  end_time           timestamptz,
  event_type         text,
  rescheduled_from   text,
  created_at         timestamptz not null default now(),
  updated_at         timestamptz not null default now(),
  constraint bookings_calcom_uid_key unique (calcom_uid)
);
create index if not exists bookings_lead_idx on public.bookings (lead_id);
drop trigger if exists trg_bookings_updated_at on public.bookings;
create trigger trg_bookings_updated_at before update on public.bookings
  for each row execute function public.set_updated_at();

create table if not exists public.notifications (
  id          bigint generated always as identity primary key,
  broker_id   uuid not null references public.brokers (id) on delete cascade,
  lead_id     uuid references public.leads (id) on delete set null,
  kind        text not null,
  status      public.notification_status not null default 'pending',
  dedupe_key  text not null,
  created_at  timestamptz not null default now(),
  sent_at     timestamptz,
  error       text,
  constraint notifications_dedupe_key unique (dedupe_key)
);

select ec_internal.pipeline_only(t)
from unnest(array['consent_records', 'bookings', 'notifications']) as t;

-- Brokers see their own leads' consent records and bookings (never delete them).
grant select on table public.consent_records, public.bookings to authenticated;
drop policy if exists broker_consent_select on public.consent_records;
create policy broker_consent_select on public.consent_records
  for select to authenticated
  using (exists (select 1 from public.leads l
                 where l.id = lead_id and l.assigned_broker_id = (select auth.uid())));
drop policy if exists broker_bookings_select on public.bookings;
create policy broker_bookings_select on public.bookings
  for select to authenticated
  using (exists (select 1 from public.leads l
                 where l.id = lead_id and l.assigned_broker_id = (select auth.uid())));
