-- Inbound webhooks: stored first, processed later.

-- name: store_event
insert into inbound_events (provider, external_id, event_type, payload_ciphertext)
values (%(provider)s, %(external_id)s, %(event_type)s, %(payload)s)
on conflict on constraint inbound_events_provider_external_id_key do nothing
returning id

-- name: existing_event
select id, status from inbound_events where provider = %(provider)s and external_id = %(external_id)s

-- name: load_event
select id, provider, external_id, event_type, payload_ciphertext, status
from inbound_events where id = %(id)s for update

-- name: finish_event
update inbound_events set status = %(status)s, lead_id = %(lead_id)s, error = %(error)s,
  processed_at = clock_timestamp()
where id = %(id)s

-- name: fail_event
update inbound_events set status = 'failed', lead_id = null, error = %(error)s,
  processed_at = clock_timestamp()
where id = %(id)s and status in ('received', 'failed')
