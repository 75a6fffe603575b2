-- Cal.com bookings.

-- name: booking_lock_keys
-- The advisory-lock keys of the uids an event touches, in one global order
-- (two events locking {A,B} and {B,C} can never wait on each other in a cycle).
select distinct hashtext(u) as key from unnest(%(uids)s::text[]) as u order by key

-- name: lock_booking
-- Two-int form: a namespace of its own, apart from the single-key LockKey locks.
select pg_advisory_xact_lock(%(namespace)s::int, %(key)s::int)

-- name: upsert_booking
-- A booking that was rescheduled or cancelled stays so: a late or replayed
-- CREATED never brings it back to life.
insert into bookings (lead_id, broker_id, calcom_uid, calcom_booking_id, status, start_time,
                      end_time, event_type, rescheduled_from)
values (%(lead_id)s, %(broker_id)s, %(uid)s, %(booking_id)s, 'accepted', %(start)s, %(end)s,
        %(event_type)s, %(rescheduled_from)s)
on conflict on constraint bookings_calcom_uid_key do update set
  start_time = coalesce(excluded.start_time, bookings.start_time),
  end_time = coalesce(excluded.end_time, bookings.end_time),
  rescheduled_from = coalesce(bookings.rescheduled_from, excluded.rescheduled_from)
where bookings.status = 'accepted'
returning id, (xmax = 0) as created

-- name: booking_by_uid
select id, lead_id, broker_id, status from bookings where calcom_uid = %(uid)s

-- name: introduction_ignored
-- Whether the event that introduced this uid (its CREATED, or the RESCHEDULED
-- that made it) came and was ignored: the booking is not one of our leads'.
-- External ids are "<triggerEvent>:<uid>" (inbound/routes.py _identify_calcom).
select exists (
  select 1 from inbound_events
  where provider = 'calcom' and status = 'ignored'
    and external_id in ('BOOKING_CREATED:' || %(uid)s, 'BOOKING_RESCHEDULED:' || %(uid)s)
) as ignored

-- name: cancel_booking
update bookings set status = 'cancelled'
where calcom_uid = %(uid)s and status <> 'cancelled'
returning lead_id

-- name: reschedule_old
update bookings set status = 'rescheduled' where calcom_uid = %(uid)s and status = 'accepted'

-- name: lock_lead
-- Settling a lead reads all its bookings; the row lock makes a second event of
-- the same lead (another booking) wait and then see this one's bookings.
select id from leads where id = %(lead_id)s for update

-- name: mark_booked
-- A booking never undoes an opt-out.
update leads set campaign_status = 'converted'
where id = %(lead_id)s and campaign_status not in ('unsubscribed', 'do_not_contact', 'bounced')
  and exists (select 1 from bookings b where b.lead_id = %(lead_id)s and b.status = 'accepted')

-- name: unbook
-- A lead without an accepted booking is no longer converted; it returns to
-- 'replied' (it stays engaged). A rescheduled booking is not live: its
-- replacement is, until that is cancelled.
update leads set campaign_status = 'replied'
where id = %(lead_id)s and campaign_status = 'converted'
  and not exists (select 1 from bookings b where b.lead_id = %(lead_id)s and b.status = 'accepted')

-- name: setup_brokers
-- Active brokers, for `calcom setup` (each needs its own Cal.com API key).
select id, name, email, calcom_event_url from brokers where active order by lower(email)

-- name: calcom_webhook_of
select broker_id, calcom_user_id, webhook_id, subscriber_url, secret_ciphertext
from calcom_webhooks where broker_id = %(broker_id)s

-- name: save_calcom_webhook
-- The secret is saved before Cal.com is told it, so an interrupted set-up
-- resumes with the same secret and every delivery signed with it verifies.
insert into calcom_webhooks (broker_id, calcom_user_id, webhook_id, subscriber_url, secret_ciphertext)
values (%(broker_id)s, %(calcom_user_id)s, %(webhook_id)s, %(subscriber_url)s, %(secret)s)
on conflict (broker_id) do update set
  calcom_user_id = excluded.calcom_user_id,
  webhook_id = coalesce(excluded.webhook_id, calcom_webhooks.webhook_id),
  subscriber_url = excluded.subscriber_url,
  secret_ciphertext = excluded.secret_ciphertext

-- name: calcom_webhook_secrets
-- Every stored Cal.com webhook secret (encrypted), for the inbound verifier.
select broker_id, secret_ciphertext from calcom_webhooks

-- name: save_calcom_event_type
insert into calcom_event_types (broker_id, slug, event_type_id, length_minutes, booking_url)
values (%(broker_id)s, %(slug)s, %(event_type_id)s, %(length_minutes)s, %(booking_url)s)
on conflict (broker_id, slug) do update set
  event_type_id = excluded.event_type_id,
  length_minutes = excluded.length_minutes,
  booking_url = excluded.booking_url
where (calcom_event_types.event_type_id, calcom_event_types.length_minutes,
       calcom_event_types.booking_url)
  is distinct from (excluded.event_type_id, excluded.length_minutes, excluded.booking_url)

-- name: set_broker_booking_link
-- The consent page's booking link: the broker's equity-call event type.
update brokers set calcom_event_url = %(url)s
where id = %(broker_id)s and calcom_event_url is distinct from %(url)s
