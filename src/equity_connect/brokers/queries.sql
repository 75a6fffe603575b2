-- The broker workspace. Run as the broker (RLS decides the rows) unless noted.

-- name: list_leads
select id, owner_first_name, owner_last_name, property_address, property_city, property_state,
       property_zip, lead_score, score_breakdown, campaign_status::text as campaign_status,
       email_ciphertext, phone_ciphertext, email_verified, phone_verified, phone_dnc, consent,
       consented_at, last_reply_at, last_reply_intent, created_at
from leads
where (%(status)s::campaign_status is null or campaign_status = %(status)s::campaign_status)
  and (%(min_score)s::int is null or lead_score >= %(min_score)s::int)
  and (%(after_created)s::timestamptz is null
       or (created_at, id) < (%(after_created)s::timestamptz, %(after_id)s::uuid))
order by created_at desc, id desc
limit %(limit)s

-- name: get_lead
select id, owner_first_name, owner_last_name, property_address, property_city, property_state,
       property_zip, lead_score, score_breakdown, campaign_status::text as campaign_status,
       email_ciphertext, phone_ciphertext, email_verified, phone_verified, phone_dnc, consent,
       consented_at, last_reply_at, last_reply_intent, created_at, assigned_broker_id,
       raw_extra_ciphertext
from leads where id = %(id)s

-- name: set_status
-- An opted-out lead keeps its status (a trigger enforces it too).
update leads set campaign_status = %(status)s::campaign_status
where id = %(id)s
  and (campaign_status not in ('unsubscribed', 'do_not_contact', 'bounced')
       or campaign_status = %(status)s::campaign_status)
returning id

-- name: add_note
insert into lead_notes (lead_id, broker_id, body) values (%(lead_id)s, %(broker_id)s, %(body)s)
returning id, created_at

-- name: notes
select id, body, created_at from lead_notes where lead_id = %(lead_id)s order by created_at, id

-- name: consent_records
select method::text as method, disclosure_version, consented_at, call_id is not null as by_call
from consent_records where lead_id = %(lead_id)s order by consented_at

-- name: bookings
select calcom_uid, status::text as status, start_time, end_time, event_type
from bookings where lead_id = %(lead_id)s order by start_time nulls last

-- name: export_rows
select id, owner_first_name, owner_last_name, property_address, property_city, property_state,
       property_zip, lead_score, campaign_status::text as campaign_status, email_ciphertext,
       phone_ciphertext, consent, raw_extra_ciphertext,
       (campaign_status in ('unsubscribed', 'bounced', 'do_not_contact') or phone_dnc
        or ec_internal.is_suppressed(email_index, phone_index)) as suppressed
from leads order by created_at, id

-- name: reassign
update leads set assigned_broker_id = %(broker_id)s where id = %(id)s
returning id
