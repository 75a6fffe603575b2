-- Ops review of grey-zone property matches (match_reviews, migration 0022).

-- name: reviews
select r.id, r.created_at, r.upload_id, r.row_number, r.lead_id, r.other_lead_id, r.score,
       r.evidence, r.status, r.decided_at, r.decided_by,
       a.property_address as address, a.property_city as city, a.owner_first_name as first,
       a.owner_last_name as last,
       b.property_address as other_address, b.property_city as other_city,
       b.owner_first_name as other_first, b.owner_last_name as other_last
from match_reviews r
left join leads a on a.id = r.lead_id
left join leads b on b.id = r.other_lead_id
where (%(status)s::text is null or r.status = %(status)s)
order by r.created_at, r.id
limit %(limit)s

-- name: review_for_update
select id, lead_id, other_lead_id, status from match_reviews where id = %(id)s for update

-- name: decide_review
update match_reviews set status = %(status)s, decided_at = now(), decided_by = %(who)s
where id = %(id)s

-- name: lead_history
-- What a lead has beyond its upload rows: a merge is refused when there is
-- any (its replies, calls, consent and bookings would need reconciling).
select
  (select count(*) from upload_rows u where u.lead_id = %(id)s and u.status <> 'rejected') as rows,
  (select count(*) from inbound_events x where x.lead_id = %(id)s) as replies,
  (select count(*) from consent_records x where x.lead_id = %(id)s) as consents,
  (select count(*) from bookings x where x.lead_id = %(id)s) as bookings,
  (select count(*) from lead_notes x where x.lead_id = %(id)s) as notes,
  (select count(*) from lead_contacts x where x.lead_id = %(id)s) as contacts,
  (select added_to_campaign_at is not null from leads where id = %(id)s) as fed

-- name: move_lineage
update upload_rows set lead_id = %(into)s, status = 'merged', match_key = 'probabilistic'
where lead_id = %(from)s and status <> 'rejected'

-- name: merge_pii_source
select id, email_ciphertext, email_index, phone_ciphertext, phone_index
from leads where id = any(%(ids)s::uuid[])

-- name: set_lead_email
update leads set email_ciphertext = %(ciphertext)s, email_index = %(index)s where id = %(id)s

-- name: set_lead_phone
update leads set phone_ciphertext = %(ciphertext)s, phone_index = %(index)s where id = %(id)s

-- name: delete_lead
delete from leads where id = %(id)s
