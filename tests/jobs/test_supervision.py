"""The job loop's supervisor: dead threads restarted, lost runs handed back fairly."""

from __future__ import annotations

import threading
from typing import Any

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from equity_connect.db.pool import Conn, connect
from equity_connect.jobs import service
from equity_connect.jobs.registry import Registry, TaskContext
from equity_connect.jobs.worker import RetryPolicy, Worker
from tests.jobs.test_queue import KEYRING, SETTINGS, db, enqueue_many, pool, runs

__all__ = ["db", "pool"]  # fixtures shared with the queue tests

registry = Registry()
_exits: list[int] = []


@registry.task("test.exit_once")
def exit_once(ctx: TaskContext, args: dict[str, Any]) -> None:
    if not _exits:
        _exits.append(ctx.job_id)
        raise SystemExit(1)  # what a task calling sys.exit() does to its thread
    with ctx.pool.connection() as conn:
        conn.execute(
            "insert into test_job_runs (job_id, n, what) values (%s, %s, 'done')",
            [ctx.job_id, args.get("n")],
        )


@registry.task("test.lose_connection")
def lose_connection(ctx: TaskContext, args: dict[str, Any]) -> None:
    with ctx.pool.connection() as conn:
        # The backend is terminated under the task, as a pooler restart does.
        conn.execute("select pg_terminate_backend(pg_backend_pid())")


def worker(pool: ConnectionPool[Conn], **kw: Any) -> Worker:
    return Worker(
        pool,
        registry,
        settings=SETTINGS,
        keyring=KEYRING,
        poll_seconds=0.02,
        policy=RetryPolicy(base_seconds=0.01, cap_seconds=0.05),
        backoff_cap_seconds=0.05,
        **kw,
    )


def test_a_thread_that_dies_is_restarted(pool: ConnectionPool[Conn], db: str) -> None:
    _exits.clear()
    enqueue_many(db, "test.exit_once", 5)
    w = worker(pool, concurrency=1, lease_seconds=1.0)
    w.run(threading.Event(), until_idle=True, idle_horizon=5)
    assert w.thread_restarts == 1
    # The job whose thread died came back when its lease ran out and finished too.
    assert len(runs(db)) == 5


def test_a_run_cut_by_a_lost_connection_is_handed_back_without_an_attempt(
    pool: ConnectionPool[Conn], db: str
) -> None:
    [job_id] = enqueue_many(db, "test.lose_connection", 1, max_attempts=1)
    w = worker(pool)
    with pytest.raises(psycopg.OperationalError):
        w.run_one()
    w.beat()  # the database answers again: the worker hands back what it lost
    with psycopg.connect(db) as conn:
        row = conn.execute(
            "select status::text, attempts, connection_losses, last_error from jobs where id = %s",
            [job_id],
        ).fetchone()
        dead = conn.execute("select count(*) from pipeline_dlq").fetchone()
    # max_attempts=1: had the lost connection cost the attempt, the job would be dead.
    assert row == ("queued", 0, 1, "database connection lost mid-run")
    assert dead == (0,)


def test_lost_connections_stop_being_free_after_three(db: str) -> None:
    [job_id] = enqueue_many(db, "test.lose_connection", 1, max_attempts=2)
    seen = []
    with connect(db) as conn:
        for _ in range(5):
            [claimed] = service.claim(conn, "w1", queues=["default"])
            assert service.release_lost(conn, [claimed.id], "w1") == [job_id]
            row = conn.execute("select status::text as s, attempts from jobs").fetchone()
            assert row is not None
            seen.append((row["s"], row["attempts"]))
        dlq = conn.execute("select reason, attempts from pipeline_dlq").fetchall()
        conn.rollback()
    # Three losses are free; after that they count, and the job ends in the DLQ.
    assert seen == [("queued", 0)] * 3 + [("queued", 1), ("dead", 2)]
    reason = "database connection lost mid-run on the last attempt"
    assert dlq == [{"reason": reason, "attempts": 2}]


def test_release_lost_leaves_jobs_another_worker_took(db: str) -> None:
    [job_id] = enqueue_many(db, "test.lose_connection", 1)
    with connect(db) as conn:
        service.claim(conn, "w1", queues=["default"])
        conn.execute("update jobs set locked_by = 'w2' where id = %s", [job_id])
        assert service.release_lost(conn, [job_id], "w1") == []
        conn.rollback()


def test_heartbeat_says_degraded_while_a_job_thread_is_down(
    pool: ConnectionPool[Conn], db: str
) -> None:
    w = worker(pool, concurrency=2)
    w.slots_alive = 1  # one of its two job threads is down
    w.beat()
    w.slots_alive = 2
    with psycopg.connect(db) as conn:
        degraded = conn.execute("select state, slots, slots_alive from workers").fetchone()
        w.beat()
        working = conn.execute("select state from workers").fetchone()
    assert degraded == ("degraded", 2, 1)
    assert working == ("working",)
