-- Ingest: staging, in-file dedupe, match against existing leads, merge, lineage.
-- Every statement runs inside the one transaction of an upload.

-- name: claim_upload
-- The body's SHA-256 is the upload's identity while that upload lives (is
-- not failed: 0019's partial unique index). A concurrent request with the
-- same bytes blocks here until the first commits, then gets no row back.
insert into uploads (sha256, source, filename, byte_size, signature_scheme, status, phase,
                     uploaded_by)
values (%(sha256)s, %(source)s, %(filename)s, %(byte_size)s, %(scheme)s, %(status)s, %(phase)s,
        %(uploaded_by)s)
on conflict (sha256) where status <> 'failed' do nothing
returning id

-- name: upload_by_sha256
select id, sha256, status, row_count, inserted_count, merged_count, rejected_count, error,
       encoding, delimiter, warnings,
       extract(epoch from (coalesce(completed_at, now()) - received_at))::float8 as seconds
from uploads where sha256 = %(sha256)s and status <> 'failed'

-- name: create_stage
create temp table ingest_stage (like public.leads_staging including defaults) on commit drop

-- name: copy_stage
copy ingest_stage (
  upload_id, row_number, line_number, lead_hint, mak, county_fips, apn, apn_normalized,
  addr_hash, owner_first_name, owner_last_name, owner_age, property_address, property_unit,
  property_city, property_state, property_zip, estimated_value, estimated_equity, year_built,
  source, email_ciphertext, email_index, phone_ciphertext, phone_index, raw_extra_ciphertext, notes
) from stdin

-- name: create_rejects
-- COPY FROM refuses a table under row-level security unless the role
-- bypasses it, and the application's login (ec_app) does not: rejects are
-- copied into a scratch table and inserted from there.
create temp table ingest_rejects (like public.upload_rows including defaults) on commit drop

-- name: copy_rejects
copy ingest_rejects (upload_id, row_number, line_number, status, field, reason, raw_ciphertext)
from stdin

-- name: insert_rejects
insert into upload_rows (upload_id, row_number, line_number, status, field, reason, raw_ciphertext)
select upload_id, row_number, line_number, status, field, reason, raw_ciphertext
from ingest_rejects

-- name: tune_merge
-- The in-file dedupe aggregates hash a million keys; at the default 4MB
-- they spill to disk. No parallel workers: create_merged relies on reading
-- its sorted input in order. Transaction-local, so both end with the upload.
select set_config('work_mem', '128MB', true),
       set_config('max_parallel_workers_per_gather', '0', true)

-- name: analyze_stage
analyze ingest_stage

-- name: create_links
-- In-file duplicates as (key, first row, row) links: every row whose key
-- value an earlier row of this file already has, with that earliest row;
-- key 1 = MAK, 2 = county + APN, 3 = address hash (the match priority).
-- Two passes over the stage, whatever the number of keys: one hash
-- aggregate per key in a single scan (grouping sets), then one scan that
-- looks every row up in all three. (An ordered array_agg per group built a
-- sort per group; a pass per key read the wide stage six times.)
create temp table ingest_links on commit drop as
with dup as materialized (
  select grouping(mak) as no_mak, grouping(county_fips, apn_normalized) as no_apn,
         mak, county_fips, apn_normalized, addr_hash, min(row_number) as first
  from ingest_stage
  group by grouping sets ((mak), (county_fips, apn_normalized), (addr_hash))
  having count(*) > 1
), mak as (
  select mak, first from dup where no_mak = 0 and mak is not null
), apn as (
  select county_fips, apn_normalized, first from dup
  where no_apn = 0 and county_fips is not null and apn_normalized is not null
), addr as (
  select addr_hash, first from dup where no_mak = 1 and no_apn = 3 and addr_hash is not null
), linked as (
  select s.row_number, m.first as by_mak, a.first as by_apn, h.first as by_addr
  from ingest_stage s
  left join mak m on m.mak = s.mak
  left join apn a on a.county_fips = s.county_fips and a.apn_normalized = s.apn_normalized
  left join addr h on h.addr_hash = s.addr_hash
  where m.first is not null or a.first is not null or h.first is not null
)
select 1 as key, by_mak as first, row_number as row from linked
where by_mak is not null and by_mak <> row_number
union all
select 2, by_apn, row_number from linked where by_apn is not null and by_apn <> row_number
union all
select 3, by_addr, row_number from linked where by_addr is not null and by_addr <> row_number

-- name: create_edges
-- The links both ways round, once: every round of settle_components reads them.
create temp table ingest_edges on commit drop as
select first as a, row as b, key from ingest_links
union all
select row, first, key from ingest_links

-- name: create_components
-- Rows of this file linked by any shared key, transitively, are one
-- property: the connected components of the links. root: the first row of
-- the row's component (the one that becomes the lead); link: the strongest
-- key linking the row. Seeded from each row's direct links, then settled
-- by settle_components; computed here rather than in the application so
-- memory stays flat however many duplicates a file has.
create temp table ingest_components on commit drop as
select a as row_number, least(a, min(b)) as root,
       (array['mak', 'apn', 'addr_hash']::match_key[])[min(key)] as link
from ingest_edges group by a

-- name: index_components
alter table ingest_components add primary key (row_number)

-- name: settle_components
-- One round towards the fixed point where every row's root is the smallest
-- row of its component. Each row takes the smallest of: its linked rows'
-- roots, its root's own root (pointer jumping), and, for a row that is
-- some linked row's root, that row's neighbours' roots (hooking: a root
-- hears of a smaller root without waiting for it to travel the chain).
-- Roots only decrease and stay inside the component, so at the fixed point
-- every row holds its component's smallest row. The caller repeats until
-- no row changes.
with offers as (
  select e.a as node, nb.root from ingest_edges e
  join ingest_components nb on nb.row_number = e.b
  union all
  select me.root, nb.root from ingest_edges e
  join ingest_components me on me.row_number = e.a
  join ingest_components nb on nb.row_number = e.b
  union all
  select c.row_number, r.root from ingest_components c
  join ingest_components r on r.row_number = c.root
), best as (
  select node, min(root) as root from offers group by node
)
update ingest_components c set root = b.root
from best b
where b.node = c.row_number and b.root < c.root

-- name: analyze_components
analyze ingest_components

-- name: count_components
select count(*) as rows, count(*) filter (where root = row_number) as components
from ingest_components

-- name: any_lead_exists
select exists (select 1 from leads) as any

-- name: create_targets
-- For each component that matches an existing lead: the lead, by the
-- strongest key any of its rows matches (MAK, then county + APN, then
-- address), earliest row first.
create temp table ingest_targets on commit drop as
select distinct on (root) root, lead_id, key as match_key
from (
  select coalesce(c.root, s.row_number) as root, s.row_number, m.lead_id, m.key, m.prio
  from ingest_stage s
  left join ingest_components c on c.row_number = s.row_number
  cross join lateral (
    (select l.id as lead_id, 'mak'::match_key as key, 1 as prio
       from leads l where s.mak is not null and l.mak = s.mak)
    union all
    (select l.id, 'apn'::match_key, 2
       from leads l
      where s.apn_normalized is not null
        and l.county_fips = s.county_fips and l.apn_normalized = s.apn_normalized)
    union all
    (select l.id, 'addr_hash'::match_key, 3
       from leads l where s.addr_hash is not null and l.addr_hash = s.addr_hash)
    order by prio
    limit 1
  ) m
) matched
order by root, prio, row_number

-- name: create_empty_targets
create temp table ingest_targets (
  root integer primary key, lead_id uuid not null, match_key match_key not null
) on commit drop

-- name: create_merged
-- One row per merge unit: an existing lead with every component of this file
-- that matched it, or a new multi-row component. Values fold in file order.
-- Property and owner facts: the latest non-blank value wins (a newer row is
-- fresher; a blank never overwrites). Except the owner's name and the
-- property's address from a row joined by probability (the pass, a typo'd
-- re-appearance): those never overwrite, they only fill a blank ("_any", the
-- first such value), so a misspelt row does not rename the lead it matched. Identity keys and contact PII: the
-- first non-blank value wins, and an existing lead's value wins over both
-- (see merge_into_existing).
--
-- The aggregates read their input in file order from the sorted subquery
-- (grouped by a prefix of its sort key, so no re-sort, and run without
-- parallel workers: tune_merge). "[1]" is then the first non-blank value and
-- "[count(x)]" the last. array_agg(x order by ...) said the same but built
-- a sort per group and per aggregate: seconds on a million-row file.
create temp table ingest_merged on commit drop as
select
  r.unit,
  min(r.root) as root,
  (array_agg(r.target))[1] as existing_id,
  (array_agg(r.lead_hint))[1] as new_id,
  (array_agg(r.mak) filter (where r.mak is not null))[1] as mak,
  (array_agg(r.county_fips) filter (where r.apn_normalized is not null))[1] as county_fips,
  (array_agg(r.apn) filter (where r.apn_normalized is not null))[1] as apn,
  (array_agg(r.apn_normalized) filter (where r.apn_normalized is not null))[1] as apn_normalized,
  (array_agg(r.addr_hash) filter (where r.addr_hash is not null))[1] as addr_hash,
  (array_agg(r.owner_first_name) filter (where r.owner_first_name is not null and not r.fuzzy))
    [count(r.owner_first_name) filter (where not r.fuzzy)] as owner_first_name,
  (array_agg(r.owner_first_name) filter (where r.owner_first_name is not null))[1] as owner_first_name_any,
  (array_agg(r.owner_last_name) filter (where r.owner_last_name is not null and not r.fuzzy))
    [count(r.owner_last_name) filter (where not r.fuzzy)] as owner_last_name,
  (array_agg(r.owner_last_name) filter (where r.owner_last_name is not null))[1] as owner_last_name_any,
  (array_agg(r.owner_age) filter (where r.owner_age is not null))[count(r.owner_age)] as owner_age,
  (array_agg(r.property_address) filter (where r.property_address is not null and not r.fuzzy))
    [count(r.property_address) filter (where not r.fuzzy)] as property_address,
  (array_agg(r.property_address) filter (where r.property_address is not null))[1] as property_address_any,
  (array_agg(r.property_unit) filter (where r.property_unit is not null and not r.fuzzy))
    [count(r.property_unit) filter (where not r.fuzzy)] as property_unit,
  (array_agg(r.property_unit) filter (where r.property_unit is not null))[1] as property_unit_any,
  (array_agg(r.property_city) filter (where r.property_city is not null and not r.fuzzy))
    [count(r.property_city) filter (where not r.fuzzy)] as property_city,
  (array_agg(r.property_city) filter (where r.property_city is not null))[1] as property_city_any,
  (array_agg(r.property_state) filter (where r.property_state is not null and not r.fuzzy))
    [count(r.property_state) filter (where not r.fuzzy)] as property_state,
  (array_agg(r.property_state) filter (where r.property_state is not null))[1] as property_state_any,
  (array_agg(r.property_zip) filter (where r.property_zip is not null and not r.fuzzy))
    [count(r.property_zip) filter (where not r.fuzzy)] as property_zip,
  (array_agg(r.property_zip) filter (where r.property_zip is not null))[1] as property_zip_any,
  (array_agg(r.estimated_value) filter (where r.estimated_value is not null))[count(r.estimated_value)] as estimated_value,
  (array_agg(r.estimated_equity) filter (where r.estimated_equity is not null))[count(r.estimated_equity)] as estimated_equity,
  (array_agg(r.year_built) filter (where r.year_built is not null))[count(r.year_built)] as year_built,
  (array_agg(r.source) filter (where r.source is not null))[count(r.source)] as source,
  -- unknown columns: ciphertexts in file order, each bound to its row's id;
  -- merged in the application (merge_extras), which holds the keys
  array_agg(r.raw_extra_ciphertext) filter (where r.raw_extra_ciphertext is not null) as extra_cts,
  array_agg(r.lead_hint) filter (where r.raw_extra_ciphertext is not null) as extra_bound_to,
  (array_agg(r.email_ciphertext) filter (where r.email_ciphertext is not null))[1] as email_ciphertext,
  (array_agg(r.email_index) filter (where r.email_ciphertext is not null))[1] as email_index,
  (array_agg(r.lead_hint) filter (where r.email_ciphertext is not null))[1] as email_bound_to,
  (array_agg(r.phone_ciphertext) filter (where r.phone_ciphertext is not null))[1] as phone_ciphertext,
  (array_agg(r.phone_index) filter (where r.phone_ciphertext is not null))[1] as phone_index,
  (array_agg(r.lead_hint) filter (where r.phone_ciphertext is not null))[1] as phone_bound_to
from (
  select
    coalesce(c.root, s.row_number) as root,
    t.lead_id as target,
    coalesce(t.lead_id::text, 'r' || coalesce(c.root, s.row_number)) as unit,
    coalesce(t.match_key = 'probabilistic', false)
      or coalesce(c.link = 'probabilistic', false) as fuzzy,
    s.*
  from ingest_stage s
  left join ingest_components c on c.row_number = s.row_number
  left join ingest_targets t on t.root = coalesce(c.root, s.row_number)
  where c.row_number is not null or t.root is not null
  order by unit, s.row_number
) r
group by r.unit

-- name: analyze_merged
analyze ingest_merged

-- name: merge_into_existing
-- COALESCE so a blank never overwrites a value. An identity key is only
-- filled in when no other lead holds it: a row can match lead A by MAK while
-- its address belongs to lead B, and B keeps its address.
update leads l set
  mak = coalesce(l.mak, case when not exists (
          select 1 from leads o where o.mak = m.mak) then m.mak end),
  county_fips = case when l.apn_normalized is null and m.apn_normalized is not null and not exists (
          select 1 from leads o
          where o.county_fips = m.county_fips and o.apn_normalized = m.apn_normalized)
        then coalesce(m.county_fips, l.county_fips) else l.county_fips end,
  apn = case when l.apn_normalized is null and m.apn_normalized is not null and not exists (
          select 1 from leads o
          where o.county_fips = m.county_fips and o.apn_normalized = m.apn_normalized)
        then m.apn else l.apn end,
  apn_normalized = case when l.apn_normalized is null and m.apn_normalized is not null and not exists (
          select 1 from leads o
          where o.county_fips = m.county_fips and o.apn_normalized = m.apn_normalized)
        then m.apn_normalized else l.apn_normalized end,
  addr_hash = coalesce(l.addr_hash, case when not exists (
          select 1 from leads o where o.addr_hash = m.addr_hash) then m.addr_hash end),
  owner_first_name = coalesce(m.owner_first_name, l.owner_first_name, m.owner_first_name_any),
  owner_last_name = coalesce(m.owner_last_name, l.owner_last_name, m.owner_last_name_any),
  owner_age = coalesce(m.owner_age, l.owner_age),
  property_address = coalesce(m.property_address, l.property_address, m.property_address_any),
  property_unit = coalesce(m.property_unit, l.property_unit, m.property_unit_any),
  property_city = coalesce(m.property_city, l.property_city, m.property_city_any),
  property_state = coalesce(m.property_state, l.property_state, m.property_state_any),
  property_zip = coalesce(m.property_zip, l.property_zip, m.property_zip_any),
  estimated_value = coalesce(m.estimated_value, l.estimated_value),
  estimated_equity = coalesce(m.estimated_equity, l.estimated_equity),
  year_built = coalesce(m.year_built, l.year_built),
  source = coalesce(l.source, m.source),
  email_ciphertext = coalesce(l.email_ciphertext, m.email_ciphertext),
  email_index = case when l.email_ciphertext is null then m.email_index else l.email_index end,
  phone_ciphertext = coalesce(l.phone_ciphertext, m.phone_ciphertext),
  phone_index = case when l.phone_ciphertext is null then m.phone_index else l.phone_index end
from ingest_merged m
where m.existing_id = l.id

-- name: insert_new_leads
-- Every new lead in one statement: rows that share no key with another row
-- and match no lead (the bulk), and new multi-row components.
insert into leads (
  id, mak, county_fips, apn, apn_normalized, addr_hash, owner_first_name, owner_last_name,
  owner_age, property_address, property_unit, property_city, property_state, property_zip,
  estimated_value, estimated_equity, year_built, source, first_upload_id, raw_extra_ciphertext,
  email_ciphertext, email_index, phone_ciphertext, phone_index
)
select
  s.lead_hint, s.mak, s.county_fips, s.apn, s.apn_normalized, s.addr_hash, s.owner_first_name,
  s.owner_last_name, s.owner_age, s.property_address, s.property_unit, s.property_city,
  s.property_state, s.property_zip, s.estimated_value, s.estimated_equity, s.year_built,
  s.source, s.upload_id, s.raw_extra_ciphertext,
  s.email_ciphertext, s.email_index, s.phone_ciphertext, s.phone_index
from ingest_stage s
where not exists (select 1 from ingest_components c where c.row_number = s.row_number)
  and not exists (select 1 from ingest_targets t where t.root = s.row_number)
union all
select
  m.new_id, m.mak, m.county_fips, m.apn, m.apn_normalized, m.addr_hash,
  coalesce(m.owner_first_name, m.owner_first_name_any),
  coalesce(m.owner_last_name, m.owner_last_name_any), m.owner_age,
  coalesce(m.property_address, m.property_address_any),
  coalesce(m.property_unit, m.property_unit_any), coalesce(m.property_city, m.property_city_any),
  coalesce(m.property_state, m.property_state_any),
  coalesce(m.property_zip, m.property_zip_any), m.estimated_value, m.estimated_equity, m.year_built,
  m.source, %(upload_id)s, null,  -- filled in by merge_extras
  m.email_ciphertext, m.email_index, m.phone_ciphertext, m.phone_index
from ingest_merged m
where m.existing_id is null

-- name: lineage
-- Every staged row's line. inserted: a row that shares no key, or the first
-- row of a new unit; merged: every other row, with the key that matched (a
-- lone row's match to the lead, else its in-file link).
insert into upload_rows (upload_id, row_number, line_number, lead_id, status, match_key, notes)
select
  s.upload_id, s.row_number, s.line_number,
  coalesce(m.existing_id, m.new_id, s.lead_hint),
  case when m.unit is null or (m.existing_id is null and s.row_number = m.root)
       then 'inserted'::upload_row_status else 'merged'::upload_row_status end,
  case when m.unit is null or (m.existing_id is null and s.row_number = m.root) then null
       when c.row_number is null then t.match_key
       else c.link end,
  s.notes
from ingest_stage s
left join ingest_components c on c.row_number = s.row_number
left join ingest_targets t on t.root = coalesce(c.root, s.row_number)
left join ingest_merged m
  on (c.row_number is not null or t.root is not null)
 and m.unit = coalesce(t.lead_id::text, 'r' || coalesce(c.root, s.row_number))

-- name: leads_secondary_indexes
-- The indexes a bulk load drops and rebuilds: every index of leads but the
-- primary key (uuid7 ids fill it at its right edge) and the partial indexes
-- a new lead never enters (campaign, broker, feed and consent state, which
-- insert_new_leads leaves at their defaults): keeping those costs the load
-- nothing, rebuilding them a table scan each. Listed by exclusion, so an
-- index a later migration adds is rebuilt too (a list of the indexes to
-- drop missed the 14 of 0020 and 0022, and inserting a million leads into
-- them row by row took 80 s instead of 9).
select c.relname as name, pg_get_indexdef(i.indexrelid) as definition
from pg_index i join pg_class c on c.oid = i.indexrelid
where i.indrelid = 'public.leads'::regclass and i.indisvalid and not i.indisprimary
  and c.relname not in ('leads_feed_hot_idx', 'leads_replied_lookup_idx',
                        'leads_assigned_broker_idx', 'leads_broker_last_name_idx',
                        'leads_broker_score_idx', 'leads_feed_batch_idx', 'leads_consent_idx')
order by c.relname

-- name: lock_timeout
select current_setting('lock_timeout') as value

-- name: set_lock_timeout
-- Transaction-local, like every setting an upload changes.
select set_config('lock_timeout', %(value)s, true)

-- name: lock_leads_for_bulk_load
lock table public.leads in access exclusive mode

-- name: set_index_build_memory
-- Transaction-local. Parallel workers halve each rebuild on two cores
-- (leads_block_city_number_idx at 900k leads: 4.7 s alone, 2.4 s with two
-- workers), and a server may default them to 0; each worker needs 32MB of
-- maintenance_work_mem or PostgreSQL uses fewer.
select set_config('maintenance_work_mem', %(value)s, true),
       set_config('max_parallel_maintenance_workers', %(workers)s, true)

-- name: leads_estimate
-- The planner's row estimate (a count(*) would read the whole table); -1
-- when the table was never analyzed.
select reltuples::bigint as rows from pg_class where oid = 'public.leads'::regclass

-- name: leads_count_up_to
select count(*) as rows from (select 1 from leads limit %(limit)s) l

-- name: pii_to_rebind
-- Ciphertexts that ended up on a lead other than the row they were
-- encrypted for: they must be re-encrypted for their new place.
select l.id as lead_id, 'email' as channel, m.email_bound_to as bound_to, l.email_ciphertext as ciphertext
from ingest_merged m join leads l on l.id = coalesce(m.existing_id, m.new_id)
where m.email_bound_to is not null and m.email_bound_to <> l.id
  and l.email_ciphertext = m.email_ciphertext
union all
select l.id, 'phone', m.phone_bound_to, l.phone_ciphertext
from ingest_merged m join leads l on l.id = coalesce(m.existing_id, m.new_id)
where m.phone_bound_to is not null and m.phone_bound_to <> l.id
  and l.phone_ciphertext = m.phone_ciphertext

-- name: extras_to_merge
-- Merge units with unknown columns: their ciphertexts (file order) and the
-- lead's own, plus any clear values the lead still has from before 0013.
select l.id as lead_id, l.raw_extra_ciphertext as current, l.raw as legacy,
       m.extra_cts, m.extra_bound_to
from ingest_merged m join leads l on l.id = coalesce(m.existing_id, m.new_id)
where m.extra_cts is not null

-- name: create_merged_extras
create temp table ingest_extras (lead_id uuid primary key, ciphertext bytea not null)
on commit drop

-- name: copy_merged_extras
copy ingest_extras (lead_id, ciphertext) from stdin

-- name: store_merged_extras
-- raw empties as its values move into the ciphertext.
update leads l set raw_extra_ciphertext = e.ciphertext, raw = '{}'::jsonb
from ingest_extras e where e.lead_id = l.id

-- name: create_rebound
create temp table ingest_rebound (lead_id uuid not null, channel text not null,
  ciphertext bytea not null, primary key (lead_id, channel)) on commit drop

-- name: copy_rebound
copy ingest_rebound (lead_id, channel, ciphertext) from stdin

-- name: store_rebound_email
update leads l set email_ciphertext = r.ciphertext
from ingest_rebound r where r.channel = 'email' and r.lead_id = l.id

-- name: store_rebound_phone
update leads l set phone_ciphertext = r.ciphertext
from ingest_rebound r where r.channel = 'phone' and r.lead_id = l.id

-- name: count_lineage
select
  count(*) filter (where status = 'inserted') as inserted,
  count(*) filter (where status = 'merged') as merged,
  count(*) filter (where status = 'rejected') as rejected,
  count(*) as rows
from upload_rows where upload_id = %(upload_id)s

-- name: finish_upload
update uploads set
  status = %(status)s::upload_status, row_count = %(rows)s, inserted_count = %(inserted)s,
  merged_count = %(merged)s, rejected_count = %(rejected)s, error = %(error)s,
  encoding = %(encoding)s, delimiter = %(delimiter)s, warnings = %(warnings)s,
  phase = %(status)s::text, rows_read = %(rows)s,
  rows_staged = %(inserted)s + %(merged)s, bytes_read = byte_size,
  completed_at = clock_timestamp()  -- now() is the transaction's start
where id = %(upload_id)s

-- name: record_event
insert into pipeline_events (stage, outcome, count, duration_ms, upload_id, correlation_id, detail)
values (%(stage)s, %(outcome)s, %(count)s, %(duration_ms)s, %(upload_id)s, %(correlation_id)s,
        %(detail)s)

-- name: drop_scratch
-- The scratch tables drop at commit; dropping them at the end of each ingest
-- too lets one transaction run several ingests (tests, batch tools).
drop table if exists ingest_stage, ingest_links, ingest_edges, ingest_components, ingest_targets,
  ingest_merged, ingest_rejects, ingest_extras, ingest_rebound, ingest_unplaced, ingest_evidence,
  ingest_reviews, ingest_block_keys, ingest_blocks, ingest_lead_hits, ingest_pairs,
  ingest_pair_sides, ingest_released

-- name: rejected_rows
select row_number, line_number, field, reason, raw_ciphertext from upload_rows
where upload_id = %(upload_id)s and status = 'rejected'
order by row_number

-- name: legacy_extras_batch
-- Leads still holding unknown columns in clear (ingested before 0013).
select id, raw, raw_extra_ciphertext from leads
where raw <> '{}'::jsonb
order by id
limit %(limit)s
for update skip locked

-- name: store_extras
update leads set raw_extra_ciphertext = %(ciphertext)s, raw = '{}'::jsonb where id = %(id)s

-- Asynchronous uploads (ingest/uploads.py) ------------------------------------

-- name: store_body_chunk
insert into upload_bodies (upload_id, seq, ciphertext) values (%(upload_id)s, %(seq)s, %(ciphertext)s)

-- name: body_chunk
select ciphertext from upload_bodies where upload_id = %(upload_id)s and seq = %(seq)s

-- name: drop_body
delete from upload_bodies where upload_id = %(upload_id)s

-- name: upload_status
select id, sha256, status::text as status, phase, source, filename, byte_size, rows_read,
       rows_staged, bytes_read, row_count, inserted_count, merged_count, rejected_count, error,
       encoding, delimiter, warnings, received_at, heartbeat_at, completed_at,
       extract(epoch from (coalesce(completed_at, now()) - received_at))::float8 as seconds
from uploads where id = %(upload_id)s

-- name: live_upload_by_sha256
select id from uploads where sha256 = %(sha256)s and status <> 'failed'

-- name: start_processing
-- The upload's own claim: whoever moves it out of 'received' processes it
-- (the worker's job, or the API for ?wait=true); the other finds nothing.
update uploads set status = 'processing', phase = 'reading', heartbeat_at = clock_timestamp(),
  processed_by = %(processor)s
where id = %(upload_id)s and status = 'received'
returning id, sha256, source, filename, byte_size, signature_scheme::text as scheme

-- name: upload_heartbeat
-- Autocommitted from the heartbeat thread's own connection, beside the
-- ingest's transaction (which only touches this row when it finishes).
update uploads set heartbeat_at = clock_timestamp(), phase = %(phase)s,
  rows_read = %(rows_read)s, rows_staged = %(rows_staged)s, bytes_read = %(bytes_read)s
where id = %(upload_id)s and status = 'processing' and processed_by = %(processor)s

-- name: hand_back_upload
-- Processing cut by a lost connection (its transaction rolled back): the
-- upload waits again, and its job's next run (or ?wait=true) takes it.
update uploads set status = 'received', phase = 'queued', rows_read = 0, rows_staged = 0,
  bytes_read = 0, heartbeat_at = null, processed_by = null
where id = %(upload_id)s and status = 'processing' and processed_by = %(processor)s

-- name: fail_upload
update uploads set status = 'failed', phase = 'failed', error = %(error)s,
  completed_at = clock_timestamp()
where id = %(upload_id)s and status in ('received', 'processing')
returning id

-- name: sweep_stale_uploads
-- Uploads whose processing died: processing with a heartbeat older than
-- %(stale_seconds)s, or still waiting while their job is dead (buried in the
-- DLQ). Their ingest transaction rolled back with its process, so nothing of
-- them was loaded; failing them frees their bytes for a fresh upload.
update uploads u set status = 'failed', phase = 'failed', completed_at = clock_timestamp(),
  error = case
    when u.status = 'received' then
      'its processing job failed on every attempt (see the DLQ); nothing was loaded: '
      || 'send the same file again'
    else 'processing stopped while ' || u.phase || ': no heartbeat since '
      || to_char(u.heartbeat_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
      || ' (the process running it died); nothing was loaded: send the same file again'
  end
where (u.status = 'processing'
       and u.heartbeat_at < clock_timestamp() - make_interval(secs => %(stale_seconds)s))
   or (u.status = 'received' and exists (
         select 1 from jobs j
         where j.task = 'ingest.process_upload' and j.idempotency_key = u.id::text
           and j.status = 'dead'))
returning u.id

-- name: drop_bodies
delete from upload_bodies where upload_id = any(%(ids)s)
-- Probabilistic matching (ingest/matching_pass.py) ---------------------------

-- name: address_links_to_check
-- In-file address-hash links the guard must read before they may stand:
-- two rows without a unit (two units of one building, written without
-- them, share the hash: their owners decide), or two rows whose MAKs or
-- APNs in one county differ (never one property).
select l.first, l.row, f.owner_first_name as first_given, f.owner_last_name as first_family,
       r.owner_first_name as row_given, r.owner_last_name as row_family,
       (f.mak <> r.mak
        or (f.county_fips = r.county_fips and f.apn_normalized <> r.apn_normalized)) as keys_differ
from ingest_links l
join ingest_stage f on f.row_number = l.first
join ingest_stage r on r.row_number = l.row
where l.key = 3
  and ((f.property_unit is null and r.property_unit is null)
       or f.mak <> r.mak
       or (f.county_fips = r.county_fips and f.apn_normalized <> r.apn_normalized))

-- name: drop_address_links
delete from ingest_links l
using unnest(%(firsts)s::integer[], %(rows)s::integer[]) as d(first, row)
where l.key = 3 and l.first = d.first and l.row = d.row

-- name: address_targets_to_check
-- Components matched to a lead by address hash alone that the guard must
-- read: the lead has no unit, or its MAK or APN differs from the row's.
select t.root, t.lead_id, l.owner_first_name as lead_given, l.owner_last_name as lead_family,
       s.owner_first_name as row_given, s.owner_last_name as row_family,
       (l.mak <> s.mak
        or (l.county_fips = s.county_fips and l.apn_normalized <> s.apn_normalized)) as keys_differ
from ingest_targets t
join leads l on l.id = t.lead_id
join ingest_stage s on s.addr_hash = l.addr_hash
left join ingest_components c on c.row_number = s.row_number
where t.match_key = 'addr_hash'
  and coalesce(c.root, s.row_number) = t.root
  and ((l.property_unit is null and s.property_unit is null)
       or l.mak <> s.mak
       or (l.county_fips = s.county_fips and l.apn_normalized <> s.apn_normalized))

-- name: drop_targets
delete from ingest_targets where root = any(%(roots)s::integer[])

-- name: create_unplaced
-- Rows whose component matched no lead: the only rows the pass links, with
-- the facts the pre-filter reads (plausible_pairs). k names a side of a
-- pair: the row number, or minus a number for a lead hit (added below).
create temp table ingest_unplaced on commit drop as
select s.row_number, coalesce(c.root, s.row_number) as root, null::uuid as lead,
       s.row_number::bigint as k, s.mak, s.county_fips, s.apn_normalized, s.property_unit,
       s.property_zip, s.property_city, s.property_state,
       split_part(s.property_address, ' ', 1) as num,
       left(split_part(s.property_address, ' ', 2), 4) as pre,
       upper(trim(split_part(s.owner_last_name, ',', 1))) as surname,
       case when s.property_address ~ '^[0-9]' then split_part(s.property_address, ' ', 1)
       end as hn
from ingest_stage s
left join ingest_components c on c.row_number = s.row_number
where s.property_address is not null
  and not exists (select 1 from ingest_targets t where t.root = coalesce(c.root, s.row_number))

-- name: create_block_keys
-- The blocking keys of the unplaced rows: 1 ZIP + house number; 2 ZIP +
-- street prefix + surname initial; 4 ZIP + surname + street initial. (A
-- street prefix or a surname alone is shared by every neighbour on a
-- street: a block of the whole street.) 3, city + state + house number, is
-- for a row without a ZIP: it is paired so with every row of its city
-- (create_pairs), without making two rows that both have ZIPs a pair on it
-- (ZIP + house number pairs those; two ZIPs that differ weigh against a
-- match, and city + number blocks are the largest of all). The same expressions
-- as the blocking indexes on leads (migration 0022). blocks: the size of
-- every shared key.
create temp table ingest_block_keys on commit drop as
-- A key is hashed to 64 bits (the kind as seed): grouping and joining two
-- million text keys sorted them on disk; a collision only adds a pair the
-- bound then weighs like any other.
select row_number, root, hashtextextended(a || '|' || b || '|' || coalesce(c, ''), kind) as key
from (
  select row_number, root, 1 as kind, property_zip as a, num as b, '' as c
  from ingest_unplaced where property_zip is not null
  union all
  select row_number, root, 2, property_zip, pre, left(surname, 1)
  from ingest_unplaced where property_zip is not null
  union all
  select row_number, root, 4, property_zip, surname, left(pre, 1)
  from ingest_unplaced where property_zip is not null and surname <> ''
) k;
create temp table ingest_blocks on commit drop as
select key, count(*) as n from ingest_block_keys group by key having count(*) > 1;
analyze ingest_block_keys;
analyze ingest_blocks

-- name: create_lead_hits
-- Existing leads sharing a blocking key with an unplaced row, found through
-- the blocking indexes of migrations 0022 and 0024 (one index probe per row and key:
-- a new upload is linked against the leads without reading them all). n:
-- how many leads the key matched, up to one more than %(max_block)s (a
-- larger block is skipped, see create_pairs). The leads hit join
-- ingest_unplaced as sides of pairs.
create temp table ingest_lead_hits on commit drop as
with hits as (
  select u.row_number, 1 as kind, m.id from ingest_unplaced u cross join lateral (
    select l.id from leads l
    where l.property_zip = u.property_zip and split_part(l.property_address, ' ', 1) = u.num
    limit %(max_block)s + 1) m
  union all
  select u.row_number, 2, m.id from ingest_unplaced u cross join lateral (
    select l.id from leads l
    where l.property_zip = u.property_zip
      and left(split_part(l.property_address, ' ', 2), 4) = u.pre
      and left(upper(trim(split_part(l.owner_last_name, ',', 1))), 1) = left(u.surname, 1)
    limit %(max_block)s + 1) m
  union all
  -- city + state + house number: a row without a ZIP, with every lead...
  select u.row_number, 3, m.id from ingest_unplaced u cross join lateral (
    select l.id from leads l
    where u.property_zip is null
      and l.property_city = u.property_city and l.property_state = u.property_state
      and split_part(l.property_address, ' ', 1) = u.num
    limit %(max_block)s + 1) m
  union all
  -- ...and a row with one, with the leads that have none (0024's index)
  select u.row_number, 3, m.id from ingest_unplaced u cross join lateral (
    select l.id from leads l
    where u.property_zip is not null and l.property_zip is null
      and l.property_city = u.property_city and l.property_state = u.property_state
      and split_part(l.property_address, ' ', 1) = u.num
    limit %(max_block)s + 1) m
  union all
  select u.row_number, 4, m.id from ingest_unplaced u cross join lateral (
    select l.id from leads l
    where u.surname <> '' and l.property_zip = u.property_zip
      and upper(trim(split_part(l.owner_last_name, ',', 1))) = u.surname
      and left(split_part(l.property_address, ' ', 2), 1) = left(u.pre, 1)
    limit %(max_block)s + 1) m
)
select row_number, kind, id, count(*) over (partition by row_number, kind) as n from hits

-- name: analyze_lead_hits
analyze ingest_lead_hits

-- name: add_hit_leads
insert into ingest_unplaced (row_number, root, lead, k, mak, county_fips, apn_normalized,
                             property_unit, property_zip, property_city, property_state, num,
                             pre, surname, hn)
select null, null, l.id, -row_number() over (order by l.id), l.mak, l.county_fips, l.apn_normalized, l.property_unit,
       l.property_zip, l.property_city, l.property_state,
       split_part(l.property_address, ' ', 1), null, null,
       case when l.property_address ~ '^[0-9]' then split_part(l.property_address, ' ', 1) end
from (select distinct id from ingest_lead_hits where n <= %(max_block)s) h
join leads l on l.id = h.id

-- name: analyze_unplaced
create index on ingest_unplaced (k);
create index on ingest_unplaced (lead) where lead is not null;
analyze ingest_unplaced

-- name: create_empty_lead_hits
create temp table ingest_lead_hits (
  row_number integer not null, kind integer not null, id uuid not null, n bigint not null
) on commit drop

-- name: skipped_blocks
-- Blocks too large to compare (see create_pairs), in the file and among leads.
select ((select count(*) from ingest_blocks where n > %(max_block)s)
        + (select count(distinct (row_number, kind)) from ingest_lead_hits
           where n > %(max_block)s))::integer as skipped

-- name: create_pairs
-- The candidate pairs whose score may reach the review threshold, with the
-- best score each may reach but for its owners (bound). Candidates: two
-- rows of different components of the file sharing a blocking key, a row
-- without a ZIP and the rows of its city with its house number, and a row
-- and a lead it hit. A block of more than %(max_block)s rows is skipped: a
-- key too common to say anything (a ZIP's SMITHs), comparing it would be
-- quadratic, and the other keys still pair its true matches.
--
-- The bound adds, per field, the best weight of the levels it may take
-- (weights.toml's, as parameters): house number, unit and place levels are
-- known here exactly or nearly (two house numbers of one length are a
-- transposition or a digit off only if they agree but for two adjacent
-- positions: a common prefix and suffix of n - 2 digits); the street may
-- be any level but missing; the owners are taken to agree. Pairs a hard
-- constraint forbids are dropped (different MAKs, APNs in one county, or
-- units). Plain expressions over two rows, no subquery: this runs over
-- every candidate pair, and almost all of a large file's go no further.
create temp table ingest_pairs on commit drop as
with sized as (
  select key from ingest_blocks where n <= %(max_block)s
), candidates as (
  select bx.row_number::bigint as a, by.row_number::bigint as b
  from sized k
  join ingest_block_keys bx on bx.key = k.key
  join ingest_block_keys by on by.key = k.key
  where bx.root < by.root
  union all
  -- a row without a ZIP, and the rows of its city with its house number
  select x.k, y.k
  from ingest_unplaced x
  join ingest_unplaced y
    on y.property_city = x.property_city and y.property_state = x.property_state
   and y.num = x.num and y.root <> x.root
  where x.property_zip is null and x.lead is null and y.lead is null
    and (y.property_zip is not null or x.root < y.root)
  union all
  select distinct h.row_number::bigint, u.k
  from ingest_lead_hits h join ingest_unplaced u on u.lead = h.id
  where h.n <= %(max_block)s
), bounded as (
  select c.a, c.b,
    case when x.hn is null or y.hn is null then %(h_missing)s
         when x.hn = y.hn then %(h_exact)s
         when length(x.hn) <> length(y.hn) then %(h_different)s
         when length(x.hn) > 8 then %(h_near)s  -- too long to check below: may be near
         when (left(x.hn, 0) = left(y.hn, 0) and right(x.hn, length(x.hn) - 2) = right(y.hn, length(x.hn) - 2))
           or (length(x.hn) >= 3 and left(x.hn, 1) = left(y.hn, 1) and right(x.hn, length(x.hn) - 3) = right(y.hn, length(x.hn) - 3))
           or (length(x.hn) >= 4 and left(x.hn, 2) = left(y.hn, 2) and right(x.hn, length(x.hn) - 4) = right(y.hn, length(x.hn) - 4))
           or (length(x.hn) >= 5 and left(x.hn, 3) = left(y.hn, 3) and right(x.hn, length(x.hn) - 5) = right(y.hn, length(x.hn) - 5))
           or (length(x.hn) >= 6 and left(x.hn, 4) = left(y.hn, 4) and right(x.hn, length(x.hn) - 6) = right(y.hn, length(x.hn) - 6))
           or (length(x.hn) >= 7 and left(x.hn, 5) = left(y.hn, 5) and right(x.hn, length(x.hn) - 7) = right(y.hn, length(x.hn) - 7))
           or (length(x.hn) >= 8 and left(x.hn, 6) = left(y.hn, 6) and right(x.hn, length(x.hn) - 8) = right(y.hn, length(x.hn) - 8))
           then %(h_near)s
         else %(h_different)s end
    + case when x.property_unit is null and y.property_unit is null then %(u_both_missing)s
           when x.property_unit = y.property_unit then %(u_exact)s
           when x.property_unit is null or y.property_unit is null then %(u_one_missing)s
           end  -- null: two different units, never one property
    + case when x.property_zip is not null and y.property_zip is not null then
             case when x.property_zip = y.property_zip then %(p_zip)s
                  when x.property_city = y.property_city
                   and x.property_state is not distinct from y.property_state
                    then %(p_city_not_zip)s
                  else %(p_different)s end
           when x.property_city = y.property_city
            and x.property_state is not distinct from y.property_state then %(p_city_no_zip)s
           when x.property_state <> y.property_state then %(p_different)s
           else %(p_missing)s end
    + %(s_best)s + %(o_best)s as bound
  from candidates c
  join ingest_unplaced x on x.k = c.a
  join ingest_unplaced y on y.k = c.b
  where (x.mak is null or y.mak is null or x.mak = y.mak)
    and not coalesce(x.county_fips = y.county_fips and x.apn_normalized <> y.apn_normalized,
                     false)
)
select distinct on (a, b) a, b, bound from bounded
where bound >= %(review)s
order by a, b, bound

-- name: create_pair_sides
-- The owners of the rows and leads left in pairs, for the last step of the
-- pre-filter: a sketch of the name's first five words. Per word, its first
-- two letters, its last two, and its first and last: two words one keying
-- error apart (a letter substituted, inserted, dropped, or two swapped, in
-- words of four letters or more: the surname comparison's typo rule)
-- always share one of them, so owners whose sketches share nothing do not
-- agree on a surname.
create temp table ingest_pair_sides on commit drop as
with sides as (
  select u.k, u.row_number, u.root, u.lead, st.mak, st.county_fips, st.apn_normalized,
         st.owner_first_name, st.owner_last_name, st.property_address, st.property_city,
         st.property_state, st.property_zip
  from ingest_unplaced u join ingest_stage st on st.row_number = u.row_number
  where u.k in (select a from ingest_pairs union select b from ingest_pairs)
  union all
  select u.k, null, null, l.id, l.mak, l.county_fips, l.apn_normalized, l.owner_first_name,
         l.owner_last_name, l.property_address, l.property_city, l.property_state,
         l.property_zip
  from ingest_unplaced u join leads l on l.id = u.lead
  where u.k in (select b from ingest_pairs)
), worded as (
  select s.*, array_remove(string_to_array(translate(
           upper(coalesce(s.owner_first_name, '') || ' ' || coalesce(s.owner_last_name, '')),
           ',.&/+-''()', '          '), ' '), '') as w
  from sides s
)
select k, row_number, root, lead, mak, county_fips, apn_normalized, owner_first_name,
       owner_last_name, property_address, property_city, property_state, property_zip,
       w && %(entity_words)s::text[] as entity,
       cardinality(w) > 0 and not w <@ %(noise_words)s::text[] as named,
       array['<' || left(w[1], 2), '>' || right(w[1], 2), '=' || left(w[1], 1) || right(w[1], 1),
             '<' || left(w[2], 2), '>' || right(w[2], 2), '=' || left(w[2], 1) || right(w[2], 1),
             '<' || left(w[3], 2), '>' || right(w[3], 2), '=' || left(w[3], 1) || right(w[3], 1),
             '<' || left(w[4], 2), '>' || right(w[4], 2), '=' || left(w[4], 1) || right(w[4], 1),
             '<' || left(w[5], 2), '>' || right(w[5], 2), '=' || left(w[5], 1) || right(w[5], 1)]
         as sketch
from worded

-- name: index_pair_sides
create index on ingest_pair_sides (k);
analyze ingest_pair_sides

-- name: plausible_pairs
-- The pairs left once owners are read: the bound with the owners' own
-- level (missing when either has no name; at best agreeing when their
-- sketches meet or one is a company; disagreeing otherwise). Both sides'
-- fields, for the application to score.
select xs.row_number as a, os.row_number as b, os.lead, xs.root as a_root, os.root as b_root,
       xs.mak as a_mak, xs.county_fips as a_county_fips, xs.apn_normalized as a_apn_normalized,
       xs.owner_first_name as a_owner_first_name, xs.owner_last_name as a_owner_last_name,
       xs.property_address as a_property_address, xs.property_city as a_property_city,
       xs.property_state as a_property_state, xs.property_zip as a_property_zip,
       os.mak as b_mak, os.county_fips as b_county_fips, os.apn_normalized as b_apn_normalized,
       os.owner_first_name as b_owner_first_name, os.owner_last_name as b_owner_last_name,
       os.property_address as b_property_address, os.property_city as b_property_city,
       os.property_state as b_property_state, os.property_zip as b_property_zip
from ingest_pairs p
join ingest_pair_sides xs on xs.k = p.a
join ingest_pair_sides os on os.k = p.b
where p.bound - %(o_best)s
      + case when not xs.named or not os.named then %(o_missing)s
             when xs.entity or os.entity or xs.sketch && os.sketch then %(o_best)s
             else %(o_different)s end >= %(review)s
order by p.a, p.b

-- name: component_facts
-- Every row of the components a probabilistic match touches: a cluster's
-- constraints (its MAKs, APNs, units) are those of all its rows, not only
-- of the rows that were paired.
select s.row_number, coalesce(c.root, s.row_number) as root, coalesce(s.mak, x.mak) as mak,
       s.county_fips, coalesce(s.apn_normalized, x.apn_normalized) as apn_normalized,
       s.owner_first_name, s.owner_last_name, s.property_address,
       s.property_city, s.property_state, s.property_zip
from ingest_stage s
left join ingest_components c on c.row_number = s.row_number
left join ingest_released x on x.row_number = s.row_number
where s.row_number = any(%(rows)s::integer[])
   or c.root = any(%(roots)s::integer[])
order by s.row_number

-- name: rows_targeting_leads
-- The rows an exact key already sends to these leads (the pass's clusters
-- hold them to the leads' constraints).
select t.lead_id, coalesce(s.mak, x.mak) as mak, s.county_fips,
       coalesce(s.apn_normalized, x.apn_normalized) as apn_normalized, s.owner_first_name,
       s.owner_last_name, s.property_address, s.property_city, s.property_state,
       s.property_zip
from ingest_targets t
join ingest_stage s on s.row_number = t.root
left join ingest_released x on x.row_number = s.row_number
where t.lead_id = any(%(leads)s::uuid[])
union all
select t.lead_id, coalesce(s.mak, x.mak) as mak, s.county_fips,
       coalesce(s.apn_normalized, x.apn_normalized) as apn_normalized, s.owner_first_name,
       s.owner_last_name, s.property_address, s.property_city, s.property_state,
       s.property_zip
from ingest_targets t
join ingest_components c on c.root = t.root and c.row_number <> t.root
join ingest_stage s on s.row_number = c.row_number
left join ingest_released x on x.row_number = s.row_number
where t.lead_id = any(%(leads)s::uuid[])

-- name: add_probabilistic_targets
insert into ingest_targets (root, lead_id, match_key)
select root, lead_id, 'probabilistic'::match_key
from unnest(%(roots)s::integer[], %(leads)s::uuid[]) as t(root, lead_id)

-- name: join_components
-- Components found to be one property: every row of the later ones moves to
-- the earliest root; rows that were alone until now join the table.
update ingest_components set root = %(root)s where root = any(%(roots)s::integer[])

-- name: add_component_rows
insert into ingest_components (row_number, root, link)
select r, %(root)s, 'probabilistic'::match_key from unnest(%(rows)s::integer[]) as r
on conflict (row_number) do nothing

-- name: mark_probabilistic_links
update ingest_components set link = 'probabilistic'::match_key
where row_number = any(%(rows)s::integer[])

-- name: create_match_scratch
create temp table ingest_evidence (row_number integer primary key, evidence jsonb not null)
on commit drop;
create temp table ingest_reviews (
  row_number integer not null, other_row integer, other_lead uuid, score double precision not null,
  evidence jsonb not null
) on commit drop

-- name: release_address_hashes
-- Rows the guard kept apart still carry their address hash, unique among
-- leads: only the unit that owns it keeps it (the lead holding it, else the
-- earliest component), so a second property of one unit-less address is
-- inserted with no hash rather than failing the upload.
with r as (
  select s.row_number, s.addr_hash, coalesce(c.root, s.row_number) as root,
         coalesce(t.lead_id::text, 'r' || coalesce(c.root, s.row_number)) as unit
  from ingest_stage s
  left join ingest_components c on c.row_number = s.row_number
  left join ingest_targets t on t.root = coalesce(c.root, s.row_number)
  where s.addr_hash = any(%(hashes)s::bytea[])
), holder as (
  select distinct on (r.addr_hash) r.addr_hash, r.unit
  from r order by r.addr_hash, r.root
)
update ingest_stage s set addr_hash = null
from r
where s.row_number = r.row_number and (
  exists (select 1 from leads l where l.addr_hash = r.addr_hash and l.id::text <> r.unit)
  or r.unit <> (select h.unit from holder h where h.addr_hash = r.addr_hash))

-- name: store_match_evidence
update upload_rows u set match_evidence = e.evidence
from ingest_evidence e
where u.upload_id = %(upload_id)s and u.row_number = e.row_number

-- name: store_match_reviews
-- Grey pairs for ops, between the lead each row became and the lead it may
-- be; a pair already decided (either way round) is not asked again.
insert into match_reviews (upload_id, row_number, lead_id, other_lead_id, score, evidence)
select %(upload_id)s, r.row_number, mine.lead_id, coalesce(r.other_lead, theirs.lead_id),
       r.score, r.evidence
from ingest_reviews r
join upload_rows mine on mine.upload_id = %(upload_id)s and mine.row_number = r.row_number
left join upload_rows theirs on theirs.upload_id = %(upload_id)s and theirs.row_number = r.other_row
where coalesce(r.other_lead, theirs.lead_id) is not null
  and mine.lead_id <> coalesce(r.other_lead, theirs.lead_id)
  and not exists (
    select 1 from match_reviews d
    where d.lead_id = coalesce(r.other_lead, theirs.lead_id) and d.other_lead_id = mine.lead_id)
on conflict (lead_id, other_lead_id) do nothing

-- name: conflicted_components
-- Components of the exact cascade that hold two rows a hard constraint keeps
-- apart: two MAKs, two APNs in one county, or two units of one house number
-- (joined through a third row: A and B share a MAK, B and C an APN). Rare;
-- constrain_components settles them again, key by key.
select c.root from ingest_components c join ingest_stage s on s.row_number = c.row_number
group by c.root
having count(distinct s.mak) > 1
    or count(distinct (s.county_fips, s.apn_normalized))
         filter (where s.county_fips is not null and s.apn_normalized is not null)
       > count(distinct s.county_fips)
         filter (where s.county_fips is not null and s.apn_normalized is not null)
union
select root from (
  select c.root, split_part(s.property_address, ' ', 1) as num
  from ingest_components c join ingest_stage s on s.row_number = c.row_number
  where s.property_unit is not null
  group by c.root, split_part(s.property_address, ' ', 1)
  having count(distinct s.property_unit) > 1
) units

-- name: conflicted_rows
select s.row_number, c.root, s.mak, s.county_fips, s.apn_normalized, s.addr_hash,
       s.owner_first_name, s.owner_last_name, s.property_address, s.property_city,
       s.property_state, s.property_zip
from ingest_components c join ingest_stage s on s.row_number = c.row_number
where c.root = any(%(roots)s::integer[])
order by s.row_number

-- name: settle_conflicted
-- The components constrain_components settled: each row's new root (a row
-- now alone leaves the table, as a row that never shared a key).
with r as (
  select * from unnest(%(rows)s::integer[], %(roots)s::integer[]) as r(row_number, root)
), alone as (
  delete from ingest_components c using r
  where c.row_number = r.row_number
    and (select count(*) from r r2 where r2.root = r.root) = 1
)
update ingest_components c set root = r.root
from r
where c.row_number = r.row_number and (select count(*) from r r2 where r2.root = r.root) > 1

-- name: create_released
-- The MAKs and APNs release_keys took from rows: a released value no longer
-- joins, but it still keeps its row from a lead or row with another value
-- (constrain_targets and the pass read it back).
create temp table ingest_released (
  row_number integer primary key, mak text, apn_normalized text
) on commit drop

-- name: release_keys
-- Identity keys of rows a constraint split off: the unit of the earliest row
-- keeps each key value (leads hold them uniquely); the others' rows lose it.
with saved as (
  insert into ingest_released (row_number, mak, apn_normalized)
  select s.row_number, case when d.mak then s.mak end, case when d.apn then s.apn_normalized end
  from ingest_stage s
  join unnest(%(rows)s::integer[], %(mak)s::boolean[], %(apn)s::boolean[])
    as d(row_number, mak, apn) on d.row_number = s.row_number
  where (d.mak and s.mak is not null) or (d.apn and s.apn_normalized is not null)
  on conflict (row_number) do update
    set mak = coalesce(ingest_released.mak, excluded.mak),
        apn_normalized = coalesce(ingest_released.apn_normalized, excluded.apn_normalized)
)
update ingest_stage s set
  mak = case when d.mak then null else s.mak end,
  apn_normalized = case when d.apn then null else s.apn_normalized end,
  addr_hash = case when d.addr then null else s.addr_hash end
from unnest(%(rows)s::integer[], %(mak)s::boolean[], %(apn)s::boolean[], %(addr)s::boolean[])
  as d(row_number, mak, apn, addr)
where s.row_number = d.row_number

-- name: conflicted_targets
-- Components (or lone rows) matched to an existing lead that a hard
-- constraint keeps apart from it, in part or whole: a row whose MAK, APN in
-- the lead's county, or unit of the lead's house number differs from the
-- lead's, or a row that matches another lead by an exact key (row A -> L1
-- by MAK, row B -> L2 by address), or that shares its lead with another
-- root (two rows the guard kept apart both match the lead's address: each
-- alone fits the lead, together they may not). Rare; constrain_targets settles them
-- again with the leads as members. Text units may differ where their keys
-- agree ("APT 1", "UNIT 1"): such a root is read again for nothing.
with r as (
  select t.root, t.lead_id, s.row_number, coalesce(s.mak, x.mak) as mak, s.county_fips,
         coalesce(s.apn_normalized, x.apn_normalized) as apn_normalized,
         s.addr_hash, s.property_unit, split_part(s.property_address, ' ', 1) as num
  from ingest_targets t
  join ingest_stage s on s.row_number = t.root
  left join ingest_released x on x.row_number = s.row_number
  union all
  select t.root, t.lead_id, s.row_number, coalesce(s.mak, x.mak), s.county_fips,
         coalesce(s.apn_normalized, x.apn_normalized),
         s.addr_hash, s.property_unit, split_part(s.property_address, ' ', 1)
  from ingest_targets t
  join ingest_components c on c.root = t.root and c.row_number <> t.root
  join ingest_stage s on s.row_number = c.row_number
  left join ingest_released x on x.row_number = s.row_number
)
select t.root from ingest_targets t
where t.lead_id in (select lead_id from ingest_targets group by lead_id having count(*) > 1)
union
select r.root
from r join leads l on l.id = r.lead_id
where r.mak <> l.mak
   or (r.county_fips = l.county_fips and r.apn_normalized <> l.apn_normalized)
   or (r.property_unit <> l.property_unit and r.num = split_part(l.property_address, ' ', 1))
   -- Another lead is only looked for where the lead's own key is not the
   -- row's (a key the lead holds, no other lead holds: a re-upload's rows
   -- probe no index here).
   or (l.mak is null
       and exists (select 1 from leads o where o.mak = r.mak and o.id <> r.lead_id))
   or (r.apn_normalized is not null
       and (l.county_fips, l.apn_normalized) is distinct from (r.county_fips, r.apn_normalized)
       and exists (select 1 from leads o
                   where o.county_fips = r.county_fips and o.apn_normalized = r.apn_normalized
                     and o.id <> r.lead_id))
   or (l.addr_hash is distinct from r.addr_hash
       and exists (select 1 from leads o where o.addr_hash = r.addr_hash and o.id <> r.lead_id))

-- name: target_rows
-- Every row of the roots constrain_targets settles, with its root.
select s.row_number, coalesce(c.root, s.row_number) as root, s.mak, s.county_fips,
       s.apn_normalized, x.mak as released_mak, x.apn_normalized as released_apn,
       s.addr_hash, s.owner_first_name, s.owner_last_name,
       s.property_address, s.property_city, s.property_state, s.property_zip
from ingest_stage s
left join ingest_components c on c.row_number = s.row_number
left join ingest_released x on x.row_number = s.row_number
where coalesce(c.root, s.row_number) = any(%(roots)s::integer[])
order by s.row_number

-- name: target_leads
-- Every lead a row of those roots matches by an exact key (a union, so each
-- key is looked up through its own unique index).
select l.id, l.mak, l.county_fips, l.apn_normalized, l.addr_hash, l.owner_first_name,
       l.owner_last_name, l.property_address, l.property_unit, l.property_city,
       l.property_state, l.property_zip
from leads l
where l.id in (
  select id from leads where mak = any(%(maks)s::text[])
  union
  select o.id from unnest(%(counties)s::text[], %(apns)s::text[]) as k(county_fips, apn)
  join leads o on o.county_fips = k.county_fips and o.apn_normalized = k.apn
  union
  select id from leads where addr_hash = any(%(hashes)s::bytea[]))
order by l.id

-- name: settle_targets
-- The roots constrain_targets settled: each row's new root and link (a row
-- now alone leaves the components, as a row that never shared a key), and
-- each new root's lead, if it has one.
with r as (
  select * from unnest(%(rows)s::integer[], %(roots)s::integer[], %(links)s::match_key[])
    as r(row_number, root, link)
), sizes as (
  select root, count(*) as n from r group by root
), alone as (
  delete from ingest_components c using r join sizes z on z.root = r.root
  where c.row_number = r.row_number and z.n = 1
), together as (
  insert into ingest_components (row_number, root, link)
  select r.row_number, r.root, r.link from r join sizes z on z.root = r.root where z.n > 1
  on conflict (row_number) do update set root = excluded.root, link = excluded.link
), gone as (
  delete from ingest_targets t where t.root = any(%(old)s::integer[])
)
insert into ingest_targets (root, lead_id, match_key)
select * from unnest(%(t_roots)s::integer[], %(t_leads)s::uuid[], %(t_keys)s::match_key[])
