"""Readiness: the database answers, the schema is current, a worker is alive."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from equity_connect.db import migrate
from equity_connect.db.pool import Conn
from equity_connect.observability.metrics import Q


def readiness(
    pool: ConnectionPool[Conn], *, max_heartbeat_age: float
) -> tuple[bool, dict[str, Any]]:
    """(ready, checks). Each check says what it saw, so a 503 explains itself."""
    checks: dict[str, Any] = {}
    try:
        with pool.connection(timeout=5) as conn:
            conn.execute("select 1")
            checks["database"] = "ok"
            states = migrate.status(conn)
            pending = [s.migration.filename for s in states if s.applied_at is None or s.tampered]
            checks["migrations"] = "current" if not pending else f"not current: {pending}"
            beat = conn.execute(Q["worker_heartbeat"]).fetchone()
    except (psycopg.Error, OSError) as exc:
        checks["database"] = f"unreachable: {type(exc).__name__}"
        return False, checks
    age = beat["seconds_ago"] if beat else None
    working_age = beat["working_seconds_ago"] if beat else None
    if age is None:
        checks["worker"] = "no worker has reported"
    elif age > max_heartbeat_age:
        checks["worker"] = f"last heartbeat {age:.0f}s ago"
    elif working_age is None or working_age > max_heartbeat_age:
        # Heartbeats arrive, but every worker says it is not working
        # (job threads down, or the database unreachable from it).
        checks["worker"] = "degraded: no worker reports that it is working"
    else:
        checks["worker"] = "ok"
    ready = all(v in ("ok", "current") for v in checks.values())
    return ready, checks
