-- name: queue_notification
insert into notifications (broker_id, lead_id, kind, dedupe_key)
values (%(broker_id)s, %(lead_id)s, %(kind)s, %(dedupe_key)s)
on conflict on constraint notifications_dedupe_key do nothing
returning id

-- name: load_notification
select n.id, n.kind, n.status, n.lead_id, b.name as broker_name, b.email as broker_email,
       b.notify_webhook_url, l.owner_first_name, l.property_city, l.property_state,
       l.last_reply_intent
from notifications n
join brokers b on b.id = n.broker_id
left join leads l on l.id = n.lead_id
where n.id = %(id)s

-- name: mark_notification
update notifications set status = %(status)s::notification_status, error = %(error)s,
  sent_at = case when %(status)s::text = 'sent' then clock_timestamp() else sent_at end
where id = %(id)s
