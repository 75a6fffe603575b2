"""What every public endpoint does before trusting a request: cap it, and log refusals."""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from fastapi import Request
from psycopg.types.json import Jsonb

from equity_connect.db import queries
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
    """Keep a security event for a refused request: what and why, never the body."""

    def write() -> None:
        with state.pool.connection() as conn:
            conn.execute(
                Q["record_security_event"],
                {
                    "kind": kind,
                    "code": code,
                    "remote_addr": request.client.host if request.client else None,
                    "detail": Jsonb(detail),
                },
            )

    await anyio.to_thread.run_sync(write)
