-- The ops console (issue 15, items 4 and 5).
--
-- 1. Who sent an upload. An upload is authenticated by a shared HMAC secret,
--    not by a person, so this is what the request could prove: the API
--    records "api (<signature scheme>) from <client address>", the CLI
--    "cli: <user>@<host>". Null for uploads from before this migration.
alter table public.uploads add column if not exists uploaded_by text;

-- 2. The uploads page lists newest first with a total; the existing indexes
--    have none on received_at, so a page would sort the whole table.
create index if not exists uploads_received_idx on public.uploads (received_at desc, id desc);

-- 3. The dead-letter page lists pending entries newest first (by id),
--    counts them and groups them by job and reason. pipeline_dlq_pending_idx
--    is on created_at, which the list does not order by: a partial index on
--    id serves the count (an index-only scan) and the page. A btree cannot
--    hold the reason itself (2,000 characters in a multi-byte script pass
--    the btree row limit, and the INSERT into the DLQ would fail), so the
--    group key is md5 of the reason, stored (a generated column, so no
--    writer has to know), and indexed with the job and id: the groups are
--    counted from the index alone, and each group's newest entry is one probe.
create index if not exists pipeline_dlq_pending_id_idx
  on public.pipeline_dlq (id desc) where status = 'pending';
alter table public.pipeline_dlq add column if not exists reason_key text
  generated always as (md5(coalesce(reason, ''))) stored;
create index if not exists pipeline_dlq_pending_group_idx
  on public.pipeline_dlq (source, reason_key, id) where status = 'pending';

-- 4. The providers page sums a week of provider events (requests, errors,
--    429s); only events naming a provider are read, a small part of the table.
create index if not exists pipeline_events_provider_time_idx
  on public.pipeline_events (occurred_at) where provider is not null;
