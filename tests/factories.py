"""Small builders for rows the tests need. Plain SQL, no ORM."""

from __future__ import annotations

import uuid
from typing import Any

from psycopg import sql

from equity_connect.db.pool import Conn
from equity_connect.security.crypto import PiiCipher, aad_for


def make_broker(conn: Conn, name: str = "Broker") -> uuid.UUID:
    """Insert an active broker and return its id."""
    broker_id = uuid.uuid4()
    conn.execute(
        "insert into brokers (id, name, email) values (%s, %s, %s)",
        [broker_id, name, f"{broker_id.hex[:8]}@brokers.test"],
    )
    return broker_id


def make_lead(
    conn: Conn,
    broker_id: uuid.UUID | None = None,
    *,
    cipher: PiiCipher | None = None,
    email: str | None = None,
    phone: str | None = None,
    **columns: Any,
) -> uuid.UUID:
    """Insert a lead (PII encrypted when a cipher is given) and return its id."""
    lead_id = uuid.uuid4()
    values: dict[str, Any] = {"id": lead_id, "assigned_broker_id": broker_id, **columns}
    if cipher is not None and email is not None:
        values["email_ciphertext"] = cipher.encrypt(email, aad_for("leads", "email", lead_id))
        values["email_index"] = cipher.blind_index("email", email)
    if cipher is not None and phone is not None:
        values["phone_ciphertext"] = cipher.encrypt(phone, aad_for("leads", "phone", lead_id))
        values["phone_index"] = cipher.blind_index("phone", phone)
    query = sql.SQL("insert into leads ({}) values ({})").format(
        sql.SQL(", ").join(map(sql.Identifier, values)),
        sql.SQL(", ").join(sql.Placeholder() * len(values)),
    )
    conn.execute(query, list(values.values()))
    return lead_id
