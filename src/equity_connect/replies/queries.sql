-- Routing replies and calls.

-- name: leads_by_email
-- The address as a lead's primary email, or as any contact found for it (the
-- primary can change after the address was fed to a campaign).
select id, assigned_broker_id, campaign_status, email_index, phone_index
from leads
where email_index = %(index)s
   or id in (select lead_id from lead_contacts where channel = 'email' and value_index = %(index)s)
order by added_to_campaign_at desc nulls last, id

-- name: leads_by_phone
select id, assigned_broker_id, campaign_status, email_index, phone_index
from leads
where phone_index = %(index)s
   or id in (select lead_id from lead_contacts where channel = 'phone' and value_index = %(index)s)
order by added_to_campaign_at desc nulls last, id

-- name: lead_by_id
select id, assigned_broker_id, campaign_status, email_index, phone_index
from leads where id = %(id)s

-- name: set_status
-- Compliance outcomes (unsubscribed, do_not_contact, bounced) always apply;
-- engagement outcomes never undo one of them, nor a conversion.
update leads set
  campaign_status = %(status)s::campaign_status,
  last_reply_at = coalesce(%(reply_at)s, last_reply_at),
  last_reply_intent = coalesce(%(intent)s, last_reply_intent)
where id = any(%(lead_ids)s)
  and (%(status)s in ('unsubscribed', 'do_not_contact', 'bounced')
       or campaign_status not in ('unsubscribed', 'do_not_contact', 'bounced', 'converted'))
returning id

-- name: note_reply
-- An auto-reply neither counts as a reply nor erases an earlier one.
update leads set last_reply_at = coalesce(%(reply_at)s, last_reply_at),
  last_reply_intent = coalesce(last_reply_intent, %(intent)s)
where id = any(%(lead_ids)s)

-- name: record_call
update leads set vapi_call_id = %(call_id)s, call_attempt_count = call_attempt_count + 1
where id = %(lead_id)s

-- name: broker_calcom
select calcom_event_url from brokers where id = %(id)s

-- name: record_event
insert into pipeline_events (stage, outcome, count, provider, lead_id, broker_id, correlation_id, detail)
values (%(stage)s, %(outcome)s, 1, %(provider)s, %(lead_id)s, %(broker_id)s, %(correlation_id)s,
        %(detail)s)
