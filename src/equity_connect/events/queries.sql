-- Outbound events: endpoints, deliveries and the delivery log.
-- Events themselves are recorded by the migration's triggers (0016).

-- name: insert_endpoint
insert into event_endpoints (id, url, description, event_types, secret_ciphertext, allow_pii)
values (%(id)s, %(url)s, %(description)s, %(event_types)s, %(secret_ciphertext)s, %(allow_pii)s)
returning id, url, description, event_types, allow_pii, enabled, consecutive_failures,
          breaker_open_until, created_at

-- name: list_endpoints
select id, url, description, event_types, allow_pii, enabled, consecutive_failures,
       breaker_open_until, created_at
from event_endpoints
where (%(include_disabled)s or enabled)
order by created_at, id

-- name: set_endpoint_enabled
update event_endpoints set enabled = %(enabled)s, updated_at = now()
where id = %(id)s
returning id, url, description, event_types, allow_pii, enabled, consecutive_failures,
          breaker_open_until, created_at

-- name: take_delivery
-- The delivery with what sending it needs, locked for this short transaction
-- (never across the HTTP request: the lease, locked_until, covers that).
select d.id, d.status, d.attempts, d.replays, d.next_attempt_at, d.locked_until,
       d.next_attempt_at > clock_timestamp() as not_due,
       d.locked_until > clock_timestamp() as leased,
       extract(epoch from d.locked_until - clock_timestamp())::float8 as lease_left,
       e.id as endpoint_id, e.url, e.secret_ciphertext, e.allow_pii, e.enabled,
       e.consecutive_failures, e.breaker_open_until,
       e.breaker_open_until > clock_timestamp() as breaker_open,
       ev.id as event_id, ev.event_type, ev.occurred_at, ev.lead_id, ev.data
from event_deliveries d
join event_endpoints e on e.id = d.endpoint_id
join outbound_events ev on ev.id = d.event_id
where d.id = %(id)s
for update of d

-- name: claim_probe
-- After the cool-down one delivery, the probe, gets through; the breaker is
-- re-armed at once, so every other delivery of the endpoint keeps waiting.
update event_endpoints
set breaker_open_until = clock_timestamp() + make_interval(secs => %(cooldown)s)
where id = %(id)s and (breaker_open_until is null or breaker_open_until <= clock_timestamp())
returning id

-- name: defer_delivery
update event_deliveries
set next_attempt_at = greatest(
      clock_timestamp(),
      (select e.breaker_open_until from event_endpoints e where e.id = event_deliveries.endpoint_id)
    ) + make_interval(secs => %(jitter)s),
    last_error = %(reason)s
where id = %(id)s
returning next_attempt_at

-- name: lease_delivery
update event_deliveries
set attempts = attempts + 1, next_attempt_at = null,
    locked_until = clock_timestamp() + make_interval(secs => %(lease)s)
where id = %(id)s
returning attempts

-- name: log_attempt
insert into event_delivery_attempts (delivery_id, round, attempt, outcome, status_code, error,
                                     duration_ms)
values (%(delivery_id)s, %(round)s, %(attempt)s, %(outcome)s, %(status_code)s, %(error)s,
        %(duration_ms)s)

-- name: mark_delivered
update event_deliveries
set status = 'delivered', delivered_at = clock_timestamp(), last_status_code = %(status_code)s,
    last_error = null, locked_until = null, next_attempt_at = null
where id = %(id)s

-- name: mark_retry
update event_deliveries
set last_status_code = %(status_code)s, last_error = %(error)s, locked_until = null,
    next_attempt_at = clock_timestamp() + make_interval(secs => %(delay)s)
where id = %(id)s
returning next_attempt_at

-- name: mark_failed
update event_deliveries
set status = 'failed', last_status_code = %(status_code)s, last_error = %(error)s,
    locked_until = null, next_attempt_at = null
where id = %(id)s

-- name: endpoint_succeeded
update event_endpoints set consecutive_failures = 0, breaker_open_until = null
where id = %(id)s and (consecutive_failures <> 0 or breaker_open_until is not null)

-- name: endpoint_failed
-- The breaker opens when the failures in a row reach the threshold (and a
-- failed probe re-opens it for another cool-down).
update event_endpoints
set consecutive_failures = consecutive_failures + 1,
    breaker_open_until = case
      when consecutive_failures + 1 >= %(threshold)s
        then clock_timestamp() + make_interval(secs => %(cooldown)s)
      else breaker_open_until end
where id = %(id)s
returning consecutive_failures, breaker_open_until

-- name: lead_contact
-- Only for an endpoint allowed PII: the lead's contact details (ciphertexts
-- decrypted in the application).
select id, owner_first_name, owner_last_name, property_address, property_unit, property_city,
       property_state, property_zip, email_ciphertext, phone_ciphertext
from leads where id = %(id)s

-- name: list_deliveries
select d.id, d.event_id, ev.event_type, d.endpoint_id, d.status, d.attempts,
       d.last_status_code, d.last_error, d.next_attempt_at, d.delivered_at, d.replays,
       d.created_at
from event_deliveries d join outbound_events ev on ev.id = d.event_id
where (%(endpoint_id)s::uuid is null or d.endpoint_id = %(endpoint_id)s::uuid)
  and (%(status)s::event_delivery_status is null or d.status = %(status)s::event_delivery_status)
order by d.id desc
limit %(limit)s

-- name: get_delivery
select d.id, d.event_id, ev.event_type, d.endpoint_id, d.status, d.attempts,
       d.last_status_code, d.last_error, d.next_attempt_at, d.delivered_at, d.replays,
       d.created_at
from event_deliveries d join outbound_events ev on ev.id = d.event_id
where d.id = %(id)s

-- name: delivery_log
select round, attempt, outcome, status_code, error, duration_ms, attempted_at
from event_delivery_attempts where delivery_id = %(id)s order by id

-- name: replay_delivery
-- A finished delivery (delivered or failed) goes out again with the same
-- webhook-id, as a new round of attempts. A pending one already has its job.
update event_deliveries
set status = 'pending', attempts = 0, replays = replays + 1, next_attempt_at = null,
    locked_until = null, delivered_at = null
where id = %(id)s and status in ('delivered', 'failed')
returning id

-- name: replay_failed
update event_deliveries
set status = 'pending', attempts = 0, replays = replays + 1, next_attempt_at = null,
    locked_until = null
where status = 'failed' and (%(endpoint_id)s::uuid is null or endpoint_id = %(endpoint_id)s::uuid)
returning id
