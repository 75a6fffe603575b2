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
select id, received_at, source, filename, status::text as status, row_count, inserted_count,
       merged_count, rejected_count, error
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

-- name: upload
select id, received_at, source, filename, status::text as status, row_count, inserted_count,
       merged_count, rejected_count, error
from uploads where id = %(id)s
