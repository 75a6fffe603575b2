"""What queues a text: an interested call or reply, a booking; and which numbers count."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from equity_connect.booking.service import handle_calcom
from equity_connect.calls.client import SimulatedVapi
from equity_connect.calls.service import handle_vapi
from equity_connect.config import Settings
from equity_connect.db.pool import Conn
from equity_connect.replies.routing import Q as REPLIES_Q
from equity_connect.replies.routing import route
from equity_connect.replies.schemas import Classification, ReplyIntent
from equity_connect.security.crypto import PiiCipher
from tests.factories import make_broker, make_lead

PHONE = "+12135550147"


def lead_with_phone(conn: Conn, cipher: PiiCipher, email: str | None = None) -> uuid.UUID:
    broker = make_broker(conn, "Alex Rivera")
    return make_lead(
        conn,
        broker,
        cipher=cipher,
        email=email or f"o{uuid.uuid4().hex[:8]}@example.com",
        phone=PHONE,
        campaign_status="active",
        property_state="CA",
        property_zip="90012",
    )


def texts_of(conn: Conn, lead_id: uuid.UUID) -> list[dict[str, Any]]:
    return [
        dict(r)
        for r in conn.execute(
            "select kind, status from sms_messages where lead_id = %s order by id", [lead_id]
        ).fetchall()
    ]


def numbers_of(conn: Conn, lead_id: uuid.UUID) -> list[str]:
    rows = conn.execute("select source from sms_numbers where lead_id = %s", [lead_id]).fetchall()
    return [r["source"] for r in rows]


def call_report(lead_id: uuid.UUID, *, interested: bool, ended: str) -> dict[str, Any]:
    vapi = SimulatedVapi()
    started = vapi.create_call(
        {
            "assistantId": "a",
            "phoneNumberId": "p",
            "customer": {"number": PHONE},
            "assistantOverrides": {"metadata": {"ec_lead_id": str(lead_id)}},
        }
    )
    return vapi.end_of_call_report(
        started.call_id,
        assistant_said="May a broker call you about your home's equity?",
        homeowner_said="Yes, I'm interested." if interested else "",
        summary="The homeowner asked for a call back." if interested else "",
        structured_data={"interested": True} if interested else {},
        ended_reason=ended,
    )


def test_an_interested_call_confirms_its_number_and_queues_the_consent_text(
    conn: Conn, cipher: PiiCipher, settings: Settings
) -> None:
    lead_id = lead_with_phone(conn, cipher)
    report = call_report(lead_id, interested=True, ended="customer-ended-call")
    handle_vapi(conn, cipher, settings, "end-of-call-report", report, event_id=uuid.uuid4())
    assert numbers_of(conn, lead_id) == ["call_answered"]
    assert texts_of(conn, lead_id) == [{"kind": "consent_link", "status": "queued"}]


def test_an_unanswered_call_confirms_nothing(
    conn: Conn, cipher: PiiCipher, settings: Settings
) -> None:
    lead_id = lead_with_phone(conn, cipher)
    report = call_report(lead_id, interested=False, ended="customer-did-not-answer")
    handle_vapi(conn, cipher, settings, "end-of-call-report", report, event_id=uuid.uuid4())
    assert numbers_of(conn, lead_id) == []
    assert texts_of(conn, lead_id) == []


def test_a_number_written_in_a_reply_counts(
    conn: Conn, cipher: PiiCipher, settings: Settings
) -> None:
    lead_id = lead_with_phone(conn, cipher)
    leads = conn.execute(REPLIES_Q["lead_by_id"], {"id": lead_id}).fetchall()
    result = Classification(intent=ReplyIntent.INTERESTED, confidence=0.9, phone="+13105550199")
    route(
        conn,
        cipher,
        settings,
        leads,
        result,
        provider="instantly",
        at=datetime.now(UTC),
        correlation_id=str(uuid.uuid4()),
    )
    assert numbers_of(conn, lead_id) == ["reply_text"]
    assert texts_of(conn, lead_id) == [{"kind": "consent_link", "status": "queued"}]


def test_a_booking_queues_its_confirmation_once(
    conn: Conn, cipher: PiiCipher, settings: Settings
) -> None:
    address = f"booker{uuid.uuid4().hex[:8]}@example.com"
    lead_id = lead_with_phone(conn, cipher, address)
    payload = {
        "triggerEvent": "BOOKING_CREATED",
        "payload": {
            "uid": "bk-1",
            "startTime": "2026-12-02T18:00:00Z",
            "endTime": "2026-12-02T18:30:00Z",
            "attendees": [{"email": address}],
        },
    }
    for _ in range(2):  # a redelivery queues nothing more
        handle_calcom(conn, cipher, settings, "BOOKING_CREATED", payload, event_id=uuid.uuid4())
    assert texts_of(conn, lead_id) == [{"kind": "booking_confirmation", "status": "queued"}]
