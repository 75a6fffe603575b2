-- Cal.com set-up through its API v2 (booking/setup.py, `equity-connect calcom setup`).
--
-- calcom_webhooks: per broker, the webhook subscription we created on that
-- broker's Cal.com account and the secret Cal.com signs its deliveries with.
-- The secret is a credential, so it is stored encrypted like PII (our envelope,
-- bound to table, column and broker id; re-wrapped by `keys rotate`), never in
-- clear; the inbound verifier decrypts it to check X-Cal-Signature-256.
--
-- calcom_event_types: the event types the plan names (equity-call, follow-up,
-- doc-review) as created on each broker's account, with their booking URLs.
-- brokers.calcom_event_url (the consent page's link) is set from equity-call.
--
-- Both are the pipeline's only: brokers never read webhook secrets.
create table if not exists public.calcom_webhooks (
  broker_id          uuid primary key references public.brokers (id) on delete cascade,
  calcom_user_id     bigint not null,
  webhook_id         text,
  subscriber_url     text not null,
  secret_ciphertext  bytea not null,
  created_at         timestamptz not null default now(),
  updated_at         timestamptz not null default now()
);

create table if not exists public.calcom_event_types (
  broker_id       uuid not null references public.brokers (id) on delete cascade,
  slug            text not null,
  event_type_id   bigint not null,
  length_minutes  integer not null,
  booking_url     text not null,
  updated_at      timestamptz not null default now(),
  constraint calcom_event_types_pkey primary key (broker_id, slug),
  constraint calcom_event_types_length_check check (length_minutes > 0)
);

drop trigger if exists trg_calcom_webhooks_updated_at on public.calcom_webhooks;
create trigger trg_calcom_webhooks_updated_at before update on public.calcom_webhooks
  for each row execute function public.set_updated_at();
drop trigger if exists trg_calcom_event_types_updated_at on public.calcom_event_types;
create trigger trg_calcom_event_types_updated_at before update on public.calcom_event_types
  for each row execute function public.set_updated_at();

select ec_internal.pipeline_only(t)
from unnest(array['calcom_webhooks', 'calcom_event_types']) as t;
