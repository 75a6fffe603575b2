-- The lead list and the lead page. Run as the broker (RLS decides the rows)
-- or, for ops, as the pipeline. Every filter is "null means any": with the
-- values bound, PostgreSQL folds the unused ones away and each search uses
-- its own index (executed unprepared, so the plan is made for the values).
--
-- A phone or email matches the lead's own value or any contact found for it.
-- The matching ids are gathered first (= any(array(...)), an init plan of
-- two index lookups), then fetched by primary key: an IN (subquery) under
-- the "null means any" OR is not turned into a join and would test every
-- lead. An upload's leads are those it created (first_upload_id, indexed)
-- and those it merged into that another upload created (its lineage's merged
-- rows, gathered the same way): upload_part 'first' or 'merged' keeps one of
-- the two disjoint parts, 'both' the union. The lists ask for 'both'; the
-- count counts each part alone and adds them (leads/service.py count_leads),
-- so the created part is an index-only count.
--
-- Callable now: the states open at this hour (every zone of the state), a
-- phone not on the DNC list and not suppressed (leads.contact_suppressed,
-- kept by triggers from the suppression set: migration 0023), not opted out.
-- The count is index-only on leads_callable_count_idx, whose predicate is
-- this branch's text. The flag can lag the set for a moment (a lead and its
-- suppression committed concurrently: each trigger saw only the other's
-- absence) until ec_internal.reconcile_contact_suppressed repairs it (the
-- worker runs it every minute); so each displayed row's badge, and the lead
-- page, ask the set itself (ec_internal.phone_suppressed, one probe per row
-- of a page of at most 50), and a filter row whose flag lags shows no badge.
--
-- The count and the four list statements share one WHERE clause, the same
-- text in each; the lists differ only in ORDER BY, which cannot be a
-- parameter without losing the index that serves it (tests/leads checks
-- the five WHERE clauses stay identical).

-- name: count_leads
select count(*) as n
from leads
where (%(broker)s::uuid is null or assigned_broker_id = %(broker)s::uuid)
  and (%(prefix)s::text is null
       or lower(owner_last_name) collate "C" like %(prefix)s::text
       or lower(owner_first_name) collate "C" like %(prefix)s::text
       or lower(property_address) collate "C" like %(prefix)s::text
       or lower(property_city) collate "C" like %(prefix)s::text
       or (lower(owner_first_name) collate "C" like %(first)s::text
           and lower(owner_last_name) collate "C" like %(last)s::text))
  and (%(zip)s::text is null or property_zip = %(zip)s::text)
  and (%(phone_index)s::bytea is null
       or id = any(array(select p.id from leads p where p.phone_index = %(phone_index)s::bytea
                         union all
                         select c.lead_id from lead_contacts c
                         where c.channel = 'phone' and c.value_index = %(phone_index)s::bytea)))
  and (%(email_index)s::bytea is null
       or id = any(array(select e.id from leads e where e.email_index = %(email_index)s::bytea
                         union all
                         select c.lead_id from lead_contacts c
                         where c.channel = 'email' and c.value_index = %(email_index)s::bytea)))
  and (%(status)s::campaign_status is null or campaign_status = %(status)s::campaign_status)
  and (%(min_score)s::int is null or lead_score >= %(min_score)s::int)
  and (%(max_score)s::int is null or lead_score <= %(max_score)s::int)
  and (%(consent)s::boolean is null or consent = %(consent)s::boolean)
  and (%(open_states)s::text[] is null
       or (property_state = any(%(open_states)s::text[]) and phone_ciphertext is not null
           and not phone_dnc and not contact_suppressed
           and campaign_status not in ('unsubscribed', 'do_not_contact', 'bounced')))
  and (%(upload)s::uuid is null
       or (%(upload_part)s::text <> 'merged' and first_upload_id = %(upload)s::uuid)
       or (%(upload_part)s::text <> 'first' and first_upload_id is distinct from %(upload)s::uuid
           and id = any(array(select r.lead_id from upload_rows r
                              where r.upload_id = %(upload)s::uuid and r.status = 'merged'
                                and r.lead_id is not null))))

-- name: list_leads_by_score
select id, owner_first_name, owner_last_name, property_address, property_unit, property_city,
       property_state, property_zip, lead_score, campaign_status::text as campaign_status,
       email_ciphertext, phone_ciphertext, phone_dnc, consent, created_at,
       ec_internal.phone_suppressed(phone_index, email_index) as phone_suppressed
from leads
where (%(broker)s::uuid is null or assigned_broker_id = %(broker)s::uuid)
  and (%(prefix)s::text is null
       or lower(owner_last_name) collate "C" like %(prefix)s::text
       or lower(owner_first_name) collate "C" like %(prefix)s::text
       or lower(property_address) collate "C" like %(prefix)s::text
       or lower(property_city) collate "C" like %(prefix)s::text
       or (lower(owner_first_name) collate "C" like %(first)s::text
           and lower(owner_last_name) collate "C" like %(last)s::text))
  and (%(zip)s::text is null or property_zip = %(zip)s::text)
  and (%(phone_index)s::bytea is null
       or id = any(array(select p.id from leads p where p.phone_index = %(phone_index)s::bytea
                         union all
                         select c.lead_id from lead_contacts c
                         where c.channel = 'phone' and c.value_index = %(phone_index)s::bytea)))
  and (%(email_index)s::bytea is null
       or id = any(array(select e.id from leads e where e.email_index = %(email_index)s::bytea
                         union all
                         select c.lead_id from lead_contacts c
                         where c.channel = 'email' and c.value_index = %(email_index)s::bytea)))
  and (%(status)s::campaign_status is null or campaign_status = %(status)s::campaign_status)
  and (%(min_score)s::int is null or lead_score >= %(min_score)s::int)
  and (%(max_score)s::int is null or lead_score <= %(max_score)s::int)
  and (%(consent)s::boolean is null or consent = %(consent)s::boolean)
  and (%(open_states)s::text[] is null
       or (property_state = any(%(open_states)s::text[]) and phone_ciphertext is not null
           and not phone_dnc and not contact_suppressed
           and campaign_status not in ('unsubscribed', 'do_not_contact', 'bounced')))
  and (%(upload)s::uuid is null
       or (%(upload_part)s::text <> 'merged' and first_upload_id = %(upload)s::uuid)
       or (%(upload_part)s::text <> 'first' and first_upload_id is distinct from %(upload)s::uuid
           and id = any(array(select r.lead_id from upload_rows r
                              where r.upload_id = %(upload)s::uuid and r.status = 'merged'
                                and r.lead_id is not null))))
order by lead_score desc, id
limit %(limit)s offset %(offset)s

-- name: list_leads_by_newest
select id, owner_first_name, owner_last_name, property_address, property_unit, property_city,
       property_state, property_zip, lead_score, campaign_status::text as campaign_status,
       email_ciphertext, phone_ciphertext, phone_dnc, consent, created_at,
       ec_internal.phone_suppressed(phone_index, email_index) as phone_suppressed
from leads
where (%(broker)s::uuid is null or assigned_broker_id = %(broker)s::uuid)
  and (%(prefix)s::text is null
       or lower(owner_last_name) collate "C" like %(prefix)s::text
       or lower(owner_first_name) collate "C" like %(prefix)s::text
       or lower(property_address) collate "C" like %(prefix)s::text
       or lower(property_city) collate "C" like %(prefix)s::text
       or (lower(owner_first_name) collate "C" like %(first)s::text
           and lower(owner_last_name) collate "C" like %(last)s::text))
  and (%(zip)s::text is null or property_zip = %(zip)s::text)
  and (%(phone_index)s::bytea is null
       or id = any(array(select p.id from leads p where p.phone_index = %(phone_index)s::bytea
                         union all
                         select c.lead_id from lead_contacts c
                         where c.channel = 'phone' and c.value_index = %(phone_index)s::bytea)))
  and (%(email_index)s::bytea is null
       or id = any(array(select e.id from leads e where e.email_index = %(email_index)s::bytea
                         union all
                         select c.lead_id from lead_contacts c
                         where c.channel = 'email' and c.value_index = %(email_index)s::bytea)))
  and (%(status)s::campaign_status is null or campaign_status = %(status)s::campaign_status)
  and (%(min_score)s::int is null or lead_score >= %(min_score)s::int)
  and (%(max_score)s::int is null or lead_score <= %(max_score)s::int)
  and (%(consent)s::boolean is null or consent = %(consent)s::boolean)
  and (%(open_states)s::text[] is null
       or (property_state = any(%(open_states)s::text[]) and phone_ciphertext is not null
           and not phone_dnc and not contact_suppressed
           and campaign_status not in ('unsubscribed', 'do_not_contact', 'bounced')))
  and (%(upload)s::uuid is null
       or (%(upload_part)s::text <> 'merged' and first_upload_id = %(upload)s::uuid)
       or (%(upload_part)s::text <> 'first' and first_upload_id is distinct from %(upload)s::uuid
           and id = any(array(select r.lead_id from upload_rows r
                              where r.upload_id = %(upload)s::uuid and r.status = 'merged'
                                and r.lead_id is not null))))
order by created_at desc, id
limit %(limit)s offset %(offset)s

-- name: list_leads_by_name
select id, owner_first_name, owner_last_name, property_address, property_unit, property_city,
       property_state, property_zip, lead_score, campaign_status::text as campaign_status,
       email_ciphertext, phone_ciphertext, phone_dnc, consent, created_at,
       ec_internal.phone_suppressed(phone_index, email_index) as phone_suppressed
from leads
where (%(broker)s::uuid is null or assigned_broker_id = %(broker)s::uuid)
  and (%(prefix)s::text is null
       or lower(owner_last_name) collate "C" like %(prefix)s::text
       or lower(owner_first_name) collate "C" like %(prefix)s::text
       or lower(property_address) collate "C" like %(prefix)s::text
       or lower(property_city) collate "C" like %(prefix)s::text
       or (lower(owner_first_name) collate "C" like %(first)s::text
           and lower(owner_last_name) collate "C" like %(last)s::text))
  and (%(zip)s::text is null or property_zip = %(zip)s::text)
  and (%(phone_index)s::bytea is null
       or id = any(array(select p.id from leads p where p.phone_index = %(phone_index)s::bytea
                         union all
                         select c.lead_id from lead_contacts c
                         where c.channel = 'phone' and c.value_index = %(phone_index)s::bytea)))
  and (%(email_index)s::bytea is null
       or id = any(array(select e.id from leads e where e.email_index = %(email_index)s::bytea
                         union all
                         select c.lead_id from lead_contacts c
                         where c.channel = 'email' and c.value_index = %(email_index)s::bytea)))
  and (%(status)s::campaign_status is null or campaign_status = %(status)s::campaign_status)
  and (%(min_score)s::int is null or lead_score >= %(min_score)s::int)
  and (%(max_score)s::int is null or lead_score <= %(max_score)s::int)
  and (%(consent)s::boolean is null or consent = %(consent)s::boolean)
  and (%(open_states)s::text[] is null
       or (property_state = any(%(open_states)s::text[]) and phone_ciphertext is not null
           and not phone_dnc and not contact_suppressed
           and campaign_status not in ('unsubscribed', 'do_not_contact', 'bounced')))
  and (%(upload)s::uuid is null
       or (%(upload_part)s::text <> 'merged' and first_upload_id = %(upload)s::uuid)
       or (%(upload_part)s::text <> 'first' and first_upload_id is distinct from %(upload)s::uuid
           and id = any(array(select r.lead_id from upload_rows r
                              where r.upload_id = %(upload)s::uuid and r.status = 'merged'
                                and r.lead_id is not null))))
order by lower(owner_last_name) collate "C", lower(owner_first_name) collate "C", id
limit %(limit)s offset %(offset)s

-- name: list_leads_by_city
select id, owner_first_name, owner_last_name, property_address, property_unit, property_city,
       property_state, property_zip, lead_score, campaign_status::text as campaign_status,
       email_ciphertext, phone_ciphertext, phone_dnc, consent, created_at,
       ec_internal.phone_suppressed(phone_index, email_index) as phone_suppressed
from leads
where (%(broker)s::uuid is null or assigned_broker_id = %(broker)s::uuid)
  and (%(prefix)s::text is null
       or lower(owner_last_name) collate "C" like %(prefix)s::text
       or lower(owner_first_name) collate "C" like %(prefix)s::text
       or lower(property_address) collate "C" like %(prefix)s::text
       or lower(property_city) collate "C" like %(prefix)s::text
       or (lower(owner_first_name) collate "C" like %(first)s::text
           and lower(owner_last_name) collate "C" like %(last)s::text))
  and (%(zip)s::text is null or property_zip = %(zip)s::text)
  and (%(phone_index)s::bytea is null
       or id = any(array(select p.id from leads p where p.phone_index = %(phone_index)s::bytea
                         union all
                         select c.lead_id from lead_contacts c
                         where c.channel = 'phone' and c.value_index = %(phone_index)s::bytea)))
  and (%(email_index)s::bytea is null
       or id = any(array(select e.id from leads e where e.email_index = %(email_index)s::bytea
                         union all
                         select c.lead_id from lead_contacts c
                         where c.channel = 'email' and c.value_index = %(email_index)s::bytea)))
  and (%(status)s::campaign_status is null or campaign_status = %(status)s::campaign_status)
  and (%(min_score)s::int is null or lead_score >= %(min_score)s::int)
  and (%(max_score)s::int is null or lead_score <= %(max_score)s::int)
  and (%(consent)s::boolean is null or consent = %(consent)s::boolean)
  and (%(open_states)s::text[] is null
       or (property_state = any(%(open_states)s::text[]) and phone_ciphertext is not null
           and not phone_dnc and not contact_suppressed
           and campaign_status not in ('unsubscribed', 'do_not_contact', 'bounced')))
  and (%(upload)s::uuid is null
       or (%(upload_part)s::text <> 'merged' and first_upload_id = %(upload)s::uuid)
       or (%(upload_part)s::text <> 'first' and first_upload_id is distinct from %(upload)s::uuid
           and id = any(array(select r.lead_id from upload_rows r
                              where r.upload_id = %(upload)s::uuid and r.status = 'merged'
                                and r.lead_id is not null))))
order by lower(property_city) collate "C", lower(property_address) collate "C", id
limit %(limit)s offset %(offset)s

-- name: visible_uploads
-- The uploads a lead list may be filtered by (a broker: those that produced
-- their leads, by RLS), newest first.
select id, filename, source, received_at from uploads order by received_at desc limit 50

-- name: lead
select l.id, l.owner_first_name, l.owner_last_name, l.owner_age, l.property_address,
       l.property_unit, l.property_city, l.property_state, l.property_zip, l.county_fips, l.apn,
       l.mak, l.estimated_value, l.estimated_equity, l.year_built, l.source, l.lead_score,
       l.score_breakdown, l.campaign_status::text as campaign_status, l.campaign_id,
       l.added_to_campaign_at, l.last_reply_at, l.last_reply_intent, l.consent, l.consented_at,
       l.consent_method, l.email_ciphertext, l.phone_ciphertext, l.email_verified,
       l.phone_verified, l.phone_dnc, l.email_verification_codes, l.phone_verification_codes,
       l.enriched_at, l.call_attempt_count, l.created_at, l.updated_at, l.assigned_broker_id,
       l.feed_batch_id, b.name as broker_name, b.calcom_event_url,
       ec_internal.phone_suppressed(l.phone_index, l.email_index) as phone_suppressed
from leads l left join brokers b on b.id = l.assigned_broker_id
where l.id = %(id)s

-- name: contacts
select id, channel::text as channel, value_ciphertext, value_index, provider, codes, verified,
       dnc, phone_type, score, created_at
from lead_contacts where lead_id = %(id)s
order by channel, verified desc, score desc nulls last, created_at

-- name: code_descriptions
-- The newest meaning of each code.
select distinct on (provider, channel, code) provider, channel::text as channel, code,
       is_verified, description
from verification_code_map
where code = any(%(codes)s)
order by provider, channel, code, version desc

-- name: lineage
-- The upload rows that fed the lead (RLS: a broker's own leads' rows only).
select upload_id, row_number, line_number, status::text as status,
       match_key::text as match_key, notes, match_evidence
from upload_rows where lead_id = %(id)s
order by upload_id, row_number

-- name: upload_facts
-- Name, source and time of the uploads of a lead's lineage (no PII). Read as
-- the pipeline once RLS has returned the lineage rows: a broker's uploads
-- policy shows only the uploads that created their leads, not those that
-- merged into them.
select id, filename, source, received_at from uploads where id = any(%(ids)s)

-- name: skiptrace_lookups
select provider, matched, created_at from skiptrace_requests
where lead_id = %(id)s order by created_at

-- name: lead_events
select occurred_at, stage, outcome, provider, correlation_id, detail
from pipeline_events where lead_id = %(id)s order by occurred_at, id

-- name: call_reports
-- VAPI end-of-call reports about the lead (their summaries are decrypted in Python).
select id, external_id, payload_ciphertext, received_at from inbound_events
where lead_id = %(id)s and provider = 'vapi' and event_type = 'end-of-call-report'
order by received_at

-- name: feed_batch
select id, business_date, status::text as status, pushed_at, created_at
from feed_batches where id = %(id)s

-- name: consent_records
select method::text as method, disclosure_version, consented_at, call_id
from consent_records where lead_id = %(id)s order by consented_at

-- name: bookings
-- A booking's history is its chain of rows: Cal.com gives a rescheduled call a
-- new uid, so each reschedule is a row naming the one it replaced
-- (rescheduled_from, whose start time is the old time), and a row's status
-- only moves forward (booking/service.py), so a cancelled row's updated_at is
-- when it was cancelled.
select b.calcom_uid, b.status::text as status, b.start_time, b.end_time, b.event_type,
       b.rescheduled_from, b.created_at, b.updated_at, o.start_time as replaced_start_time
from bookings b left join bookings o on o.calcom_uid = b.rescheduled_from
where b.lead_id = %(id)s order by b.created_at, b.calcom_uid

-- name: notes
-- A broker's note names the broker; an ops note its ops key (ops_author).
select n.id, n.body, n.created_at, b.name as author, n.ops_author
from lead_notes n left join brokers b on b.id = n.broker_id
where n.lead_id = %(id)s order by n.created_at, n.id

-- name: suppressions
select channel::text as channel, reason::text as reason, source, created_at
from suppressions where lead_id = %(id)s order by created_at

-- name: audit_entries
select occurred_at, actor_role, actor_id, action, before, after
from audit_log where table_name = 'leads' and row_id = %(id)s::text order by occurred_at, id

-- name: booking_token
-- The lead's newest unexpired consent token: its public id goes in the
-- booking link (the secret nonce never leaves the database as a hash).
-- Read as the pipeline: brokers hold no grant on consent_tokens.
select id from consent_tokens
where lead_id = %(id)s and expires_at > now()
order by created_at desc limit 1

-- name: add_note
insert into lead_notes (lead_id, broker_id, body) values (%(lead_id)s, %(broker_id)s, %(body)s)
returning id, created_at

-- name: add_ops_note
-- Run as the pipeline (ops sees every lead); the author is the ops key's name.
insert into lead_notes (lead_id, ops_author, body)
select %(lead_id)s, coalesce((select nullif(left(k.name, 200), '') from api_keys k
                              where k.key_id = %(key_id)s), %(key_id)s), %(body)s
returning id, created_at

-- name: set_status
-- An opted-out lead keeps its status (a trigger enforces it for brokers too).
update leads set campaign_status = %(status)s::campaign_status
where id = %(id)s
  and (campaign_status not in ('unsubscribed', 'do_not_contact', 'bounced')
       or campaign_status = %(status)s::campaign_status)
returning id

-- name: booked_today
-- A broker's calls booked for today (business day, Pacific), soonest first.
select bk.start_time, bk.end_time, bk.status::text as status, l.id as lead_id,
       l.owner_first_name, l.owner_last_name, l.property_city, l.property_state
from bookings bk join leads l on l.id = bk.lead_id
where bk.status <> 'cancelled'
  and bk.start_time >= %(day_start)s and bk.start_time < %(day_end)s
  and (%(broker)s::uuid is null or l.assigned_broker_id = %(broker)s::uuid)
order by bk.start_time
limit %(limit)s

-- name: replies_waiting
-- Replies the broker has not acted on: the lead replied and is still 'replied'.
select id as lead_id, owner_first_name, owner_last_name, property_city, property_state,
       last_reply_at, last_reply_intent, lead_score
from leads
where campaign_status = 'replied'
  and (%(broker)s::uuid is null or assigned_broker_id = %(broker)s::uuid)
order by last_reply_at desc nulls last
limit %(limit)s

-- name: replies_waiting_count
select count(*) as n from leads
where campaign_status = 'replied'
  and (%(broker)s::uuid is null or assigned_broker_id = %(broker)s::uuid)

-- name: interested_unbooked
-- Leads whose last reply was interested, with no live booking.
select l.id as lead_id, l.owner_first_name, l.owner_last_name, l.property_city,
       l.property_state, l.last_reply_at, l.lead_score
from leads l
where l.last_reply_intent = 'interested'
  and l.campaign_status not in ('unsubscribed', 'do_not_contact', 'bounced', 'converted')
  and (%(broker)s::uuid is null or l.assigned_broker_id = %(broker)s::uuid)
  and not exists (select 1 from bookings bk where bk.lead_id = l.id and bk.status <> 'cancelled')
order by l.last_reply_at desc nulls last
limit %(limit)s

-- name: interested_unbooked_count
select count(*) as n
from leads l
where l.last_reply_intent = 'interested'
  and l.campaign_status not in ('unsubscribed', 'do_not_contact', 'bounced', 'converted')
  and (%(broker)s::uuid is null or l.assigned_broker_id = %(broker)s::uuid)
  and not exists (select 1 from bookings bk where bk.lead_id = l.id and bk.status <> 'cancelled')

-- name: booked_today_count
select count(*) as n
from bookings bk join leads l on l.id = bk.lead_id
where bk.status <> 'cancelled'
  and bk.start_time >= %(day_start)s and bk.start_time < %(day_end)s
  and (%(broker)s::uuid is null or l.assigned_broker_id = %(broker)s::uuid)

-- name: current_role_setting
select current_setting('role') as role

-- name: reset_local_role
select set_config('role', 'none', true)

-- name: set_local_role
select set_config('role', %(role)s, true)
