-- Outbound calls through VAPI.

-- name: call_target
-- The lead to call, and whether any rule forbids calling it: an opt-out or
-- wrong-contact status, the national DNC flag, its number in the suppression
-- set for any reason, or its e-mail there for an opt-out (an opt-out covers
-- every channel; a bounced e-mail says nothing about the phone).
select l.id, l.assigned_broker_id, l.phone_ciphertext,
       (l.campaign_status in ('unsubscribed', 'do_not_contact')
        or l.phone_dnc
        or exists (
          select 1 from suppressions s
          where (s.channel = 'phone' and s.value_index = l.phone_index)
             or (s.channel = 'email' and s.value_index = l.email_index
                 and s.reason <> 'bounced')
        )) as forbidden
from leads l
where l.id = %(id)s

-- name: caller_lead
-- The lead an inbound caller's number belongs to (the most recently fed one, as
-- replies/queries.sql leads_by_phone orders them), and whether it may be contacted.
select l.id, l.assigned_broker_id,
       (l.campaign_status in ('unsubscribed', 'do_not_contact')
        or l.phone_dnc
        or exists (
          select 1 from suppressions s
          where (s.channel = 'phone' and s.value_index = l.phone_index)
             or (s.channel = 'email' and s.value_index = l.email_index
                 and s.reason <> 'bounced')
        )) as forbidden
from leads l
where l.phone_index = %(index)s
order by l.added_to_campaign_at desc nulls last, l.id
limit 1
