"""A booking's history on the lead's timeline: booked, rescheduled (old time → new time),
cancelled, from the events the real Cal.com handler stored."""

from __future__ import annotations

import uuid

from equity_connect.booking.service import handle_calcom
from equity_connect.config import Settings
from equity_connect.consent import service as consent
from equity_connect.db.pool import Conn, act_as_broker
from equity_connect.leads import service as leads
from equity_connect.security.crypto import PiiCipher
from tests.booking.calcom import event
from tests.factories import make_broker, make_lead


def deliver(conn: Conn, cipher: PiiCipher, settings: Settings, data: dict[str, object]) -> None:
    status, _ = handle_calcom(
        conn, cipher, settings, str(data["triggerEvent"]), data, event_id=uuid.uuid4()
    )
    assert status == "processed"


def booking_titles(conn: Conn, cipher: PiiCipher, lead: uuid.UUID) -> list[str]:
    entries = leads.timeline(conn, cipher, leads.find_lead(conn, lead))
    return [e.title for e in reversed(entries) if e.kind == "booking"]  # oldest first


def test_each_change_of_a_booking_is_on_the_timeline(
    conn: Conn, cipher: PiiCipher, settings: Settings
) -> None:
    broker = make_broker(conn, "Ana")
    lead = make_lead(
        conn, broker, cipher=cipher, email="owner@example.com", campaign_status="replied"
    )
    ref = str(consent.issue(conn, lead, broker, ttl_hours=24).token_id)
    a, b = f"hist-a-{uuid.uuid4().hex[:8]}", f"hist-b-{uuid.uuid4().hex[:8]}"
    deliver(conn, cipher, settings, event("booking_created", uid=a, ec_ref=ref, bookingId=71))
    assert booking_titles(conn, cipher, lead) == ["Call booked for Thu Dec 03 10:00 PT"]
    deliver(
        conn,
        cipher,
        settings,
        event("booking_rescheduled", uid=b, rescheduleUid=a, bookingId=72, rescheduleId=71),
    )
    deliver(conn, cipher, settings, event("booking_cancelled", uid=b, bookingId=72))
    assert booking_titles(conn, cipher, lead) == [
        "Call booked for Thu Dec 03 10:00 PT",
        "Call rescheduled: Thu Dec 03 10:00 PT → Fri Dec 04 13:30 PT",
        "Call of Fri Dec 04 13:30 PT cancelled",
    ]
    entries = leads.timeline(conn, cipher, leads.find_lead(conn, lead))
    booked = next(e for e in entries if e.title.startswith("Call booked"))
    assert booked.detail == "equity-call, 30 min" and booked.source == "calcom"
    # The broker reads the same history under RLS (both bookings are of their lead).
    with conn.transaction(force_rollback=True):
        act_as_broker(conn, broker)
        assert len(booking_titles(conn, cipher, lead)) == 3
