"""Audit rows: who changed what, written in the transaction of the change."""

from __future__ import annotations

from typing import Any

from psycopg.types.json import Jsonb

from equity_connect.db.pool import Conn
from equity_connect.observability.logs import request_id
from equity_connect.web.auth import Principal, Q


def audit(
    conn: Conn,
    principal: Principal,
    action: str,
    table: str,
    row_id: object,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    """Append an audit row. ``before``/``after`` must hold non-PII fields only."""
    conn.execute(
        Q["audit"],
        {
            "actor_role": "authenticated" if principal.kind == "broker" else "ops",
            "actor_id": principal.id,
            "action": action,
            "table_name": table,
            "row_id": str(row_id),
            "before": Jsonb(before) if before is not None else None,
            "after": Jsonb(after) if after is not None else None,
            "request_id": request_id.get(),
        },
    )
