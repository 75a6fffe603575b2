-- Blocking indexes that answer the probabilistic pass's probes whole
-- (ingest/queries.sql create_lead_hits). 0022's indexes held only a prefix
-- of two keys (ZIP + street prefix; ZIP + surname), so every probe read the
-- heap row of each lead on that street or of that surname in the ZIP to test
-- the rest of the key: about 60 leads per probe on a million leads, 16 s for
-- an upload of 100,000 rows (bench/matching_scale.py). These hold the
-- whole key; they replace the two prefix indexes, which they cover.
create index if not exists leads_block_zip_street_owner_idx
  on public.leads (property_zip, (left(split_part(property_address, ' ', 2), 4)),
                   (left(upper(trim(split_part(owner_last_name, ',', 1))), 1)))
  where property_zip is not null;
create index if not exists leads_block_zip_surname_street_idx
  on public.leads (property_zip, (upper(trim(split_part(owner_last_name, ',', 1)))),
                   (left(split_part(property_address, ' ', 2), 1)))
  where property_zip is not null;
drop index if exists public.leads_block_zip_street_idx;
drop index if exists public.leads_block_zip_surname_idx;

-- A row with a ZIP meets a lead on city + state + house number only when
-- the lead has no ZIP (with both ZIPs, ZIP + house number is the key): the
-- leads without one, apart, so that probe reads none of the others.
create index if not exists leads_block_city_number_no_zip_idx
  on public.leads (property_city, property_state, (split_part(property_address, ' ', 1)))
  where property_zip is null;
