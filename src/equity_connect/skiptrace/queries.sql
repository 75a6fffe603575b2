-- Skip-trace enrichment.

-- name: leads_for_lookup
select id, owner_first_name, owner_last_name, property_address, property_city,
       property_state, property_zip, mak, addr_hash, county_fips, apn_normalized,
       email_ciphertext, phone_ciphertext
from leads where id = any(%(lead_ids)s)
order by id

-- name: stored_requests
-- This window's answers by key, and any answer for the same lead younger than
-- the window (stored in the previous window, or under an older key format).
-- Newest first per lead; the caller keeps the first.
select lead_id, idempotency_key, response_ciphertext
from skiptrace_requests
where provider = %(provider)s
  and response_ciphertext is not null
  and (idempotency_key = any(%(keys)s)
       or (lead_id = any(%(lead_ids)s)
           and created_at > %(now)s::timestamptz - make_interval(days => %(window_days)s)))
order by lead_id, (idempotency_key = any(%(keys)s)) desc, created_at desc, id desc

-- name: store_request
insert into skiptrace_requests (provider, idempotency_key, lead_id, matched, response_ciphertext)
values (%(provider)s, %(key)s, %(lead_id)s, %(matched)s, %(response)s)
on conflict on constraint skiptrace_requests_key do nothing

-- name: upsert_contact
-- Codes are unioned without duplicates; flags are re-derived from them.
insert into lead_contacts as c (
  lead_id, channel, value_ciphertext, value_index, provider, codes, verified, dnc,
  phone_type, score
) values (
  %(lead_id)s, %(channel)s, %(ciphertext)s, %(index)s, %(provider)s, %(codes)s, %(verified)s,
  %(dnc)s, %(phone_type)s, %(score)s
)
on conflict on constraint lead_contacts_value_key do update set
  codes = array(select distinct x from unnest(c.codes || excluded.codes) as x order by x),
  verified = c.verified or excluded.verified,
  dnc = c.dnc or excluded.dnc,
  phone_type = coalesce(excluded.phone_type, c.phone_type),
  score = coalesce(excluded.score, c.score),
  updated_at = clock_timestamp()

-- name: apply_enrichment
-- The plan's merge rules: booleans OR'd, code arrays unioned without
-- duplicates, payload merged into jsonb, COALESCE so a blank never
-- overwrites. A MAK is only taken when no other lead holds it.
update leads l set
  mak = coalesce(l.mak, case when not exists (
          select 1 from leads o where o.mak = %(mak)s) then %(mak)s end),
  email_verified = l.email_verified or %(email_verified)s,
  phone_verified = l.phone_verified or %(phone_verified)s,
  -- DNC follows the number the lead will be called on
  phone_dnc = l.phone_dnc or (
    case when %(phone_is_better)s or l.phone_ciphertext is null
         then coalesce(%(phone_index)s, l.phone_index) else l.phone_index end
  ) = any(%(dnc_indexes)s::bytea[]),
  email_verification_codes = array(
    select distinct x from unnest(l.email_verification_codes || %(email_codes)s::text[]) as x
    order by x),
  phone_verification_codes = array(
    select distinct x from unnest(l.phone_verification_codes || %(phone_codes)s::text[]) as x
    order by x),
  skiptrace_payload = l.skiptrace_payload || %(payload)s,
  -- the primary contact: a verified one from the provider replaces an
  -- unverified one; otherwise it only fills a gap
  email_ciphertext = case when %(email_is_better)s or l.email_ciphertext is null
                          then coalesce(%(email_ciphertext)s, l.email_ciphertext)
                          else l.email_ciphertext end,
  email_index = case when %(email_is_better)s or l.email_ciphertext is null
                     then coalesce(%(email_index)s, l.email_index) else l.email_index end,
  phone_ciphertext = case when %(phone_is_better)s or l.phone_ciphertext is null
                          then coalesce(%(phone_ciphertext)s, l.phone_ciphertext)
                          else l.phone_ciphertext end,
  phone_index = case when %(phone_is_better)s or l.phone_ciphertext is null
                     then coalesce(%(phone_index)s, l.phone_index) else l.phone_index end,
  enriched_at = clock_timestamp(),
  enrichment_attempted_at = clock_timestamp()
where l.id = %(lead_id)s

-- name: mark_attempted
update leads set enrichment_attempted_at = clock_timestamp() where id = any(%(lead_ids)s)

-- name: score_inputs
select id, estimated_value, estimated_equity, owner_age, phone_verified, email_verified,
       phone_dnc, coalesce(enriched_at, created_at) as data_as_of
from leads where id = any(%(lead_ids)s)

-- name: set_score
update leads set lead_score = %(score)s, score_breakdown = %(breakdown)s
where id = %(lead_id)s and (lead_score <> %(score)s or score_breakdown <> %(breakdown)s)

-- name: upload_leads_to_enrich
-- Leads an upload created or touched that were not enriched recently.
select distinct r.lead_id
from upload_rows r join leads l on l.id = r.lead_id
where r.upload_id = %(upload_id)s and r.status in ('inserted', 'merged')
  and (l.enriched_at is null or l.enriched_at < now() - make_interval(days => %(window_days)s))
order by r.lead_id

-- name: record_event
insert into pipeline_events (stage, outcome, count, duration_ms, provider, status_code,
                             upload_id, correlation_id, detail)
values (%(stage)s, %(outcome)s, %(count)s, %(duration_ms)s, %(provider)s, %(status_code)s,
        %(upload_id)s, %(correlation_id)s, %(detail)s)

-- name: pending_jobs
-- Skip-trace jobs waiting for a worker (the start-up check's count).
select count(*) as n from jobs where status in ('queued', 'running') and task = any(%(tasks)s)
