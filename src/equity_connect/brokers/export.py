"""The lead export: one row shape for the API and the CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator

from equity_connect.db import queries
from equity_connect.db.pool import Conn
from equity_connect.security.crypto import PiiCipher
from equity_connect.security.pii import lead_contact, lead_extras

Q = queries.load("equity_connect.brokers")

HEADER = [
    "lead_id",
    "first_name",
    "last_name",
    "address",
    "city",
    "state",
    "zip",
    "score",
    "status",
    "email",
    "phone",
    "consent",
    "suppressed",
    "extra",  # the vendor's unknown columns, decrypted, as a JSON object
]
KINDS = ["text"] * 7 + ["number", "text", "text", "phone", "text", "text", "text"]


def _extra_cell(cipher: PiiCipher, row: dict[str, object]) -> str | None:
    extras = lead_extras(cipher, row)
    return json.dumps(extras, ensure_ascii=False, sort_keys=True) if extras else None


def export_rows(conn: Conn, cipher: PiiCipher, *, itersize: int = 2000) -> Iterator[list[object]]:
    """Every lead the connection may see, from a server-side cursor (memory stays flat)."""
    with conn.cursor(name="lead_export") as cur:
        cur.itersize = itersize
        cur.execute(Q["export_rows"])
        for r in cur:
            yield [
                r["id"],
                r["owner_first_name"],
                r["owner_last_name"],
                r["property_address"],
                r["property_city"],
                r["property_state"],
                r["property_zip"],
                r["lead_score"],
                r["campaign_status"],
                lead_contact(cipher, r, "email"),
                lead_contact(cipher, r, "phone"),
                r["consent"],
                r["suppressed"],
                _extra_cell(cipher, r),
            ]
