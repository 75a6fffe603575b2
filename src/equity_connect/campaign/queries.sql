-- The daily feed.

-- name: set_business_tz
set local time zone 'America/Los_Angeles'

-- name: try_lock
select pg_try_advisory_xact_lock(%(key)s) as locked

-- name: start_run
insert into job_runs (job_name, business_date) values (%(job)s, %(business_date)s)
returning id

-- name: finish_run
update job_runs set finished_at = clock_timestamp(), outcome = %(outcome)s,
  counts = %(counts)s, error = %(error)s
where id = %(id)s

-- name: refresh_contactable
-- REFRESH needs ownership, which the application's login lacks: the
-- function runs it as the owner (migration 0012).
select ec_internal.refresh_contactable_leads()

-- name: queue_contactable
-- New leads the refreshed view calls contactable become 'queued': ready for
-- the feeder, which reads them through the plan's partial index.
update leads l set campaign_status = 'queued'
from mv_contactable_leads m
where m.lead_id = l.id and l.campaign_status = 'new'

-- name: ensure_feed_day
insert into feed_days (business_date, cap) values (%(business_date)s, %(cap)s)
on conflict (business_date) do nothing

-- name: lock_feed_day
-- Serializes every feeder run of the day: the second waits here for the
-- first to commit, then sees its count.
select cap, fed_count from feed_days where business_date = %(business_date)s for update

-- name: feed_candidates
-- The best contactable leads, ties broken by id. Suppression is checked here,
-- in SQL, against the one suppression set: a stale view cannot leak a lead.
select l.id, l.lead_score, l.property_state, l.property_zip
from leads l
where l.campaign_status = 'queued'
  and l.phone_verified is true
  and l.added_to_campaign_at is null
  and l.feed_batch_id is null
  and l.email_verified
  and l.email_ciphertext is not null
  and not l.phone_dnc
  and not exists (
    select 1 from suppressions s
    where (s.channel = 'email' and s.value_index = l.email_index)
       or (s.channel = 'phone' and s.value_index = l.phone_index)
  )
-- added_to_campaign_at is null on every row here, so leading with it changes
-- nothing but lets the plan's index (added_to_campaign_at, lead_score desc)
-- deliver rows already in score order: the scan stops after the first few
-- hundred instead of sorting every queued lead.
order by l.added_to_campaign_at, l.lead_score desc, l.id
limit %(limit)s
for update of l skip locked

-- name: brokers_with_capacity
select b.id, b.name, b.daily_capacity, b.instantly_campaign_id,
       b.daily_capacity - coalesce((
         select count(*) from leads l
         where l.assigned_broker_id = b.id and l.fed_on = %(business_date)s), 0) as remaining
from brokers b
where b.active
order by b.id

-- name: create_batch
insert into feed_batches (business_date, lead_count, detail)
values (%(business_date)s, %(lead_count)s, %(detail)s)
returning id

-- name: reserve_leads
update leads l set
  feed_batch_id = %(batch_id)s,
  fed_on = %(business_date)s,
  assigned_broker_id = a.broker_id,
  campaign_id = a.campaign_id
from unnest(%(lead_ids)s::uuid[], %(broker_ids)s::uuid[], %(campaign_ids)s::text[])
  as a(lead_id, broker_id, campaign_id)
where l.id = a.lead_id

-- name: count_fed
update feed_days set fed_count = fed_count + %(n)s, updated_at = clock_timestamp()
where business_date = %(business_date)s

-- name: batch_for_push
select l.id, l.email_ciphertext, l.phone_ciphertext, l.owner_first_name, l.owner_last_name,
       l.property_address, l.property_city, l.property_state, l.property_zip, l.lead_score,
       l.campaign_id, l.assigned_broker_id as broker_id, b.name as broker_name
from leads l left join brokers b on b.id = l.assigned_broker_id
where l.feed_batch_id = %(batch_id)s and l.campaign_status = 'queued'
  -- a lead the provider skipped (mark_skipped cleared fed_on) is not sent again
  and l.fed_on is not null
  -- checked again at push time: a retry or a DLQ replay can come days later
  and not l.phone_dnc
  and not exists (
    select 1 from suppressions s
    where (s.channel = 'email' and s.value_index = l.email_index)
       or (s.channel = 'phone' and s.value_index = l.phone_index)
  )
order by l.id

-- name: mark_active
-- queued → active; the trigger stamps added_to_campaign_at.
update leads set campaign_status = 'active'
where id = any(%(lead_ids)s) and campaign_status = 'queued'
returning id

-- name: mark_skipped
-- Leads the provider left out of the import: reserved, never active. fed_on is
-- cleared, which gives the broker's slot back (brokers_with_capacity counts
-- fed_on) and keeps the lead out of this batch's retries (batch_for_push);
-- feed_batch_id stays, so the feeder never picks it again. Only leads not yet
-- marked come back, so the caller gives the day's cap back once per lead.
update leads set fed_on = null
where id = any(%(lead_ids)s) and feed_batch_id = %(batch_id)s
  and campaign_status = 'queued' and fed_on is not null
returning id, assigned_broker_id

-- name: uncount_fed
-- A skipped lead does not use the day's cap: a later feed run that day may
-- pick another lead in its place.
update feed_days d set fed_count = greatest(0, d.fed_count - %(n)s),
  updated_at = clock_timestamp()
from feed_batches b
where b.id = %(batch_id)s and d.business_date = b.business_date

-- name: record_lead_event
insert into pipeline_events (stage, outcome, count, provider, lead_id, broker_id, correlation_id,
                             detail)
values (%(stage)s, %(outcome)s, 1, %(provider)s, %(lead_id)s, %(broker_id)s, %(correlation_id)s,
        %(detail)s)

-- name: skipped_leads
-- What ops sees: each lead the campaign provider skipped, newest first, with
-- the reason it gave (ids and reason codes only, no PII).
select e.occurred_at, e.lead_id, e.correlation_id as batch_id, b.name as broker_name,
       e.detail->>'campaign_id' as campaign_id, e.detail->>'reason' as reason,
       e.detail->>'reason_text' as reason_text, e.provider
from pipeline_events e left join brokers b on b.id = e.broker_id
where e.stage = 'fed' and e.outcome = 'skipped' and e.lead_id is not null
  and (%(since)s::timestamptz is null or e.occurred_at >= %(since)s::timestamptz)
order by e.occurred_at desc, e.id desc
limit %(limit)s

-- name: mark_batch
update feed_batches set status = %(status)s::feed_batch_status,
  pushed_at = case when %(status)s::text = 'pushed' then clock_timestamp() else pushed_at end,
  detail = detail || %(detail)s
where id = %(batch_id)s

-- name: record_event
insert into pipeline_events (stage, outcome, count, provider, broker_id, correlation_id, detail)
values (%(stage)s, %(outcome)s, %(count)s, %(provider)s, %(broker_id)s, %(correlation_id)s,
        %(detail)s)

-- name: fed_today
select coalesce((select fed_count from feed_days where business_date = %(business_date)s), 0) as n

-- name: suppress
-- The first reason stays, except that an opt-out replaces a bounce: a bounced
-- e-mail says nothing about the phone, an opt-out by any channel covers every
-- channel (phone_contact_forbidden), so keeping "bounced" would let the phone
-- of another lead holding this e-mail be called.
insert into suppressions (channel, value_index, value_ciphertext, reason, source, lead_id)
values (%(channel)s, %(index)s, %(ciphertext)s, %(reason)s, %(source)s, %(lead_id)s)
on conflict on constraint suppressions_channel_value_key do update
  set value_ciphertext = coalesce(suppressions.value_ciphertext, excluded.value_ciphertext),
      reason = case when suppressions.reason = 'bounced' then excluded.reason
                    else suppressions.reason end

-- name: reconcile_contact_suppressed
select ec_internal.reconcile_contact_suppressed() as changed

-- name: contact_values_of
-- Every contact ciphertext of these leads: primary email and phone, all the
-- contacts skip-trace found, and the numbers confirmed for texts.
select id as lead_id, 'email' as channel, email_ciphertext as ciphertext, 'leads' as source_table,
       null::text as source_key
from leads where id = any(%(lead_ids)s) and email_ciphertext is not null
union all
select id, 'phone', phone_ciphertext, 'leads', null from leads
where id = any(%(lead_ids)s) and phone_ciphertext is not null
union all
select lead_id, channel::text, value_ciphertext, 'lead_contacts', encode(value_index, 'hex')
from lead_contacts where lead_id = any(%(lead_ids)s)
union all
-- numbers the homeowner gave or confirmed for texts (sms/): an opt-out on any
-- channel suppresses them too
select lead_id, 'phone', phone_ciphertext, 'sms_numbers', null
from sms_numbers where lead_id = any(%(lead_ids)s)
