-- Cal.com bookings.

-- name: upsert_booking
insert into bookings (lead_id, broker_id, calcom_uid, calcom_booking_id, status, start_time,
                      end_time, event_type, rescheduled_from)
values (%(lead_id)s, %(broker_id)s, %(uid)s, %(booking_id)s, %(status)s, %(start)s, %(end)s,
        %(event_type)s, %(rescheduled_from)s)
on conflict on constraint bookings_calcom_uid_key do update set
  status = excluded.status, start_time = coalesce(excluded.start_time, bookings.start_time),
  end_time = coalesce(excluded.end_time, bookings.end_time)
returning id, (xmax = 0) as created

-- name: booking_by_uid
select id, lead_id, broker_id from bookings where calcom_uid = any(%(uids)s) limit 1

-- name: cancel_booking
update bookings set status = 'cancelled' where calcom_uid = any(%(uids)s) returning lead_id

-- name: reschedule_old
update bookings set status = 'rescheduled' where calcom_uid = %(uid)s and status <> 'cancelled'

-- name: mark_booked
-- A booking never undoes an opt-out.
update leads set campaign_status = 'converted'
where id = %(lead_id)s and campaign_status not in ('unsubscribed', 'do_not_contact', 'bounced')

-- name: unbook
-- A cancelled booking returns a converted lead to 'replied' (it stays engaged).
update leads set campaign_status = 'replied'
where id = %(lead_id)s and campaign_status = 'converted'
  and not exists (select 1 from bookings b where b.lead_id = %(lead_id)s and b.status <> 'cancelled')
