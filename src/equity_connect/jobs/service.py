"""The Postgres job queue: enqueue in the caller's transaction, claim, finish, bury.

Delivery is at least once (a worker can die after its work committed and
before the job is marked done), so every task must be idempotent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from equity_connect.db import queries
from equity_connect.db.pool import Conn

Q = queries.load("equity_connect.jobs")


@dataclass(frozen=True)
class ClaimedJob:
    """A job a worker holds the lease on."""

    id: int
    task: str
    args: dict[str, Any]
    attempts: int
    max_attempts: int
    queue: str


def enqueue(
    conn: Conn,
    task: str,
    args: dict[str, Any] | None = None,
    *,
    queue: str = "default",
    priority: int = 0,
    run_at: datetime | None = None,
    max_attempts: int = 8,
    idempotency_key: str | None = None,
) -> int | None:
    """Add a job in the caller's transaction; None if ``idempotency_key`` already has one.

    Arguments must be JSON and should be ids, never PII: they are stored in
    clear and copied to the DLQ.
    """
    row = conn.execute(
        Q["enqueue"],
        {
            "task": task,
            "args": Jsonb(args or {}),
            "queue": queue,
            "priority": priority,
            "run_at": run_at,
            "max_attempts": max_attempts,
            "idempotency_key": idempotency_key,
        },
    ).fetchone()
    return None if row is None else int(row["id"])


def claim(
    conn: Conn, worker: str, *, queues: list[str], limit: int = 1, lease_seconds: float = 60
) -> list[ClaimedJob]:
    """Take up to ``limit`` due jobs, leased to ``worker``; commit right after."""
    rows = conn.execute(
        Q["claim"],
        {"worker": worker, "queues": queues, "limit": limit, "lease_seconds": lease_seconds},
    ).fetchall()
    return [
        ClaimedJob(r["id"], r["task"], r["args"], r["attempts"], r["max_attempts"], r["queue"])
        for r in rows
    ]


def succeed(conn: Conn, job_id: int, worker: str) -> None:
    """Mark a job done."""
    conn.execute(Q["succeed"], {"id": job_id, "worker": worker})


def retry_later(conn: Conn, job_id: int, worker: str, error: str, delay_seconds: float) -> None:
    """Put a failed job back, due after ``delay_seconds``."""
    conn.execute(
        Q["retry_later"],
        {"id": job_id, "worker": worker, "error": error[:2000], "delay_seconds": delay_seconds},
    )


def bury(
    conn: Conn, job_id: int, worker: str, error: str, retry_after: datetime | None = None
) -> int | None:
    """Mark a job dead and file it in the DLQ with its last error; returns the DLQ id."""
    row = conn.execute(
        Q["bury"], {"id": job_id, "worker": worker, "error": error[:2000]}
    ).fetchone()
    if row is None:  # the lease was lost meanwhile: another worker owns the job now
        return None
    dlq = conn.execute(
        Q["to_dlq"],
        {
            "source": row["task"],
            "payload": Jsonb({"task": row["task"], "args": row["args"], "job_id": job_id}),
            "reason": error[:2000],
            "retry_after": retry_after,
            "attempts": row["attempts"],
        },
    ).fetchone()
    assert dlq is not None  # INSERT … RETURNING always returns the row
    return int(dlq["id"])


def recover_stalled(conn: Conn) -> list[dict[str, Any]]:
    """Requeue (or bury, into the DLQ) jobs whose worker's lease expired."""
    recovered = conn.execute(Q["recover_stalled"]).fetchall()
    for r in recovered:
        if r["status"] == "dead":
            conn.execute(
                Q["to_dlq"],
                {
                    "source": r["task"],
                    "payload": Jsonb({"task": r["task"], "args": r["args"], "job_id": r["id"]}),
                    "reason": "lease expired on the last attempt (worker lost)",
                    "retry_after": None,
                    "attempts": r["attempts"],
                },
            )
    return recovered


def release_lost(conn: Conn, job_ids: list[int], worker: str, *, free_losses: int = 3) -> list[int]:
    """Give back jobs whose run a lost connection cut short; returns the ids released.

    Ids no longer leased to ``worker`` (their lease ran out and another
    worker took them back) are left alone. A job that used its free losses
    and its attempts is buried in the DLQ, as an expired lease would be.
    """
    rows = conn.execute(
        Q["release_lost"], {"ids": job_ids, "worker": worker, "free_losses": free_losses}
    ).fetchall()
    for r in rows:
        if r["status"] == "dead":
            conn.execute(
                Q["to_dlq"],
                {
                    "source": r["task"],
                    "payload": Jsonb({"task": r["task"], "args": r["args"], "job_id": r["id"]}),
                    "reason": "database connection lost mid-run on the last attempt",
                    "retry_after": None,
                    "attempts": r["attempts"],
                },
            )
    return [int(r["id"]) for r in rows]


def replay_dlq(conn: Conn, dlq_id: int | None = None) -> list[int]:
    """Re-enqueue pending DLQ entries (one, or all); each exactly once. Returns their ids.

    The entries are locked for the transaction and marked replayed in it, so
    two operators replaying at once cannot both enqueue the same entry.
    """
    replayed: list[int] = []
    for entry in conn.execute(Q["dlq_take_pending"], {"id": dlq_id}).fetchall():
        payload = entry["payload"]
        if isinstance(payload, str):
            payload = json.loads(payload)
        enqueue(conn, payload["task"], payload.get("args") or {})
        conn.execute(Q["dlq_mark_replayed"], {"id": entry["id"]})
        replayed.append(int(entry["id"]))
    return replayed


def replay_dlq_matching(
    conn: Conn,
    *,
    source: str | None = None,
    group_key: str | None = None,
    contains: str | None = None,
    dlq_id: int | None = None,
) -> int:
    """Re-enqueue every pending DLQ entry matching the filters, in one statement; the count.

    ``source`` is the job's task, ``group_key`` the md5 of the reason (how the
    ops console groups entries), ``contains`` a case-insensitive piece of the
    reason. All or none: if one entry cannot be enqueued (a payload without a
    task), the statement fails and nothing is replayed.
    """
    row = conn.execute(
        Q["dlq_replay_matching"],
        {"id": dlq_id, "source": source, "group_key": group_key, "contains": contains},
    ).fetchone()
    assert row is not None  # an aggregate always returns a row
    return int(row["replayed"])
