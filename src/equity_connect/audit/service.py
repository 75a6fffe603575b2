"""Audit rows: who changed what, written in the transaction of the change."""

from __future__ import annotations

from typing import Any

from psycopg.types.json import Jsonb

from equity_connect.auth.principal import Principal
from equity_connect.db import queries
from equity_connect.db.pool import Conn
from equity_connect.observability.logs import request_id

Q = queries.load("equity_connect.audit")


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
    """Append an audit row. ``before``/``after`` must hold non-PII fields only.

    Brokers hold no INSERT on the audit log (else a broker's session token
    could write any row through Supabase's REST API), so inside a broker's
    transaction the row is written as the connection's own pipeline role
    and the broker's role is put back after: same transaction, same claims.
    """
    acting_as = conn.execute(Q["current_role_setting"]).fetchone()
    as_broker = acting_as is not None and acting_as["role"] not in ("none", "")
    if as_broker:
        conn.execute(Q["reset_local_role"])
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
    if as_broker:
        assert acting_as is not None
        conn.execute(Q["set_local_role"], {"role": acting_as["role"]})
