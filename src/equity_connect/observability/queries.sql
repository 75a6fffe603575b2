-- What /metrics, /readyz and the dashboard read.

-- name: job_counts
select task, status::text as status, count(*) as n from jobs group by task, status

-- name: job_durations
-- Mean run time of jobs finished in the last hour, per task.
select task, avg(extract(epoch from finished_at - started_at))::float8 as seconds, count(*) as n
from jobs
where status = 'succeeded' and finished_at > now() - interval '1 hour'
group by task

-- name: queue_lag
-- How late the most overdue queued job is (0 when none is due).
select coalesce(extract(epoch from now() - min(run_at)), 0)::float8 as seconds
from jobs where status = 'queued' and run_at <= now()

-- name: dlq_depth
select count(*) as n from pipeline_dlq where status = 'pending'

-- name: provider_errors
-- 429s and 5xx per provider over the last 24 hours, from pipeline events.
select provider, coalesce(status_code, 0) as status_code, sum(count)::bigint as n
from pipeline_events
where provider is not null and status_code is not null
  and occurred_at > now() - interval '24 hours'
group by provider, status_code

-- name: last_runs
select distinct on (job_name) job_name, business_date, started_at, finished_at, outcome
from job_runs order by job_name, started_at desc

-- name: last_success
select job_name, extract(epoch from max(finished_at))::float8 as at
from job_runs where outcome = 'ok' group by job_name

-- name: worker_heartbeat
-- The freshest heartbeat overall and of a worker that says it is working:
-- a live process whose job threads died, or that cannot reach the
-- database, still beats but is not doing the work.
select extract(epoch from now() - max(last_seen_at))::float8 as seconds_ago,
       extract(epoch from now() - max(last_seen_at) filter (where state = 'working'))::float8
         as working_seconds_ago,
       count(*) as n
from workers

-- name: worker_health
-- Per worker seen in the last hour, for /metrics (a crashed worker's row
-- stays; it drops out of the series an hour later).
select id, state, slots, slots_alive, loop_errors, db_reconnects, thread_restarts,
       extract(epoch from now() - last_seen_at)::float8 as seconds_ago
from workers
where last_seen_at > now() - interval '1 hour'
order by id

-- name: funnel
select stage, leads from funnel(%(from)s, %(to)s, %(upload)s, %(source)s, %(broker)s)
order by stage_order

-- name: feed_days
select business_date, cap, fed_count from feed_days order by business_date desc limit %(limit)s

-- name: uploads
-- With the progress of uploads still in the worker (0019): phase, rows read
-- and staged so far, and the share of the file read (100 once finished).
select id, received_at, source, filename, status::text as status, row_count, inserted_count,
       merged_count, rejected_count, error, phase, rows_read, rows_staged,
       case when status in ('completed', 'failed') or byte_size = 0 then 100.0
            else round(100.0 * bytes_read / byte_size, 1)::float8 end as percent,
       -- What the dashboard shows: the status once finished, else the live phase.
       case when status in ('completed', 'failed') then status::text
            else phase || ' ' || (case when byte_size = 0 then 0
                                       else floor(100 * bytes_read / byte_size) end)::text
                 || '%% · ' || rows_read::text || ' rows' end as progress
from uploads order by received_at desc limit %(limit)s

-- name: dlq_pending
select id, source, reason, attempts, created_at from pipeline_dlq
where status = 'pending' order by id desc limit %(limit)s

-- name: leaderboard
select b.id, b.name,
  count(l.id) filter (where l.added_to_campaign_at is not null) as fed,
  count(l.id) filter (where l.last_reply_at is not null) as replied,
  count(distinct bk.lead_id) as booked
from brokers b
left join leads l on l.assigned_broker_id = b.id
left join bookings bk on bk.lead_id = l.id
where b.active
group by b.id, b.name
order by booked desc, replied desc, b.name

-- The ops console (web/ops_pages.py). Filters are optional: a null
-- parameter matches everything. Reason filters use strpos, not LIKE, so a
-- "%" or "_" typed by an operator means itself.

-- name: console_uploads_total
select count(*) as n from uploads
where (%(status)s::text is null or status::text = %(status)s::text)
  and (%(source)s::text is null or source = %(source)s::text)

-- name: console_uploads_page
select id, received_at, completed_at, source, filename, uploaded_by, status::text as status,
       row_count, inserted_count, merged_count, rejected_count, error, byte_size
from uploads
where (%(status)s::text is null or status::text = %(status)s::text)
  and (%(source)s::text is null or source = %(source)s::text)
order by received_at desc, id desc
limit %(limit)s offset %(offset)s

-- name: console_upload
select id, received_at, completed_at, source, filename, uploaded_by, status::text as status,
       row_count, inserted_count, merged_count, rejected_count, error, byte_size, encoding,
       delimiter, warnings
from uploads where id = %(id)s

-- name: console_upload_funnels
-- Through lineage: every lead a row of the upload created or merged into,
-- counted once per upload however many of its rows it had.
with fed_by as (
  select distinct r.upload_id, r.lead_id
  from upload_rows r
  where r.upload_id = any(%(ids)s::uuid[]) and r.status in ('inserted', 'merged')
    and r.lead_id is not null
)
select f.upload_id,
       count(*) as leads,
       count(*) filter (where l.email_verified or l.phone_verified) as verified,
       count(*) filter (where l.added_to_campaign_at is not null) as fed,
       count(*) filter (where l.last_reply_at is not null) as replied,
       count(*) filter (where exists (select 1 from bookings b where b.lead_id = l.id)) as booked
from fed_by f join leads l on l.id = f.lead_id
group by f.upload_id

-- name: console_dlq_total
select count(*) as n from pipeline_dlq
where status = 'pending'
  and (%(source)s::text is null or source = %(source)s::text)
  and (%(group_key)s::text is null or reason_key = %(group_key)s::text)
  and (%(contains)s::text is null
       or strpos(lower(coalesce(reason, '')), lower(%(contains)s::text)) > 0)

-- name: console_dlq_page
select id, source, reason, reason_key as group_key, attempts, created_at,
       retry_after, payload->>'job_id' as job_id
from pipeline_dlq
where status = 'pending'
  and (%(source)s::text is null or source = %(source)s::text)
  and (%(group_key)s::text is null or reason_key = %(group_key)s::text)
  and (%(contains)s::text is null
       or strpos(lower(coalesce(reason, '')), lower(%(contains)s::text)) > 0)
order by id desc
limit %(limit)s offset %(offset)s

-- name: console_dlq_groups
-- Pending entries by job and reason (reason_key: md5 of the reason, see
-- migration 0021), biggest first, each with its reason and newest entry.
-- A reason filter is applied to each group's reason (every entry of a group
-- has the same reason), so it reads one reason per group, not per entry;
-- "matching" is the number of entries in all matching groups, "pending"
-- the number of pending entries in all.
with counted as (
  select source, reason_key, count(*) as n, max(id) as newest_id,
         sum(count(*)) over () as pending
  from pipeline_dlq
  where status = 'pending'
  group by source, reason_key
), described as (
  select c.source, c.reason_key, c.n, c.pending, d.reason, d.created_at
  from counted c join pipeline_dlq d on d.id = c.newest_id
  where (%(source)s::text is null or c.source = %(source)s::text)
    and (%(group_key)s::text is null or c.reason_key = %(group_key)s::text)
    and (%(contains)s::text is null
         or strpos(lower(coalesce(d.reason, '')), lower(%(contains)s::text)) > 0)
)
select source, reason_key as group_key, reason, n, created_at as last_at,
       sum(n) over () as matching, pending
from described
order by n desc, source, reason_key
limit %(limit)s

-- name: console_jobs_total
select count(*) as n from jobs
where (%(task)s::text is null or task = %(task)s::text)
  and (%(status)s::text is null or status::text = %(status)s::text)

-- name: console_jobs_page
select id, task, queue, status::text as status, attempts, max_attempts, run_at, created_at,
       started_at, finished_at, locked_by, last_error
from jobs
where (%(task)s::text is null or task = %(task)s::text)
  and (%(status)s::text is null or status::text = %(status)s::text)
order by id desc
limit %(limit)s offset %(offset)s

-- name: console_job
select id, task, args, queue, status::text as status, priority, attempts, max_attempts,
       connection_losses, idempotency_key, run_at, created_at, started_at, finished_at,
       locked_by, locked_until, last_error
from jobs where id = %(id)s

-- name: console_workers
select id, hostname, pid, state, slots, slots_alive, loop_errors, db_reconnects,
       thread_restarts, started_at, last_seen_at,
       extract(epoch from now() - last_seen_at)::float8 as seconds_ago
from workers
order by last_seen_at desc, id

-- name: console_provider_usage
-- Per provider and window, from the provider events the pipeline writes:
-- a skip-trace call is one 'requested' / 'failed' / 'rate_limited' event
-- whose count is the records it sent; a campaign push is one batch.
select w.label as window, e.provider,
       count(*) filter (where e.stage = 'skiptrace'
                          and e.outcome in ('requested', 'failed', 'rate_limited'))
         + count(distinct e.correlation_id) filter (where e.stage = 'fed' and e.outcome = 'pushed')
         as requests,
       coalesce(sum(e.count) filter (where e.stage = 'skiptrace' and e.outcome = 'requested'), 0)
         + coalesce(sum(e.count) filter (where e.stage = 'fed' and e.outcome = 'pushed'), 0)
         as records,
       count(*) filter (where e.outcome = 'failed' and coalesce(e.status_code, 0) <> 429)
         as errors,
       count(*) filter (where e.outcome = 'rate_limited' or e.status_code = 429) as rate_limited
from (values ('24h', interval '24 hours', 1), ('7d', interval '7 days', 2)) as w(label, span, ord)
join pipeline_events e
  on e.provider is not null and e.occurred_at > %(now)s::timestamptz - w.span
 and e.occurred_at <= %(now)s::timestamptz
group by w.label, w.ord, e.provider
order by e.provider, w.ord

-- name: console_feed_days
select d.business_date, f.cap, coalesce(f.fed_count, 0) as fed_count
from unnest(%(days)s::date[]) as d(business_date)
left join feed_days f on f.business_date = d.business_date
order by d.business_date

-- name: console_skipped_total
select count(*) as n from pipeline_events
where stage = 'fed' and outcome = 'skipped' and lead_id is not null
-- name: upload
select id, received_at, source, filename, status::text as status, row_count, inserted_count,
       merged_count, rejected_count, error
from uploads where id = %(id)s
