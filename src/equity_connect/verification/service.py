"""Provider result codes → verified or not, through the versioned code map."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime

from equity_connect.db import queries
from equity_connect.db.pool import Conn
from equity_connect.scoring.service import rescore
from equity_connect.verification.schemas import ContactChannel

Q = queries.load("equity_connect.verification")

CodeMap = dict[tuple[str, str, str], bool]


def load_code_map(conn: Conn) -> CodeMap:
    """The current map: ``(provider, channel, code) → is_verified`` (newest version wins)."""
    return {
        (r["provider"], r["channel"], r["code"]): r["is_verified"]
        for r in conn.execute(Q["current_code_map"])
    }


def is_verified(
    code_map: CodeMap, provider: str, channel: ContactChannel, codes: Iterable[str]
) -> bool:
    """Whether any of the codes verifies the contact. Unknown codes never verify."""
    return any(code_map.get((provider, str(channel), code), False) for code in codes)


def rederive(conn: Conn, *, now: datetime) -> list[uuid.UUID]:
    """Recompute contacts' and leads' flags from stored codes; re-score and return changed leads.

    Run after adding a new version of the map: flags then follow the new
    mapping without asking any provider again.
    """
    touched = sorted({r["lead_id"] for r in conn.execute(Q["rederive_contacts"])})
    if not touched:
        return []
    changed = [r["id"] for r in conn.execute(Q["rederive_leads"], {"lead_ids": touched})]
    rescore(conn, changed, now=now)
    return changed
