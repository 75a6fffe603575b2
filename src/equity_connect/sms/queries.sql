-- Texts: confirmed numbers, outbound messages with their guards, keyword state.

-- name: confirm_number
-- The first confirmation of a number for a lead stays; later ones refresh its time
-- (the most recently confirmed number is the one texted).
insert into sms_numbers (lead_id, phone_index, phone_ciphertext, source)
values (%(lead_id)s, %(index)s, %(ciphertext)s, %(source)s)
on conflict on constraint sms_numbers_pkey do update set confirmed_at = now()

-- name: queue_message
insert into sms_messages (lead_id, kind, dedupe_key, booking_uid)
values (%(lead_id)s, %(kind)s, %(dedupe_key)s, %(booking_uid)s)
on conflict on constraint sms_messages_dedupe_key_key do nothing
returning id

-- name: load_message
-- The message, its lead and whether any rule forbids texting the lead at all: an
-- opt-out or wrong-contact status, the DNC flag, or its e-mail or phone suppressed
-- (an opt-out on any channel covers every channel; a bounce says nothing of texts).
select m.id, m.lead_id, m.kind, m.status, m.booking_uid, m.attempts,
       l.property_state, l.property_zip, l.owner_first_name, l.assigned_broker_id,
       b.name as broker_name,
       (l.campaign_status in ('unsubscribed', 'do_not_contact')
        or l.phone_dnc
        or exists (
          select 1 from suppressions s
          where (s.channel = 'phone' and s.value_index = l.phone_index)
             or (s.channel = 'email' and s.value_index = l.email_index
                 and s.reason <> 'bounced')
        )) as forbidden
from sms_messages m
join leads l on l.id = m.lead_id
left join brokers b on b.id = l.assigned_broker_id
where m.id = %(id)s
for update of m

-- name: textable_number
-- The lead's most recently confirmed number that nothing blocks: not suppressed for
-- any reason, not opted out at the carrier by a keyword.
select n.phone_index, n.phone_ciphertext, n.source
from sms_numbers n
where n.lead_id = %(lead_id)s
  and not exists (
    select 1 from suppressions s where s.channel = 'phone' and s.value_index = n.phone_index
  )
  and not exists (
    select 1 from sms_opt_outs o where o.phone_index = n.phone_index and o.opted_out
  )
order by n.confirmed_at desc
limit 1

-- name: booking_for_text
select b.start_time, br.name as broker_name
from bookings b
left join brokers br on br.id = b.broker_id
where b.calcom_uid = %(uid)s

-- name: defer_message
update sms_messages set not_before = %(not_before)s, reason = %(reason)s, updated_at = now()
where id = %(id)s

-- name: claim_day
-- The lead's one text of the day: the partial unique index
-- sms_messages_one_per_day refuses a second claim for the same lead and day.
update sms_messages set status = 'sending', send_day = %(day)s, provider = %(provider)s,
  attempts = attempts + 1, reason = null, updated_at = now()
where id = %(id)s and status = 'queued'

-- name: release_claim
-- The send is known not to have happened: the day is free again.
update sms_messages set status = 'queued', send_day = null, reason = %(reason)s,
  updated_at = now()
where id = %(id)s and status = 'sending'

-- name: mark_sent
update sms_messages set status = 'sent', provider_sid = %(sid)s, sent_at = now(),
  updated_at = now()
where id = %(id)s and status = 'sending'

-- name: finish_message
-- skipped (a guard says never), failed (the provider refused it for good) or
-- uncertain (it may have gone out): never sent again.
update sms_messages set status = %(status)s, reason = %(reason)s, updated_at = now(),
  send_day = case when %(status)s = 'uncertain' then send_day else null end
where id = %(id)s and status in ('queued', 'sending')

-- name: set_keyword_state
insert into sms_opt_outs (phone_index, opted_out, keyword)
values (%(index)s, %(opted_out)s, %(keyword)s)
on conflict (phone_index) do update
  set opted_out = excluded.opted_out, keyword = excluded.keyword, changed_at = now()

-- name: message_of
select id, lead_id, kind, status, send_day, not_before, provider_sid, reason
from sms_messages where id = %(id)s

-- name: record_event
insert into pipeline_events (stage, outcome, count, provider, lead_id, broker_id, correlation_id, detail)
select 'texted', %(outcome)s, 1, 'signalwire', m.lead_id, l.assigned_broker_id, %(correlation_id)s,
       %(detail)s || jsonb_build_object('kind', m.kind)
from sms_messages m join leads l on l.id = m.lead_id
where m.id = %(id)s

-- name: leads_by_sms_number
-- Leads for which the homeowner confirmed this number (as replies/queries.sql orders them).
select id, assigned_broker_id, campaign_status, email_index, phone_index
from leads
where id in (select lead_id from sms_numbers where phone_index = %(index)s)
order by added_to_campaign_at desc nulls last, id

-- name: queued_texts
select count(*) as n from sms_messages where status = 'queued'

-- name: demo_text_summary
-- The demo's one-line account of texts (no number, no text).
select status, reason, count(*) as n from sms_messages group by status, reason order by status, reason

-- name: demo_deferred_until
-- The demo's clock jump: the latest time a text waits for.
select max(not_before) as until from sms_messages where status = 'queued' and not_before is not null

-- name: demo_run_deferred_now
-- The demo only: make the waiting send jobs due now (their clock is moved instead).
update jobs set run_at = now()
where task = 'sms.send_text' and status = 'queued' and run_at > now()
