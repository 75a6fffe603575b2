"""Scheduled runs: one at a time per job (advisory lock), in LA time, recorded in job_runs."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from equity_connect.campaign.service import FeedResult, Q, feed, refresh_contactable
from equity_connect.config import Settings
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


def default_campaign(settings: Settings) -> str | None:
    """The campaign for brokers without their own: configured, or the simulator's."""
    if settings.instantly_campaign_id is None and settings.campaign_provider == "simulator":
        return "simulated-campaign"
    return settings.instantly_campaign_id


def refresh_run(pool: ConnectionPool[Conn], business_date: date) -> str:
    """The 05:30 PT run: refresh the contactable view and queue newly contactable leads."""
    return run_locked(
        pool,
        "refresh_contactable",
        business_date,
        LockKey.REFRESH_CONTACTABLE,
        lambda conn: {"queued": refresh_contactable(conn)},
    )


def feed_run(
    pool: ConnectionPool[Conn], settings: Settings, business_date: date
) -> tuple[str, FeedResult | None]:
    """The 06:00 PT run (also the manual one): its outcome and, when it ran, what it fed."""
    results: list[FeedResult] = []

    def body(conn: Conn) -> dict[str, Any]:
        results.append(
            feed(
                conn,
                business_date=business_date,
                cap=settings.daily_feed_cap,
                default_campaign=default_campaign(settings),
            )
        )
        return results[-1].counts

    outcome = run_locked(pool, "feed_daily", business_date, LockKey.FEED_DAILY, body)
    return outcome, (results[0] if results else None)
