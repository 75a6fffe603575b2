-- Signed outbound events (issue 16): endpoints subscribe to event types; an
-- event is recorded in the transaction of the change that causes it, with one
-- delivery (and one job "events.deliver_event") per subscribed endpoint.
--
-- Events are emitted by triggers on the rows every domain already writes
-- (pipeline_events, pipeline_dlq, uploads, leads, bookings, consent_records),
-- so no domain's Python had to learn about webhooks, and no path that writes
-- one of those rows can forget to emit. Payloads are built here from ids and
-- non-PII facts only; PII is added at send time, decrypted in the application,
-- and only for an endpoint allowed it (events/sender.py).

create table if not exists public.event_endpoints (
  id                   uuid primary key,
  url                  text not null,
  description          text,
  event_types          text[] not null,
  -- the whsec_ signing key, encrypted with the PII cipher (bound to this row)
  secret_ciphertext    bytea not null,
  allow_pii            boolean not null default false,
  enabled              boolean not null default true,
  -- the circuit breaker: consecutive failed attempts, and until when it is open
  consecutive_failures integer not null default 0,
  breaker_open_until   timestamptz,
  created_at           timestamptz not null default now(),
  updated_at           timestamptz not null default now(),
  constraint event_endpoints_types_check check (
    cardinality(event_types) > 0
    and event_types <@ array['upload.completed', 'lead.replied', 'lead.interested',
                             'lead.unsubscribed', 'consent.recorded', 'lead.booked',
                             'booking.cancelled', 'dlq.added']::text[]
  ),
  constraint event_endpoints_failures_check check (consecutive_failures >= 0)
);
create index if not exists event_endpoints_types_idx
  on public.event_endpoints using gin (event_types) where enabled;

create table if not exists public.outbound_events (
  id          uuid primary key default gen_random_uuid(),
  event_type  text not null,
  occurred_at timestamptz not null default clock_timestamp(),
  lead_id     uuid,
  upload_id   uuid,
  -- ids and non-PII facts only (see the header)
  data        jsonb not null default '{}'::jsonb
);
create index if not exists outbound_events_time_idx on public.outbound_events (occurred_at);

do $$
begin
  if to_regtype('public.event_delivery_status') is null then
    create type public.event_delivery_status as enum ('pending', 'delivered', 'failed');
  end if;
end
$$;

create table if not exists public.event_deliveries (
  id              bigint generated always as identity primary key,
  event_id        uuid not null references public.outbound_events (id) on delete cascade,
  endpoint_id     uuid not null references public.event_endpoints (id) on delete cascade,
  status          public.event_delivery_status not null default 'pending',
  attempts        integer not null default 0,
  last_status_code integer,
  last_error      text,
  -- when the next attempt is due (a job is queued for it); null: due now
  next_attempt_at timestamptz,
  -- a sender holds the delivery until then (one attempt in flight at a time)
  locked_until    timestamptz,
  delivered_at    timestamptz,
  replays         integer not null default 0,
  created_at      timestamptz not null default now(),
  constraint event_deliveries_event_endpoint_key unique (event_id, endpoint_id),
  constraint event_deliveries_attempts_check check (attempts >= 0 and replays >= 0)
);
create index if not exists event_deliveries_endpoint_idx
  on public.event_deliveries (endpoint_id, id desc);

-- The delivery log: one row per HTTP attempt (or deferral by an open breaker).
create table if not exists public.event_delivery_attempts (
  id          bigint generated always as identity primary key,
  delivery_id bigint not null references public.event_deliveries (id) on delete cascade,
  -- a replay starts a new round of attempts (event_deliveries.replays)
  round       integer not null default 0,
  attempt     integer not null,
  outcome     text not null,
  status_code integer,
  error       text,
  duration_ms double precision,
  attempted_at timestamptz not null default clock_timestamp(),
  constraint event_delivery_attempts_outcome_check
    check (outcome in ('delivered', 'retry', 'failed'))
);
create index if not exists event_delivery_attempts_delivery_idx
  on public.event_delivery_attempts (delivery_id, id);

select ec_internal.pipeline_only(t)
from unnest(array['event_endpoints', 'outbound_events', 'event_deliveries',
                  'event_delivery_attempts']) as t;

-- Record an event for every enabled endpoint subscribed to its type, and
-- queue one delivery job each. Nothing is recorded when nobody listens.
create or replace function ec_internal.emit_outbound_event(
  p_type text, p_lead uuid, p_upload uuid, p_data jsonb
) returns void
  language plpgsql
  set search_path = ''
as $$
declare
  v_event uuid;
begin
  if not exists (
    select 1 from public.event_endpoints e where e.enabled and p_type = any (e.event_types)
  ) then
    return;
  end if;
  insert into public.outbound_events (event_type, lead_id, upload_id, data)
  values (p_type, p_lead, p_upload, jsonb_strip_nulls(p_data))
  returning id into v_event;
  with d as (
    insert into public.event_deliveries (event_id, endpoint_id)
    select v_event, e.id from public.event_endpoints e
    where e.enabled and p_type = any (e.event_types)
    returning id
  )
  insert into public.jobs (task, args)
  select 'events.deliver_event', jsonb_build_object('delivery_id', d.id) from d;
end
$$;
revoke all on function ec_internal.emit_outbound_event(text, uuid, uuid, jsonb)
  from public, anon, authenticated;

-- Every trigger function below runs as its owner (SECURITY DEFINER): the
-- change that causes an event may be a broker's (SET LOCAL ROLE
-- authenticated), who holds nothing on the event tables.

-- pipeline_events: a classified reply or call answer (stage 'replied').
create or replace function ec_internal.events_from_pipeline() returns trigger
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  v_data jsonb;
begin
  v_data := jsonb_build_object(
    'lead_id', new.lead_id, 'broker_id', new.broker_id, 'intent', new.outcome,
    'channel', new.provider, 'inbound_event_id', new.correlation_id,
    'confidence', new.detail -> 'confidence', 'replied_at', new.occurred_at);
  perform ec_internal.emit_outbound_event('lead.replied', new.lead_id, null, v_data);
  if new.outcome = 'interested' then
    perform ec_internal.emit_outbound_event('lead.interested', new.lead_id, null, v_data);
  end if;
  return null;
end
$$;
drop trigger if exists trg_events_from_pipeline on public.pipeline_events;
create trigger trg_events_from_pipeline after insert on public.pipeline_events
  for each row when (new.stage = 'replied' and new.lead_id is not null)
  execute function ec_internal.events_from_pipeline();

-- pipeline_dlq: a dead letter. An event delivery's own failures never become
-- dead letters (the delivery log keeps them), and are skipped here too, so a
-- broken endpoint cannot feed itself events about itself.
create or replace function ec_internal.events_from_dlq() returns trigger
  language plpgsql
  security definer
  set search_path = ''
as $$
begin
  perform ec_internal.emit_outbound_event('dlq.added', null, null, jsonb_build_object(
    'dlq_id', new.id, 'source', new.source, 'attempts', new.attempts, 'reason', new.reason,
    'added_at', new.created_at));
  return null;
end
$$;
drop trigger if exists trg_events_from_dlq on public.pipeline_dlq;
create trigger trg_events_from_dlq after insert on public.pipeline_dlq
  for each row when (new.source <> 'events.deliver_event')
  execute function ec_internal.events_from_dlq();

-- uploads: an upload's processing completed.
create or replace function ec_internal.events_from_upload() returns trigger
  language plpgsql
  security definer
  set search_path = ''
as $$
begin
  perform ec_internal.emit_outbound_event('upload.completed', null, new.id, jsonb_build_object(
    'upload_id', new.id, 'source', new.source, 'status', new.status, 'rows', new.row_count,
    'inserted', new.inserted_count, 'merged', new.merged_count,
    'rejected', new.rejected_count, 'completed_at', new.completed_at));
  return null;
end
$$;
drop trigger if exists trg_events_from_upload on public.uploads;
create trigger trg_events_from_upload after update of status on public.uploads
  for each row when (new.status = 'completed' and old.status is distinct from new.status)
  execute function ec_internal.events_from_upload();

-- leads: an opt-out (unsubscribed, or do-not-contact), whatever its path
-- (reply, call, provider event, broker).
create or replace function ec_internal.events_from_opt_out() returns trigger
  language plpgsql
  security definer
  set search_path = ''
as $$
begin
  perform ec_internal.emit_outbound_event('lead.unsubscribed', new.id, null, jsonb_build_object(
    'lead_id', new.id, 'broker_id', new.assigned_broker_id, 'status', new.campaign_status,
    'previous_status', old.campaign_status, 'unsubscribed_at', clock_timestamp()));
  return null;
end
$$;
drop trigger if exists trg_events_from_opt_out on public.leads;
create trigger trg_events_from_opt_out after update of campaign_status on public.leads
  for each row when (new.campaign_status in ('unsubscribed', 'do_not_contact')
                     and old.campaign_status not in ('unsubscribed', 'do_not_contact'))
  execute function ec_internal.events_from_opt_out();

-- consent_records: consent given (append-only, so inserts only).
create or replace function ec_internal.events_from_consent() returns trigger
  language plpgsql
  security definer
  set search_path = ''
as $$
begin
  perform ec_internal.emit_outbound_event('consent.recorded', new.lead_id, null,
    jsonb_build_object(
      'lead_id', new.lead_id, 'broker_id', new.broker_id, 'consent_record_id', new.id,
      'method', new.method, 'disclosure_version', new.disclosure_version,
      'consented_at', new.consented_at));
  return null;
end
$$;
drop trigger if exists trg_events_from_consent on public.consent_records;
create trigger trg_events_from_consent after insert on public.consent_records
  for each row execute function ec_internal.events_from_consent();

-- bookings: a new booking (also the new booking of a reschedule), or a cancellation.
create or replace function ec_internal.events_from_booking() returns trigger
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  v_data jsonb;
begin
  v_data := jsonb_build_object(
    'lead_id', new.lead_id, 'broker_id', new.broker_id, 'booking_id', new.id,
    'calcom_uid', new.calcom_uid, 'start_time', new.start_time, 'end_time', new.end_time,
    'event_type', new.event_type, 'rescheduled_from', new.rescheduled_from);
  if tg_op = 'INSERT' then
    perform ec_internal.emit_outbound_event('lead.booked', new.lead_id, null, v_data);
  else
    perform ec_internal.emit_outbound_event('booking.cancelled', new.lead_id, null, v_data);
  end if;
  return null;
end
$$;
drop trigger if exists trg_events_from_booking_insert on public.bookings;
create trigger trg_events_from_booking_insert after insert on public.bookings
  for each row execute function ec_internal.events_from_booking();
drop trigger if exists trg_events_from_booking_cancel on public.bookings;
create trigger trg_events_from_booking_cancel after update of status on public.bookings
  for each row when (new.status = 'cancelled' and old.status <> 'cancelled')
  execute function ec_internal.events_from_booking();

revoke all on function ec_internal.events_from_pipeline() from public, anon, authenticated;
revoke all on function ec_internal.events_from_dlq() from public, anon, authenticated;
revoke all on function ec_internal.events_from_upload() from public, anon, authenticated;
revoke all on function ec_internal.events_from_opt_out() from public, anon, authenticated;
revoke all on function ec_internal.events_from_consent() from public, anon, authenticated;
revoke all on function ec_internal.events_from_booking() from public, anon, authenticated;
