-- Outbound calls through VAPI.

-- name: call_target
-- The lead to call, and whether any rule forbids calling it (the one rule,
-- ec_internal.phone_contact_forbidden: migration 0015 says what it covers).
select l.id, l.assigned_broker_id, l.phone_ciphertext,
       ec_internal.phone_contact_forbidden(
         l.campaign_status, l.phone_dnc, l.phone_index, l.email_index) as forbidden
from leads l
where l.id = %(id)s

-- name: caller_lead
-- The lead an inbound caller's number belongs to (the most recently fed one, as
-- replies/queries.sql leads_by_phone orders them), and whether it may be contacted.
select l.id, l.assigned_broker_id,
       ec_internal.phone_contact_forbidden(
         l.campaign_status, l.phone_dnc, l.phone_index, l.email_index) as forbidden
from leads l
where l.phone_index = %(index)s
order by l.added_to_campaign_at desc nulls last, l.id
limit 1
