"""Cal.com booking events: match the booking to its lead, keep the booking, notify the broker.

Processing is idempotent (bookings are keyed by Cal.com uid), so a replayed
old event changes nothing.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from equity_connect.consent.service import Q as CONSENT_Q
from equity_connect.db import queries
from equity_connect.db.pool import Conn
from equity_connect.normalize.email import normalize_email
from equity_connect.notifications import service as notifications
from equity_connect.replies.routing import Q as REPLIES_Q
from equity_connect.replies.routing import event
from equity_connect.security.crypto import PiiCipher

Q = queries.load("equity_connect.booking")


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _match(
    conn: Conn, cipher: PiiCipher, p: dict[str, Any]
) -> tuple[uuid.UUID, uuid.UUID | None] | None:
    """(lead, broker): by the consent token ref in metadata, else by an attendee's email."""
    ref = _dict(p.get("metadata")).get("ec_ref")
    if isinstance(ref, str):
        try:
            token = conn.execute(CONSENT_Q["token_by_id"], {"id": uuid.UUID(ref)}).fetchone()
        except ValueError:
            token = None
        if token is not None:
            return token["lead_id"], token["broker_id"]
    for attendee in p.get("attendees") or []:
        email = normalize_email(
            _dict(attendee).get("email") if isinstance(_dict(attendee).get("email"), str) else None
        )
        if email is None:
            continue
        leads = conn.execute(
            REPLIES_Q["leads_by_email"], {"index": cipher.blind_index("email", email)}
        ).fetchall()
        if leads:
            return leads[0]["id"], leads[0]["assigned_broker_id"]
    return None


def handle_calcom(
    conn: Conn, cipher: PiiCipher, event_type: str, payload: dict[str, Any], *, event_id: uuid.UUID
) -> tuple[str, uuid.UUID | None]:
    """Process one stored Cal.com event; returns (inbound status, lead id)."""
    p = _dict(payload.get("payload"))
    uid = p.get("uid") if isinstance(p.get("uid"), str) else None
    if uid is None or event_type not in (
        "BOOKING_CREATED",
        "BOOKING_RESCHEDULED",
        "BOOKING_CANCELLED",
    ):
        return "ignored", None
    old_uid = p.get("rescheduleUid") if isinstance(p.get("rescheduleUid"), str) else None
    matched = _match(conn, cipher, p)
    if matched is None:
        known = conn.execute(
            Q["booking_by_uid"], {"uids": [u for u in (uid, old_uid) if u]}
        ).fetchone()
        if known is None:
            return "ignored", None
        matched = (known["lead_id"], known["broker_id"])
    lead_id, broker_id = matched
    common: dict[str, Any] = {
        "provider": "calcom",
        "lead_id": lead_id,
        "broker_id": broker_id,
        "correlation_id": str(event_id),
    }
    if event_type == "BOOKING_CANCELLED":
        conn.execute(Q["cancel_booking"], {"uids": [u for u in (uid, old_uid) if u]})
        conn.execute(Q["unbook"], {"lead_id": lead_id})
        event(conn, "booked", "cancelled", **common)
        kind = "booking_cancelled"
    else:
        rescheduled = event_type == "BOOKING_RESCHEDULED"
        # Which of uid/rescheduleUid is the new booking is unverified: the old
        # one, if known, is marked rescheduled, and this event's uid is kept.
        if rescheduled and old_uid and old_uid != uid:
            conn.execute(Q["reschedule_old"], {"uid": old_uid})
        row = conn.execute(
            Q["upsert_booking"],
            {
                "lead_id": lead_id,
                "broker_id": broker_id,
                "uid": uid,
                "booking_id": p.get("bookingId") if isinstance(p.get("bookingId"), int) else None,
                "status": "accepted",
                "start": _time(p.get("startTime")),
                "end": _time(p.get("endTime")),
                "event_type": p.get("type") if isinstance(p.get("type"), str) else None,
                "rescheduled_from": old_uid if rescheduled else None,
            },
        ).fetchone()
        conn.execute(Q["mark_booked"], {"lead_id": lead_id})
        if row is not None and row["created"]:
            event(conn, "booked", "rescheduled" if rescheduled else "created", **common)
        kind = "booking_rescheduled" if rescheduled else "booking_created"
    if broker_id is not None:
        notifications.queue(conn, broker_id, lead_id, kind, f"{kind}:{uid}")
    return "processed", lead_id
