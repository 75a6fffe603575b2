-- The job queue. Claims use FOR UPDATE SKIP LOCKED so any number of workers
-- on any number of machines take disjoint jobs.

-- name: enqueue
insert into jobs (task, args, queue, priority, run_at, max_attempts, idempotency_key)
values (%(task)s, %(args)s, %(queue)s, %(priority)s, coalesce(%(run_at)s, now()),
        %(max_attempts)s, %(idempotency_key)s)
on conflict (task, idempotency_key) where idempotency_key is not null do nothing
returning id

-- name: claim
update jobs j set
  status = 'running', attempts = j.attempts + 1, locked_by = %(worker)s,
  locked_until = clock_timestamp() + make_interval(secs => %(lease_seconds)s),
  started_at = clock_timestamp()
from (
  select id from jobs
  where status = 'queued' and run_at <= clock_timestamp() and queue = any(%(queues)s)
  order by priority desc, run_at, id
  for update skip locked
  limit %(limit)s
) picked
where j.id = picked.id
returning j.id, j.task, j.args, j.attempts, j.max_attempts, j.queue

-- name: extend_lease
update jobs set locked_until = clock_timestamp() + make_interval(secs => %(lease_seconds)s)
where id = any(%(ids)s) and status = 'running' and locked_by = %(worker)s

-- name: succeed
update jobs set status = 'succeeded', finished_at = clock_timestamp(), locked_by = null,
  locked_until = null, last_error = null
where id = %(id)s and status = 'running' and locked_by = %(worker)s

-- name: retry_later
update jobs set status = 'queued', locked_by = null, locked_until = null,
  last_error = %(error)s,
  run_at = clock_timestamp() + make_interval(secs => %(delay_seconds)s)
where id = %(id)s and status = 'running' and locked_by = %(worker)s

-- name: bury
update jobs set status = 'dead', finished_at = clock_timestamp(), locked_by = null,
  locked_until = null, last_error = %(error)s
where id = %(id)s and status = 'running' and locked_by = %(worker)s
returning task, args, attempts

-- name: to_dlq
insert into pipeline_dlq (source, payload, reason, retry_after, attempts)
values (%(source)s, %(payload)s, %(reason)s, %(retry_after)s, %(attempts)s)
returning id

-- name: recover_stalled
-- A running job whose lease ran out belongs to a worker that died (or hung
-- past its heartbeat): give it back, or bury it if it used its attempts.
update jobs set
  status = case when attempts >= max_attempts then 'dead'::job_status else 'queued'::job_status end,
  finished_at = case when attempts >= max_attempts then clock_timestamp() end,
  last_error = coalesce(last_error, 'lease expired (worker lost)'),
  locked_by = null, locked_until = null
where status = 'running' and locked_until < clock_timestamp()
returning id, task, args, attempts, status

-- name: heartbeat
-- The worker's own account of itself: /readyz and /metrics read it.
insert into workers (id, hostname, pid, state, slots, slots_alive, loop_errors, db_reconnects,
                     thread_restarts)
values (%(id)s, %(hostname)s, %(pid)s, %(state)s, %(slots)s, %(slots_alive)s, %(loop_errors)s,
        %(db_reconnects)s, %(thread_restarts)s)
on conflict (id) do update set last_seen_at = clock_timestamp(), state = excluded.state,
  slots = excluded.slots, slots_alive = excluded.slots_alive,
  loop_errors = excluded.loop_errors, db_reconnects = excluded.db_reconnects,
  thread_restarts = excluded.thread_restarts

-- name: release_lost
-- Jobs whose run was cut by a lost database connection, handed back by the
-- worker that held them. The lost connection is not the job's fault, so the
-- attempt is given back, for the first %(free_losses)s losses; after that the
-- attempt counts (a job that kills its own backend still reaches the DLQ).
update jobs set
  attempts = case when connection_losses < %(free_losses)s then greatest(attempts - 1, 0)
                  else attempts end,
  status = case when connection_losses < %(free_losses)s or attempts < max_attempts
                then 'queued'::job_status else 'dead'::job_status end,
  finished_at = case when connection_losses >= %(free_losses)s and attempts >= max_attempts
                     then clock_timestamp() end,
  connection_losses = connection_losses + 1,
  last_error = 'database connection lost mid-run',
  locked_by = null, locked_until = null, run_at = clock_timestamp()
where id = any(%(ids)s) and status = 'running' and locked_by = %(worker)s
returning id, task, args, attempts, status

-- name: worker_gone
delete from workers where id = %(id)s

-- name: dlq_list
select id, source, reason, attempts, status, created_at, replayed_at
from pipeline_dlq
where (%(status)s::dlq_status is null or status = %(status)s::dlq_status)
order by id desc
limit %(limit)s

-- name: dlq_get
select id, source, payload, reason, retry_after, attempts, status, created_at, replayed_at
from pipeline_dlq where id = %(id)s

-- name: dlq_take_pending
-- Locks the entries to replay; a concurrent replay skips them, so each
-- entry is replayed exactly once.
select id, source, payload from pipeline_dlq
where status = 'pending' and (%(id)s::bigint is null or id = %(id)s::bigint)
order by id
for update skip locked

-- name: dlq_mark_replayed
update pipeline_dlq set status = 'replayed', replayed_at = clock_timestamp() where id = %(id)s

-- name: queue_depth
select status, count(*) as n from jobs group by status

-- name: take_tokens
-- Refill by elapsed time, then take n tokens if there are enough. Returns
-- the wait (seconds) until enough tokens exist; 0 means taken.
with bucket as (
  select provider, capacity, refill_per_sec,
         least(capacity, tokens + extract(epoch from clock_timestamp() - updated_at) * refill_per_sec) as available
  from rate_limits where provider = %(provider)s
  for update
), taken as (
  update rate_limits r set
    tokens = case when b.available >= %(n)s then b.available - %(n)s else b.available end,
    updated_at = clock_timestamp()
  from bucket b where r.provider = b.provider
  returning b.available, b.refill_per_sec
)
select case when available >= %(n)s then 0.0
            else (%(n)s - available) / refill_per_sec end as wait_seconds
from taken

-- name: ensure_bucket
insert into rate_limits (provider, capacity, refill_per_sec, tokens)
values (%(provider)s, %(capacity)s, %(refill_per_sec)s, %(capacity)s)
on conflict (provider) do update set capacity = excluded.capacity,
  refill_per_sec = excluded.refill_per_sec,
  tokens = least(rate_limits.tokens, excluded.capacity)

-- name: seconds_to_next_job
select extract(epoch from min(run_at) - clock_timestamp())::float8 as seconds,
       count(*) filter (where status = 'running') as running
from jobs where status in ('queued', 'running') and queue = any(%(queues)s)

-- name: dlq_replay_matching
-- Replays every pending entry matching the filters in one statement: the
-- entries are locked (a concurrent replay skips them), re-enqueued and marked
-- replayed together, so a failure (a payload without a task) replays none.
-- The filters are the ops console's (null matches everything); group_key is
-- md5 of the reason (pipeline_dlq.reason_key), as the console groups them.
with taken as (
  select id, payload from pipeline_dlq
  where status = 'pending'
    and (%(id)s::bigint is null or id = %(id)s::bigint)
    and (%(source)s::text is null or source = %(source)s::text)
    and (%(group_key)s::text is null or reason_key = %(group_key)s::text)
    and (%(contains)s::text is null
         or strpos(lower(coalesce(reason, '')), lower(%(contains)s::text)) > 0)
  for update skip locked
), queued as (
  insert into jobs (task, args)
  select t.payload->>'task', coalesce(t.payload->'args', '{}'::jsonb) from taken t
  returning id
), marked as (
  update pipeline_dlq d set status = 'replayed', replayed_at = clock_timestamp()
  from taken t where d.id = t.id
  returning d.id
)
select (select count(*) from marked) as replayed, (select count(*) from queued) as enqueued
