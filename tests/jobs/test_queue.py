"""The job queue on the real database: exactly-once claims, retries, DLQ, recovery."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from equity_connect.config import Settings
from equity_connect.db.pool import Conn, connect, open_pool
from equity_connect.jobs import service
from equity_connect.jobs.ratelimit import SharedTokenBucket
from equity_connect.jobs.registry import Registry, TaskContext
from equity_connect.jobs.worker import PermanentJobError, RetryPolicy, Worker, run_pending
from equity_connect.outbound.retry import RateLimited
from equity_connect.security.crypto import Keyring, generate_key

KEYRING = Keyring.from_values(f"k1:{generate_key()}", generate_key())
SETTINGS = Settings(pool_min_size=1, pool_max_size=12)

registry = Registry()


def _log_run(ctx: TaskContext, args: dict[str, Any], what: str) -> None:
    with ctx.pool.connection() as conn:
        conn.execute(
            "insert into test_job_runs (job_id, n, what) values (%s, %s, %s)",
            [ctx.job_id, args.get("n"), what],
        )


@registry.task("test.record_run")
def record_run(ctx: TaskContext, args: dict[str, Any]) -> None:
    _log_run(ctx, args, "done")


@registry.task("test.rate_limited")
def rate_limited(ctx: TaskContext, args: dict[str, Any]) -> None:
    raise RateLimited("fake", "slow down", status_code=429, retry_after=2.0)


@registry.task("test.always_broken")
def always_broken(ctx: TaskContext, args: dict[str, Any]) -> None:
    raise PermanentJobError("the input can never work")


@registry.task("test.flaky")
def flaky(ctx: TaskContext, args: dict[str, Any]) -> None:
    if ctx.attempt < 3:
        raise ConnectionError("passing trouble")
    _log_run(ctx, args, "done")


@registry.task("test.slow")
def slow(ctx: TaskContext, args: dict[str, Any]) -> None:
    _log_run(ctx, args, "started")
    time.sleep(float(args.get("seconds", 30)))
    _log_run(ctx, args, "done")


@pytest.fixture
def db(fresh_database_url: str) -> str:
    with psycopg.connect(fresh_database_url, autocommit=True) as conn:
        conn.execute(
            "create table test_job_runs (id bigint generated always as identity, "
            "job_id bigint, n int, what text, at timestamptz default clock_timestamp())"
        )
    return fresh_database_url


@pytest.fixture
def pool(db: str) -> Iterator[ConnectionPool[Conn]]:
    p = open_pool(SETTINGS, conninfo=db)
    yield p
    p.close()


def fast_worker(pool: ConnectionPool[Conn], **kw: Any) -> Worker:
    return Worker(
        pool,
        registry,
        settings=SETTINGS,
        keyring=KEYRING,
        poll_seconds=0.02,
        policy=RetryPolicy(base_seconds=0.01, cap_seconds=0.05),
        **kw,
    )


def enqueue_many(url: str, task: str, count: int, **kw: Any) -> list[int]:
    with connect(url) as conn:
        ids = [service.enqueue(conn, task, {"n": i}, **kw) for i in range(count)]
        conn.commit()
    return [i for i in ids if i is not None]


def runs(url: str, what: str = "done") -> list[tuple[int, int]]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "select job_id, n from test_job_runs where what = %s order by job_id", [what]
        ).fetchall()


def test_enqueue_belongs_to_the_callers_transaction(db: str) -> None:
    with connect(db) as conn:
        service.enqueue(conn, "test.record_run", {"n": 1})
        conn.rollback()
        assert conn.execute("select count(*) as n from jobs").fetchone() == {"n": 0}


def test_idempotency_key_enqueues_once(db: str) -> None:
    with connect(db) as conn:
        first = service.enqueue(conn, "test.record_run", idempotency_key="day-1")
        second = service.enqueue(conn, "test.record_run", idempotency_key="day-1")
        conn.commit()
    assert first is not None and second is None


def _worker_process(url: str) -> None:
    pool = open_pool(SETTINGS, conninfo=url)
    try:
        Worker(
            pool, registry, settings=SETTINGS, keyring=KEYRING, concurrency=4, poll_seconds=0.02
        ).run(threading.Event(), until_idle=True)
    finally:
        pool.close()


def test_two_worker_processes_run_each_of_1000_jobs_exactly_once(db: str) -> None:
    enqueue_many(db, "test.record_run", 1000)
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_worker_process, args=(db,)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0
    done = runs(db)
    assert len(done) == 1000
    assert len({job for job, _ in done}) == 1000
    with psycopg.connect(db) as conn:
        assert conn.execute("select status, count(*) from jobs group by 1").fetchall() == [
            ("succeeded", 1000)
        ]


def test_killed_worker_job_is_recovered_and_finished_once(db: str) -> None:
    [job_id] = enqueue_many(db, "test.slow", 1)
    ctx = multiprocessing.get_context("fork")

    def doomed() -> None:
        pool = open_pool(SETTINGS, conninfo=db)
        Worker(pool, registry, settings=SETTINGS, keyring=KEYRING, lease_seconds=1.5).run_one()

    victim = ctx.Process(target=doomed)
    victim.start()
    deadline = time.monotonic() + 20
    while not runs(db, "started") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert runs(db, "started"), "the victim never started the job"
    os.kill(victim.pid, signal.SIGKILL)  # type: ignore[arg-type]
    victim.join()
    with connect(db) as conn:
        conn.execute("update jobs set args = %s where id = %s", ['{"seconds": 0}', job_id])
        conn.commit()
    time.sleep(1.6)  # let the lease run out
    with open_pool(SETTINGS, conninfo=db) as pool:
        fast_worker(pool).run(threading.Event(), until_idle=True, idle_horizon=5)
    assert runs(db) == [(job_id, None)]
    with psycopg.connect(db) as conn:
        row = conn.execute("select status, attempts from jobs where id = %s", [job_id]).fetchone()
    assert row == ("succeeded", 2)


def test_retry_after_is_honoured(pool: ConnectionPool[Conn], db: str) -> None:
    [job_id] = enqueue_many(db, "test.rate_limited", 1)
    before = time.time()
    assert fast_worker(pool).run_one()
    with psycopg.connect(db) as conn:
        row = conn.execute(
            "select status, extract(epoch from run_at) as due, last_error from jobs where id = %s",
            [job_id],
        ).fetchone()
    assert row is not None
    assert row[0] == "queued"
    assert float(row[1]) >= before + 2.0
    assert "slow down" in row[2]


def test_transient_failures_are_retried_until_success(pool: ConnectionPool[Conn], db: str) -> None:
    [job_id] = enqueue_many(db, "test.flaky", 1)
    fast_worker(pool).run(threading.Event(), until_idle=True, idle_horizon=5)
    assert runs(db) == [(job_id, 0)]


def test_exhausted_job_lands_in_dlq_and_replays_once(pool: ConnectionPool[Conn], db: str) -> None:
    enqueue_many(db, "test.flaky", 1, max_attempts=2)
    fast_worker(pool).run(threading.Event(), until_idle=True, idle_horizon=5)
    assert runs(db) == []
    with connect(db) as conn:
        [entry] = conn.execute("select id, source, reason, status from pipeline_dlq").fetchall()
        assert entry["source"] == "test.flaky"
        # a foreign exception's text may quote data: only its type is kept
        assert entry["reason"] == "ConnectionError (message withheld: it may quote data)"
        # The flaky task succeeds on its third attempt: a replay gets fresh attempts.
        conn.execute("update jobs set attempts = 2")
        conn.commit()
    results: list[list[int]] = []

    def replay() -> None:
        with connect(db) as c:
            results.append(service.replay_dlq(c))
            c.commit()

    threads = [threading.Thread(target=replay) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(len(r) for r in results) == [0, 0, 0, 0, 1]
    fast_worker(pool).run(threading.Event(), until_idle=True, idle_horizon=5)
    assert len(runs(db)) == 1
    with psycopg.connect(db) as conn:
        assert conn.execute("select status from pipeline_dlq").fetchone() == ("replayed",)


def test_permanent_error_skips_retries(pool: ConnectionPool[Conn], db: str) -> None:
    enqueue_many(db, "test.always_broken", 1)
    fast_worker(pool).run(threading.Event(), until_idle=True, idle_horizon=5)
    with psycopg.connect(db) as conn:
        assert conn.execute("select status, attempts from jobs").fetchone() == ("dead", 1)
        assert conn.execute("select count(*) from pipeline_dlq").fetchone() == (1,)


def test_unknown_task_is_buried_not_crashed(pool: ConnectionPool[Conn], db: str) -> None:
    enqueue_many(db, "test.no_such_task", 1)
    fast_worker(pool).run(threading.Event(), until_idle=True, idle_horizon=5)
    with psycopg.connect(db) as conn:
        [reason] = conn.execute("select reason from pipeline_dlq").fetchone() or [""]
    assert "no task named" in reason


def test_run_pending_reports_how_many_ran(pool: ConnectionPool[Conn], db: str) -> None:
    enqueue_many(db, "test.record_run", 7)
    assert run_pending(pool, registry, settings=SETTINGS, keyring=KEYRING, concurrency=2) == 7


def test_shared_token_bucket_holds_two_takers_to_the_rate(pool: ConnectionPool[Conn]) -> None:
    rate, burst, window = 20.0, 2.0, 1.5
    bucket_a = SharedTokenBucket(pool, "fake-provider", rate_per_sec=rate, burst=burst)
    bucket_b = SharedTokenBucket(pool, "fake-provider", rate_per_sec=rate, burst=burst)
    stamps: list[float] = []
    lock = threading.Lock()
    end = time.monotonic() + window

    def take(bucket: SharedTokenBucket) -> None:
        while time.monotonic() < end:
            bucket.acquire()
            with lock:
                stamps.append(time.monotonic())

    threads = [
        threading.Thread(target=take, args=(b,)) for b in (bucket_a, bucket_b) for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stamps.sort()
    # In any interval, calls never exceed burst + rate × interval (plus one for edges).
    for i, start in enumerate(stamps):
        for j in range(i, len(stamps)):
            span = stamps[j] - start
            assert j - i + 1 <= burst + rate * span + 1
    assert len(stamps) >= rate * window * 0.6  # and the limiter does let work through
