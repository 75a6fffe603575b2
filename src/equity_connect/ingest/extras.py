"""A lead's unknown CSV columns: encrypted at rest, and moving old clear values there.

Unknown columns are vendor free text (``notes``, ``memo``) and hold phone
numbers and emails in shapes no filter catches, so the ingest keeps them
as one ciphertext per lead (see ``rows.stage_record`` and migration 0013).
Leads ingested before that still have them in clear in ``leads.raw``; SQL
cannot encrypt (the keys never reach the database), so this moves them.
"""

from __future__ import annotations

import json
from typing import Any

from equity_connect.db import queries
from equity_connect.db.pool import Conn
from equity_connect.ingest.rows import extras_aad
from equity_connect.security.crypto import PiiCipher

Q = queries.load("equity_connect.ingest")


def encrypt_legacy_extras(conn: Conn, cipher: PiiCipher, *, limit: int = 1000) -> int:
    """Encrypt up to ``limit`` leads' clear ``raw`` into ``raw_extra_ciphertext``; how many.

    Values already encrypted win over clear ones (they came from a later
    upload). Call until it returns 0; each call is one batch in the
    caller's transaction, and locked rows are left to the next call.
    """
    rows = conn.execute(Q["legacy_extras_batch"], {"limit": limit}).fetchall()
    for r in rows:
        merged: dict[str, Any] = dict(r["raw"])
        if r["raw_extra_ciphertext"] is not None:
            current = cipher.decrypt(r["raw_extra_ciphertext"], extras_aad(r["id"]))
            merged.update(json.loads(current))
        ciphertext = cipher.encrypt(json.dumps(merged, ensure_ascii=False), extras_aad(r["id"]))
        conn.execute(Q["store_extras"], {"id": r["id"], "ciphertext": ciphertext})
    return len(rows)
