-- Consent tokens and records.

-- name: issue_token
insert into consent_tokens (lead_id, broker_id, nonce_hash, expires_at)
values (%(lead_id)s, %(broker_id)s, %(nonce_hash)s,
        clock_timestamp() + make_interval(hours => %(ttl_hours)s))
returning id, expires_at

-- name: redeem_token
-- Single use, atomically: of any number of concurrent redemptions only one
-- finds used_at still null.
update consent_tokens set used_at = clock_timestamp()
where nonce_hash = %(nonce_hash)s and used_at is null and expires_at > clock_timestamp()
  and (%(lead_id)s::uuid is null or lead_id = %(lead_id)s::uuid)
returning id, lead_id, broker_id

-- name: token_state
select id, lead_id, broker_id, used_at, expires_at, expires_at <= clock_timestamp() as expired
from consent_tokens where nonce_hash = %(nonce_hash)s

-- name: token_by_id
select t.id, t.lead_id, t.broker_id, b.calcom_event_url
from consent_tokens t left join brokers b on b.id = t.broker_id
where t.id = %(id)s

-- name: record_consent
insert into consent_records (lead_id, broker_id, token_id, method, disclosure_version,
                             source_ip, user_agent, call_id)
values (%(lead_id)s, %(broker_id)s, %(token_id)s, %(method)s, %(disclosure_version)s,
        %(source_ip)s, %(user_agent)s, %(call_id)s)
returning id, consented_at

-- name: set_lead_consent
update leads set consent = true, consented_at = coalesce(consented_at, %(at)s),
  consent_method = %(method)s
where id = %(lead_id)s

-- name: link_state
-- What the consent page needs before anyone clicks: is the link good, and
-- whose loan officer is asking (the token's broker, else the lead's).
select t.used_at, t.expires_at <= clock_timestamp() as expired,
       coalesce(b.name, lb.name) as broker_name
from consent_tokens t
join leads l on l.id = t.lead_id
left join brokers b on b.id = t.broker_id
left join brokers lb on lb.id = l.assigned_broker_id
where t.nonce_hash = %(nonce_hash)s
