"""Any JSON in a Cal.com payload is processed, ignored or waited on; it never crashes.

Starts from the real-format fixtures and replaces fields with arbitrary JSON
values (wrong types, huge numbers, NUL characters, naive times…).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from equity_connect.booking.service import BookingNotYetKnown, handle_calcom
from equity_connect.config import Settings
from equity_connect.consent import service as consent
from equity_connect.db.pool import Conn
from equity_connect.security.crypto import PiiCipher
from tests.booking.calcom import event
from tests.factories import make_broker, make_lead

SETTINGS = Settings()
REF = str(uuid.UUID(int=12))  # the consent token id the CREATED fixture's ec_ref names
FIELDS = [
    "uid",
    "rescheduleUid",
    "bookingId",
    "startTime",
    "endTime",
    "type",
    "metadata",
    "attendees",
]

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
    | st.sampled_from([2**63, 5, True, "2026-12-03T18:00:00", "2026-12-03T18:00:00+05:30"])
    | st.sampled_from(["\x00", "x" * 300, "a\x00b"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)


@st.composite
def deliveries(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    name = draw(st.sampled_from(["booking_created", "booking_rescheduled", "booking_cancelled"]))
    with_ref = name == "booking_created" and draw(st.booleans())
    data = event(name, ec_ref=REF) if with_ref else event(name)
    if draw(st.booleans()):  # a booking not known yet, so the payload decides whose it is
        data["payload"]["uid"] = draw(st.text(min_size=1, max_size=30))
    for field in draw(st.lists(st.sampled_from(FIELDS), unique=True, max_size=4)):
        data["payload"][field] = draw(json_values)
    if draw(st.booleans()):
        data["payload"]["attendees"] = [{"email": draw(json_values)}]
    return data["triggerEvent"], data


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(deliveries())
def test_arbitrary_payload_values_never_crash(
    conn: Conn, cipher: PiiCipher, delivery: tuple[str, dict[str, Any]]
) -> None:
    trigger, data = delivery
    assert process(conn, cipher, trigger, data) != ("waiting", False)


def process(conn: Conn, cipher: PiiCipher, trigger: str, data: dict[str, Any]) -> object:
    """Process ``data`` after its lead's earlier events; the booking it leaves, rolled back."""
    with conn.transaction(force_rollback=True):  # each example starts clean
        # A lead (its e-mail is the fixtures' attendee) whose CREATED, and for a
        # CANCELLED the RESCHEDULED too, came first: every branch is reachable.
        broker = make_broker(conn)
        lead = make_lead(
            conn,
            broker,
            cipher=cipher,
            email="ada.booker@example.test",
            campaign_status="replied",
        )
        token = consent.issue(conn, lead, broker, ttl_hours=1)
        conn.execute("update consent_tokens set id = %s where id = %s", [REF, token.token_id])
        before = [event("booking_created", ec_ref=REF)]
        if trigger == "BOOKING_CANCELLED":
            before.append(event("booking_rescheduled"))
        for e in before:
            handle_calcom(conn, cipher, SETTINGS, e["triggerEvent"], e, event_id=uuid.uuid4())
        try:
            status, _ = handle_calcom(conn, cipher, SETTINGS, trigger, data, event_id=uuid.uuid4())
        except BookingNotYetKnown as exc:
            return ("waiting", exc.delay_seconds > 0)
        assert status in ("processed", "ignored")
        uid = data["payload"].get("uid")
        row = conn.execute(
            "select status, start_time from bookings where calcom_uid = %s",
            [uid if isinstance(uid, str) and "\x00" not in uid else ""],
        ).fetchone()
        return None if row is None else (status, row["status"], row["start_time"])


NEW_UID = "aNewUid00000000000000x"
BOOKED = ("processed", "accepted", datetime(2026, 12, 3, 18, 0, tzinfo=UTC))


@pytest.mark.parametrize(
    ("payload", "outcome"),
    [
        ({"attendees": 5}, BOOKED),  # not a list: no attendee matches; the ec_ref does
        ({"attendees": 5, "metadata": {}}, None),  # nobody to match: ignored
        ({"bookingId": 2**70}, BOOKED),  # over bigint: dropped
        ({"bookingId": True}, BOOKED),
        ({"startTime": "2026-12-03T18:00:00"}, ("processed", "accepted", None)),  # no offset
        ({"uid": "bad\x00uid"}, None),  # PostgreSQL text cannot hold NUL: not a uid
        ({"uid": "u" * 201}, None),  # Cal.com uids are 22 characters
    ],
)
def test_malformed_values_are_dropped_not_fatal(
    conn: Conn, cipher: PiiCipher, payload: dict[str, Any], outcome: object
) -> None:
    data = event("booking_created", uid=NEW_UID, ec_ref=REF)
    data["payload"].update(payload)
    assert process(conn, cipher, "BOOKING_CREATED", data) == outcome
