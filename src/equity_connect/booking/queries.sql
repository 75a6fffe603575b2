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
