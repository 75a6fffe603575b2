"""The broker workspace's rules, shared by the broker API and the MCP server: how a lead
is shown (contacts decrypted, calling window) and which status changes a caller may make."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime
from typing import Any

from equity_connect.audit.service import audit
from equity_connect.auth.principal import Principal
from equity_connect.brokers.schemas import LeadOut
from equity_connect.campaign.compliance import calling_allowed, next_allowed, zones_for
from equity_connect.campaign.suppression import suppress_leads
from equity_connect.db import queries
from equity_connect.db.pool import Conn, act_as_broker
from equity_connect.errors import DomainError
from equity_connect.security.crypto import PiiCipher
from equity_connect.security.pii import lead_contact, lead_extras

Q = queries.load("equity_connect.brokers")


def call_window(
    state: str | None, zip5: str | None, phone: str | None, *, dnc: bool, now: datetime
) -> tuple[bool, datetime | None]:
    """(may call now, next allowed instant) under the federal calling hours, judged in
    every zone the homeowner might be in (property and area code: the strictest wins)."""
    if dnc or phone is None:
        return False, None
    zones = zones_for(state, zip5, phone)
    if calling_allowed(now, zones):
        return True, None
    return False, next_allowed(now, zones)


def lead_out(row: dict[str, Any], cipher: PiiCipher, *, pii: bool = True) -> LeadOut:
    """A lead row as the API shows it; ``pii=False`` leaves contacts and extras out
    (an ops key that could not export them through the API)."""
    data = {k: v for k, v in row.items() if not k.endswith("_ciphertext")}
    data.pop("assigned_broker_id", None)
    phone = lead_contact(cipher, row, "phone")
    may_call, opens = call_window(
        row["property_state"],
        row["property_zip"],
        phone,
        dnc=row["phone_dnc"],
        now=datetime.now(UTC),
    )
    return LeadOut(
        **data,
        email=lead_contact(cipher, row, "email") if pii else None,
        phone=phone if pii else None,
        extra=lead_extras(cipher, row) if pii and "raw_extra_ciphertext" in row else {},
        may_call_now=may_call,
        next_call_window=opens,
    )


def found(row: dict[str, Any] | None) -> dict[str, Any]:
    """The row, or 404: another broker's lead is not found, never forbidden."""
    if row is None:
        raise DomainError(404, "not_found", "no such lead among yours")
    return row


def change_status(
    conn: Conn, cipher: PiiCipher, caller: Principal, lead_id: uuid.UUID, status: str
) -> dict[str, Any]:
    """Set a lead's status within the allowed transitions; the lead row after.

    An opted-out lead (unsubscribed, do_not_contact, bounced) keeps its status
    (the query refuses, a trigger too): 409. ``do_not_contact`` is always
    allowed and also suppresses the lead's contact details on every channel.
    A broker's connection must already act as that broker (RLS finds the lead).
    """
    before = found(conn.execute(Q["get_lead"], {"id": lead_id}).fetchone())
    changed = conn.execute(Q["set_status"], {"id": lead_id, "status": status})
    if changed.rowcount == 0:
        raise DomainError(409, "opted_out", "this lead opted out; its status cannot change")
    audit(
        conn,
        caller,
        "lead.status",
        "leads",
        lead_id,
        before={"campaign_status": before["campaign_status"]},
        after={"campaign_status": status},
    )
    if status == "do_not_contact":
        conn.execute("set local role none")  # back to the pipeline, same transaction
        suppress_leads(conn, cipher, [lead_id], reason="do_not_contact", source=caller.kind)
        if caller.kind == "broker":
            act_as_broker(conn, caller.broker_id)
    return found(conn.execute(Q["get_lead"], {"id": lead_id}).fetchone())


def add_note(conn: Conn, caller: Principal, lead_id: uuid.UUID, body: str) -> dict[str, Any]:
    """Add the broker's note to one of their leads; the stored row (id, created_at)."""
    found(conn.execute(Q["get_lead"], {"id": lead_id}).fetchone())
    row = conn.execute(
        Q["add_note"], {"lead_id": lead_id, "broker_id": caller.broker_id, "body": body}
    ).fetchone()
    assert row is not None  # INSERT … RETURNING
    audit(conn, caller, "lead.note", "lead_notes", row["id"], after={"lead_id": str(lead_id)})
    return dict(row)


def page_cursor(row: dict[str, Any]) -> str:
    """The cursor of the page after ``row`` (keyset: created_at, id)."""
    raw = f"{row['created_at'].isoformat()}|{row['id']}".encode()
    return base64.urlsafe_b64encode(raw).decode()


def parse_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    """The (created_at, id) a cursor names; 400 for one we did not issue."""
    try:
        created, lead_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        return datetime.fromisoformat(created), uuid.UUID(lead_id)
    except (ValueError, UnicodeDecodeError) as exc:
        raise DomainError(400, "bad_cursor", "cursor is not one this API issued") from exc
