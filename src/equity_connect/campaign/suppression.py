"""The one suppression set: every channel, keyed by blind index, value kept encrypted.

Every writer goes through here, so each entry carries its value's ciphertext
as well as its index: the entry survives the lead's deletion, a re-import
(the index matches the new lead), and a rotation of the index key (the value
can be re-indexed).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from equity_connect.campaign.service import Q
from equity_connect.db.pool import Conn
from equity_connect.security.crypto import PiiCipher, aad_for


def value_aad(channel: str) -> bytes:
    """Associated data of a suppressed value (bound to its channel)."""
    return aad_for("suppressions", channel, "value")


def suppress_value(
    conn: Conn,
    cipher: PiiCipher,
    channel: str,
    value: str,
    *,
    reason: str,
    source: str,
    lead_id: uuid.UUID | None = None,
) -> None:
    """Suppress one normalized contact value (idempotent: the first reason stays, but an
    opt-out replaces a bounce, which did not cover the other channels)."""
    conn.execute(
        Q["suppress"],
        {
            "channel": channel,
            "index": cipher.blind_index(channel, value),
            "ciphertext": cipher.encrypt(value, value_aad(channel)),
            "reason": reason,
            "source": source,
            "lead_id": lead_id,
        },
    )


def suppress_leads(
    conn: Conn, cipher: PiiCipher, lead_ids: Sequence[uuid.UUID], *, reason: str, source: str
) -> int:
    """Suppress every contact value of these leads on every channel; returns how many."""
    rows = conn.execute(Q["contact_values_of"], {"lead_ids": list(lead_ids)}).fetchall()
    for r in rows:
        if r["source_table"] == "leads":
            aad = aad_for("leads", r["channel"], r["lead_id"])
        elif r["source_table"] == "sms_numbers":
            aad = aad_for("sms_numbers", "phone", r["lead_id"])  # as sms.service binds it
        else:
            aad = aad_for("lead_contacts", r["channel"], f"{r['lead_id']}:{r['source_key']}")
        value = cipher.decrypt(r["ciphertext"], aad)
        suppress_value(
            conn, cipher, r["channel"], value, reason=reason, source=source, lead_id=r["lead_id"]
        )
    return len(rows)


def reconcile_contact_suppressed(conn: Conn) -> int:
    """Repair leads.contact_suppressed both ways; the rows changed. The caller commits.

    The flag's triggers see only committed rows, so a lead and a suppression of
    its value committed concurrently leave it false (migration 0023). Calls,
    texts and each row's badge ask the set itself; only the list's filter and
    count read the flag, and this brings them back. 0 when another run holds
    the lock (the next run makes it up).
    """
    row = conn.execute(Q["reconcile_contact_suppressed"]).fetchone()
    assert row is not None  # a function call returns a row
    return int(row["changed"])
