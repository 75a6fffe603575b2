"""Each event type is emitted by its real cause, in the cause's own transaction.

These run in the rolled-back transaction of the ``conn`` fixture: the event,
its delivery and its job exist exactly when the change that caused them does.
"""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest

from equity_connect.booking.service import handle_calcom
from equity_connect.config import Settings
from equity_connect.consent import service as consent
from equity_connect.db.pool import Conn
from equity_connect.events import service
from equity_connect.events.schemas import EventType
from equity_connect.jobs import service as jobs
from equity_connect.replies.schemas import ConsentMethod
from equity_connect.replies.service import handle_instantly
from equity_connect.security.crypto import Keyring, PiiCipher
from tests.booking.calcom import event as calcom_event
from tests.events.helpers import FAST, INTERESTED_TEXT, route_reply
from tests.factories import make_broker, make_lead
from tests.ingest.helpers import csv_bytes, row, run_ingest

ALL = list(EventType)


class _NoMail:
    def send(self, message: object) -> None:
        raise AssertionError("no mail is expected here")


@pytest.fixture
def listening(conn: Conn, cipher: PiiCipher) -> service.NewEndpoint:
    """An endpoint subscribed to every type (so every emission is recorded)."""
    return service.subscribe(conn, cipher, FAST, "https://hooks.example.com/ec", ALL)


def _events(conn: Conn) -> list[dict[str, Any]]:
    return conn.execute(
        "select ev.event_type, ev.data, ev.lead_id, ev.upload_id, d.id as delivery_id, "
        "(select count(*) from jobs j where j.task = 'events.deliver_event' "
        " and (j.args ->> 'delivery_id')::bigint = d.id) as jobs "
        "from outbound_events ev join event_deliveries d on d.event_id = ev.id "
        "order by ev.occurred_at, ev.event_type"
    ).fetchall()


def _types(conn: Conn) -> list[str]:
    return [e["event_type"] for e in _events(conn)]


def _lead(conn: Conn, cipher: PiiCipher, **columns: Any) -> tuple[uuid.UUID, uuid.UUID]:
    broker = make_broker(conn)
    lead = make_lead(
        conn,
        broker,
        cipher=cipher,
        email=f"{uuid.uuid4().hex[:8]}@example.com",
        phone="+14155550123",
        campaign_status="active",
        **columns,
    )
    return broker, lead


def test_nothing_is_recorded_when_nobody_listens(conn: Conn, cipher: PiiCipher) -> None:
    conn.execute(
        "insert into pipeline_dlq (source, payload, reason) values ('x.y', '{}'::jsonb, 'r')"
    )
    assert conn.execute("select count(*) as n from outbound_events").fetchone() == {"n": 0}


def test_interested_reply_emits_replied_and_interested(
    conn: Conn, cipher: PiiCipher, keyring: Keyring, listening: service.NewEndpoint
) -> None:
    broker, lead = _lead(conn, cipher)
    route_reply(conn, keyring, lead, INTERESTED_TEXT)
    events = _events(conn)
    assert [e["event_type"] for e in events] == ["lead.replied", "lead.interested"]
    for e in events:
        assert e["lead_id"] == lead
        assert e["data"]["intent"] == "interested"
        assert e["data"]["broker_id"] == str(broker)
        assert e["data"]["channel"] == "instantly"
        assert e["jobs"] == 1  # one delivery job per subscribed endpoint


def test_question_reply_emits_replied_only(
    conn: Conn, cipher: PiiCipher, keyring: Keyring, listening: service.NewEndpoint
) -> None:
    _, lead = _lead(conn, cipher)
    route_reply(conn, keyring, lead, "What rate would I get on this?")
    [e] = _events(conn)
    assert (e["event_type"], e["data"]["intent"]) == ("lead.replied", "question")


def test_stop_reply_emits_unsubscribed(
    conn: Conn, cipher: PiiCipher, listening: service.NewEndpoint
) -> None:
    email = "owner@example.com"
    broker = make_broker(conn)
    lead = make_lead(conn, broker, cipher=cipher, email=email, campaign_status="active")
    status, _ = handle_instantly(
        conn,
        cipher,
        FAST,
        "reply_received",
        {"lead_email": email, "reply_text": "STOP. Remove me from your list."},
        event_id=uuid.uuid4(),
        mailer=_NoMail(),
    )
    assert status == "processed"
    events = {e["event_type"]: e for e in _events(conn)}
    assert set(events) == {"lead.replied", "lead.unsubscribed"}
    data = events["lead.unsubscribed"]["data"]
    assert (data["lead_id"], data["status"], data["previous_status"]) == (
        str(lead),
        "unsubscribed",
        "active",
    )


def test_broker_do_not_contact_emits_unsubscribed_once(
    conn: Conn, cipher: PiiCipher, listening: service.NewEndpoint
) -> None:
    _, lead = _lead(conn, cipher)
    conn.execute("update leads set campaign_status = 'do_not_contact' where id = %s", [lead])
    conn.execute("update leads set campaign_status = 'unsubscribed' where id = %s", [lead])
    [e] = _events(conn)  # an opt-out already in force is not announced twice
    assert (e["event_type"], e["data"]["status"]) == ("lead.unsubscribed", "do_not_contact")


def test_consent_booking_and_cancellation(
    conn: Conn, cipher: PiiCipher, listening: service.NewEndpoint
) -> None:
    broker, lead = _lead(conn, cipher)
    token = consent.issue(conn, lead, broker, ttl_hours=1)
    redeemed = consent.redeem(
        conn,
        token.nonce,
        method=ConsentMethod.WEB_CLICK,
        disclosure_version="v-test",
        source_ip="203.0.113.9",
        user_agent="Mozilla/5.0",
    )
    uid = f"uid{uuid.uuid4().hex[:19]}"
    created = calcom_event("booking_created", uid=uid, ec_ref=str(token.token_id))
    assert handle_calcom(
        conn, cipher, Settings(), "BOOKING_CREATED", created, event_id=uuid.uuid4()
    ) == ("processed", lead)
    cancelled = calcom_event("booking_cancelled", uid=uid)
    handle_calcom(conn, cipher, Settings(), "BOOKING_CANCELLED", cancelled, event_id=uuid.uuid4())
    events = {e["event_type"]: e["data"] for e in _events(conn)}
    assert set(events) == {"consent.recorded", "lead.booked", "booking.cancelled"}
    assert events["consent.recorded"] == {
        "lead_id": str(lead),
        "broker_id": str(broker),
        "consent_record_id": redeemed.record_id,
        "method": "web_click",
        "disclosure_version": "v-test",
        "consented_at": events["consent.recorded"]["consented_at"],
    }
    booked = events["lead.booked"]
    assert booked["calcom_uid"] == uid
    assert booked["start_time"] and booked["end_time"]  # the booking's times, from Cal.com
    assert events["booking.cancelled"]["booking_id"] == booked["booking_id"]
    # the consent's IP address and user agent stay out of the event
    assert "203.0.113.9" not in str(events) and "Mozilla" not in str(events)


def test_completed_upload_emits_upload_completed(
    conn: Conn, cipher: PiiCipher, listening: service.NewEndpoint
) -> None:
    body = csv_bytes([row(property_address="1 Elm St"), row(property_zip="bad")])
    report = run_ingest(conn, cipher, body, source="vendor-a")
    [e] = [e for e in _events(conn) if e["event_type"] == "upload.completed"]
    assert e["upload_id"] == report.upload_id
    data = e["data"]
    assert (data["status"], data["source"], data["rows"], data["rejected"]) == (
        "completed",
        "vendor-a",
        2,
        report.rejected,
    )
    assert data["inserted"] == report.inserted


def test_buried_job_emits_dlq_added_but_a_delivery_never_does(
    conn: Conn, listening: service.NewEndpoint
) -> None:
    jobs.enqueue(conn, "skiptrace.enrich_batch", {"lead_ids": []})
    [job] = jobs.claim(conn, "w1", queues=["default"])
    dlq_id = jobs.bury(conn, job.id, "w1", "ProviderError: batchdata: rate limited")
    [e] = _events(conn)
    assert e["event_type"] == "dlq.added"
    assert e["data"]["dlq_id"] == dlq_id
    assert e["data"]["source"] == "skiptrace.enrich_batch"
    # an event delivery that somehow reached the DLQ is not announced (no feedback loop)
    jobs.enqueue(conn, "events.deliver_event", {"delivery_id": 1}, run_at=None)
    claimed = jobs.claim(conn, "w1", queues=["default"], limit=10)
    for j in claimed:
        if j.task == "events.deliver_event":
            jobs.bury(conn, j.id, "w1", "test")
    assert _types(conn) == ["dlq.added"]


def test_disabled_endpoint_and_unsubscribed_types_get_nothing(
    conn: Conn, cipher: PiiCipher
) -> None:
    only_dlq = service.subscribe(
        conn, cipher, FAST, "https://a.example.com/x", [EventType.DLQ_ADDED]
    )
    booked = service.subscribe(
        conn, cipher, FAST, "https://b.example.com/x", [EventType.LEAD_BOOKED]
    )
    service.set_enabled(conn, booked.endpoint.id, enabled=False)
    conn.execute(
        "insert into pipeline_dlq (source, payload, reason) values ('x.y', '{}'::jsonb, 'r')"
    )
    rows = conn.execute("select endpoint_id from event_deliveries").fetchall()
    assert rows == [{"endpoint_id": only_dlq.endpoint.id}]


def test_the_type_constraint_mirrors_the_enum(conn: Conn, cipher: PiiCipher) -> None:
    made = service.subscribe(conn, cipher, FAST, "https://x.example.com/h", list(EventType))
    assert made.endpoint.event_types == sorted(t.value for t in EventType)
    with pytest.raises(psycopg.errors.CheckViolation):
        conn.execute("update event_endpoints set event_types = array['lead.exploded']")
