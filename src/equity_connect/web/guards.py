"""What every public endpoint does before trusting a request: cap it, and log refusals."""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from fastapi import Request
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from equity_connect.db import queries
from equity_connect.db.pool import Conn
from equity_connect.security.events import RejectionRow
from equity_connect.web.errors import DomainError
from equity_connect.web.state import AppState

Q = queries.load("equity_connect.security")


def too_large(cap: int) -> DomainError:
    """The 413 for a body over ``cap`` bytes."""
    return DomainError(413, "payload_too_large", f"body is over the {cap}-byte limit")


async def read_capped_body(request: Request, cap: int) -> bytes:
    """The raw body, refused with 413 as soon as it passes ``cap`` (before any HMAC)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > cap:
        raise too_large(cap)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            raise too_large(cap)
        chunks.append(chunk)
    return b"".join(chunks)


async def record_rejection(
    state: AppState, request: Request, kind: str, code: str, detail: dict[str, Any]
) -> None:
    """Count a refused request (what and why, never the body); write when due.

    A flood costs one row per kind, code and address per window
    (``EC_SECURITY_EVENT_WINDOW_SECONDS``), not one per request: see
    ``security.events``.
    """
    due = state.rejections.hit(
        kind,
        code,
        request.client.host if request.client else None,
        detail,
        window_seconds=state.settings.security_event_window_seconds,
    )
    if due:
        await anyio.to_thread.run_sync(
            write_rejections, state.pool, due, state.settings.security_event_retention_days
        )


def write_rejections(
    pool: ConnectionPool[Conn], rows: list[RejectionRow], retention_days: int
) -> None:
    """Write counted refusals, and drop a batch of those past the retention period."""
    with pool.connection() as conn:
        for row in rows:
            conn.execute(
                Q["record_security_event"],
                {
                    "kind": row.kind,
                    "code": row.code,
                    "remote_addr": row.remote_addr,
                    "detail": Jsonb(row.detail),
                    "hits": row.hits,
                    "first_at": row.first_at,
                    "last_at": row.last_at,
                },
            )
        # Rows arrive only with writes, so pruning with them keeps the table
        # bounded without a scheduled job; a batch at a time stays short.
        conn.execute(Q["prune_security_events"], {"days": retention_days})
