"""Re-score leads whose inputs changed."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from psycopg.types.json import Jsonb

from equity_connect.db import queries
from equity_connect.db.pool import Conn
from equity_connect.scoring.model import ScoreInputs, score

Q = queries.load("equity_connect.skiptrace")


def rescore(conn: Conn, lead_ids: Sequence[uuid.UUID], *, now: datetime) -> int:
    """Recompute ``lead_score`` and its breakdown; returns how many changed."""
    changed = 0
    for r in conn.execute(Q["score_inputs"], {"lead_ids": list(lead_ids)}).fetchall():
        result = score(
            ScoreInputs(
                r["estimated_value"],
                r["estimated_equity"],
                r["owner_age"],
                r["phone_verified"],
                r["email_verified"],
                r["phone_dnc"],
                r["data_as_of"],
            ),
            now=now,
        )
        changed += conn.execute(
            Q["set_score"],
            {"lead_id": r["id"], "score": result.total, "breakdown": Jsonb(result.as_json())},
        ).rowcount
    return changed
