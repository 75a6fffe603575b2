-- name: record_security_event
-- One row for `hits` refusals of a kind, code and address (security/events.py).
insert into security_events (kind, code, remote_addr, detail, hits, occurred_at, last_at)
values (%(kind)s, %(code)s, %(remote_addr)s, %(detail)s, %(hits)s, %(first_at)s, %(last_at)s)

-- name: prune_security_events
-- Retention (EC_SECURITY_EVENT_RETENTION_DAYS), a bounded batch per write,
-- oldest first along security_events_time_idx.
delete from security_events
where id in (
  select id from security_events
  where occurred_at < now() - make_interval(days => %(days)s)
  order by occurred_at
  limit 1000
)
