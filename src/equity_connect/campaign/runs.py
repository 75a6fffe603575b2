"""Scheduled runs: one at a time per job (advisory lock), in LA time, recorded in job_runs."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from equity_connect.campaign.service import Q
from equity_connect.db.locks import LockKey
from equity_connect.db.pool import Conn

SKIPPED_LOCKED = "skipped: locked"


def run_locked(
    pool: ConnectionPool[Conn],
    job_name: str,
    business_date: date,
    lock: LockKey,
    body: Callable[[Conn], dict[str, Any]],
) -> str:
    """Run ``body`` in one transaction under ``pg_try_advisory_xact_lock(lock)``.

    The session runs in America/Los_Angeles (the plan's business clock, so
    SQL date arithmetic agrees with the schedule). A run that cannot take the
    lock does nothing and records "skipped: locked". The lock is
    transaction-scoped, so it survives transaction-mode poolers and is
    released by commit, rollback or a dead connection alike.
    """
    with pool.connection() as conn:
        started = conn.execute(
            Q["start_run"], {"job": job_name, "business_date": business_date}
        ).fetchone()
    assert started is not None  # INSERT … RETURNING
    run_id = started["id"]
    try:
        with pool.connection() as conn:
            conn.execute(Q["set_business_tz"])
            locked = conn.execute(Q["try_lock"], {"key": int(lock)}).fetchone()
            if not (locked and locked["locked"]):
                _finish(conn, run_id, SKIPPED_LOCKED, {})
                return SKIPPED_LOCKED
            counts = body(conn)
            _finish(conn, run_id, "ok", counts)
            return "ok"
    except Exception as exc:
        with pool.connection() as conn:
            _finish(conn, run_id, "failed", {}, error=f"{type(exc).__name__}: {exc}"[:2000])
        raise


def _finish(
    conn: Conn, run_id: int, outcome: str, counts: dict[str, Any], error: str | None = None
) -> None:
    conn.execute(
        Q["finish_run"],
        {"id": run_id, "outcome": outcome, "counts": Jsonb(counts), "error": error},
    )
