-- Texts through SignalWire (issue 17): inbound messages are stored like every
-- other webhook (inbound_events, provider 'signalwire'), outbound texts are
-- rows here, each sent by a job.
--
-- ADD VALUE cannot be used in the transaction that adds it; nothing below uses it.
alter type public.inbound_provider add value if not exists 'signalwire';

-- The numbers a homeowner gave or confirmed: the only numbers we text.
-- A skip-traced number never qualifies on its own, whatever its verification
-- code says (a "valid mobile" code says the line exists, not that the owner
-- agreed to be texted there). A number qualifies when the homeowner texted us
-- from it, answered our call on it and asked to hear more, or wrote it in a reply.
create table if not exists public.sms_numbers (
  lead_id          uuid not null references public.leads (id) on delete cascade,
  phone_index      bytea not null,
  phone_ciphertext bytea not null,
  source           text not null,
  confirmed_at     timestamptz not null default now(),
  constraint sms_numbers_pkey primary key (lead_id, phone_index),
  constraint sms_numbers_source_check
    check (source in ('sms_inbound', 'call_answered', 'reply_text'))
);
create index if not exists sms_numbers_phone_idx on public.sms_numbers (phone_index);

-- One row per text we mean to send; the job that sends it carries only its id.
-- send_day is set when a send claims the lead's one text of the day (the
-- calendar day in the business time zone) and cleared when the send is known
-- not to have happened, so the partial unique index below is the daily limit:
-- two concurrent sends to one lead cannot both claim the same day.
create table if not exists public.sms_messages (
  id           bigint generated always as identity primary key,
  lead_id      uuid not null references public.leads (id) on delete cascade,
  kind         text not null,
  dedupe_key   text not null,
  booking_uid  text,
  status       text not null default 'queued',
  send_day     date,
  not_before   timestamptz,
  provider     text,
  provider_sid text,
  reason       text,
  attempts     integer not null default 0,
  created_at   timestamptz not null default now(),
  updated_at   timestamptz not null default now(),
  sent_at      timestamptz,
  constraint sms_messages_dedupe_key_key unique (dedupe_key),
  constraint sms_messages_kind_check check (kind in ('consent_link', 'booking_confirmation')),
  constraint sms_messages_status_check
    check (status in ('queued', 'sending', 'sent', 'skipped', 'failed', 'uncertain')),
  constraint sms_messages_sent_has_day check (status not in ('sending', 'sent') or send_day is not null)
);
create unique index if not exists sms_messages_one_per_day
  on public.sms_messages (lead_id, send_day) where send_day is not null;
create index if not exists sms_messages_lead_idx on public.sms_messages (lead_id);

-- The carrier-level keyword state of a number (STOP/START/UNSTOP by text).
-- START clears this row only: it never lifts an entry of `suppressions`
-- (an opt-out on any channel, DNC, wrong contact), so a number that sent STOP
-- stays suppressed until a person with a new written consent lifts it.
create table if not exists public.sms_opt_outs (
  phone_index bytea primary key,
  opted_out   boolean not null,
  keyword     text not null,
  changed_at  timestamptz not null default now()
);

select ec_internal.pipeline_only(t)
from unnest(array['sms_numbers', 'sms_messages', 'sms_opt_outs']) as t;
