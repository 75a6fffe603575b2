"""Cal.com events of one booking, delivered close together, end the same whatever the order.

Deliveries go through the real route (signed as Cal.com signs) and are processed
by the real worker with the default number of threads, so CREATED, RESCHEDULED
and CANCELLED of one booking really run at the same time.
"""

from __future__ import annotations

import random
import threading
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from psycopg_pool import ConnectionPool

from equity_connect.config import Settings
from equity_connect.consent import service as consent
from equity_connect.db.pool import Conn, connect
from equity_connect.jobs import service as jobs
from equity_connect.jobs.catalog import registry
from equity_connect.jobs.worker import Worker
from equity_connect.security.crypto import Keyring, PiiCipher
from tests.booking.calcom import event, post
from tests.factories import make_broker, make_lead

ROUNDS = 8
NEW_START = datetime(2026, 12, 4, 21, 30, tzinfo=UTC)  # booking_rescheduled.json startTime


def run_worker(pool: ConnectionPool[Conn], settings: Settings, keyring: Keyring) -> None:
    """The worker as `equity-connect worker` runs it (default concurrency), until idle."""
    Worker(
        pool,
        registry,
        settings=settings,
        keyring=keyring,
        concurrency=settings.worker_concurrency,
        poll_seconds=0.02,
    ).run(threading.Event(), until_idle=True, idle_horizon=5)


def new_lead(url: str, cipher: PiiCipher, n: int) -> tuple[uuid.UUID, str]:
    """A replied lead and its consent token: the booking's ec_ref."""
    with connect(url) as conn:
        broker = make_broker(conn, f"Broker {n}")
        lead = make_lead(
            conn,
            broker,
            cipher=cipher,
            email=f"owner{n}@example.com",
            campaign_status="replied",
        )
        token = consent.issue(conn, lead, broker, ttl_hours=24)
        conn.commit()
    return lead, str(token.token_id)


def chain(ref: str, n: int) -> tuple[str, str, dict[str, dict[str, Any]]]:
    """CREATED(a), RESCHEDULED(b replaces a), CANCELLED(b), with this round's uids."""
    a, b = f"round{n}A{uuid.uuid4().hex[:12]}", f"round{n}B{uuid.uuid4().hex[:12]}"
    return (
        a,
        b,
        {
            "created": event("booking_created", uid=a, ec_ref=ref, bookingId=1000 + 2 * n),
            "rescheduled": event(
                "booking_rescheduled",
                uid=b,
                rescheduleUid=a,
                bookingId=1001 + 2 * n,
                rescheduleId=1000 + 2 * n,
            ),
            "cancelled": event("booking_cancelled", uid=b, bookingId=1001 + 2 * n),
        },
    )


def orders(names: list[str], rounds: int, seed: int) -> list[list[str]]:
    """Delivery orders: as sent, reversed, then shuffled (seeded)."""
    rng = random.Random(seed)
    out = [list(names), list(reversed(names))]
    while len(out) < rounds:
        out.append(rng.sample(names, len(names)))
    return out[:rounds]


def state(url: str, lead: uuid.UUID) -> dict[str, Any]:
    with connect(url) as conn:
        status = conn.execute("select campaign_status from leads where id = %s", [lead]).fetchone()
        bookings = {
            r["calcom_uid"]: r
            for r in conn.execute(
                "select calcom_uid, status, start_time, rescheduled_from from bookings "
                "where lead_id = %s",
                [lead],
            )
        }
        dlq = conn.execute("select reason from pipeline_dlq").fetchall()
    assert status is not None
    return {"lead": status["campaign_status"], "bookings": bookings, "dlq": dlq}


def event_statuses(url: str) -> dict[str, str]:
    with connect(url) as conn:
        return {
            r["external_id"]: r["status"]
            for r in conn.execute("select external_id, status from inbound_events")
        }


def test_created_rescheduled_cancelled_before_any_job_end_cancelled_not_converted(
    client: TestClient,
    fresh_database_url: str,
    cipher: PiiCipher,
    pool: ConnectionPool[Conn],
    settings: Settings,
    keyring: Keyring,
) -> None:
    assert settings.worker_concurrency > 1  # the default: the three really run at once
    for n, order in enumerate(orders(["created", "rescheduled", "cancelled"], ROUNDS, seed=12)):
        lead, ref = new_lead(fresh_database_url, cipher, n)
        a, b, events = chain(ref, n)
        for name in order:
            post(client, events[name])
        run_worker(pool, settings, keyring)
        got = state(fresh_database_url, lead)
        assert got["lead"] == "replied", (n, order, got)
        assert got["bookings"][a]["status"] == "rescheduled", (n, order)
        assert got["bookings"][b]["status"] == "cancelled", (n, order)
        assert got["dlq"] == []
    assert set(event_statuses(fresh_database_url).values()) == {"processed"}


def test_created_then_rescheduled_keeps_the_lead_booked_at_the_new_time(
    client: TestClient,
    fresh_database_url: str,
    cipher: PiiCipher,
    pool: ConnectionPool[Conn],
    settings: Settings,
    keyring: Keyring,
) -> None:
    # In BOOKING_RESCHEDULED, `uid` is the new booking and `rescheduleUid` the one it
    # replaces (cal.com RegularBookingService.ts / createBooking.ts): the new one is live.
    for n, order in enumerate(orders(["created", "rescheduled"], 4, seed=5)):
        lead, ref = new_lead(fresh_database_url, cipher, n)
        a, b, events = chain(ref, n)
        for name in order:
            post(client, events[name])
        run_worker(pool, settings, keyring)
        got = state(fresh_database_url, lead)
        assert got["lead"] == "converted", (n, order, got)
        assert got["bookings"][a]["status"] == "rescheduled"
        new = got["bookings"][b]
        assert (new["status"], new["start_time"], new["rescheduled_from"]) == (
            "accepted",
            NEW_START,
            a,
        ), (n, order)


def test_rescheduled_then_cancelled_in_turn_leaves_nothing_live(
    client: TestClient,
    fresh_database_url: str,
    cipher: PiiCipher,
    pool: ConnectionPool[Conn],
    settings: Settings,
    keyring: Keyring,
) -> None:
    lead, ref = new_lead(fresh_database_url, cipher, 0)
    a, b, events = chain(ref, 0)
    post(client, events["created"])
    run_worker(pool, settings, keyring)
    assert state(fresh_database_url, lead)["lead"] == "converted"
    post(client, events["rescheduled"])
    run_worker(pool, settings, keyring)
    assert state(fresh_database_url, lead)["lead"] == "converted"
    post(client, events["cancelled"])
    run_worker(pool, settings, keyring)
    # The old booking is 'rescheduled', not cancelled; it is still not live.
    got = state(fresh_database_url, lead)
    assert got["lead"] == "replied"
    assert {u: r["status"] for u, r in got["bookings"].items()} == {
        a: "rescheduled",
        b: "cancelled",
    }


def test_a_wait_for_a_booking_that_never_comes_ends_in_the_dlq_with_its_reason(
    client: TestClient,
    fresh_database_url: str,
    cipher: PiiCipher,
    pool: ConnectionPool[Conn],
    settings: Settings,
    keyring: Keyring,
) -> None:
    lead, ref = new_lead(fresh_database_url, cipher, 0)
    a, b, events = chain(ref, 0)
    post(client, events["rescheduled"])  # its BOOKING_CREATED was never delivered
    run_worker(pool, settings, keyring)
    with connect(fresh_database_url) as conn:
        job = conn.execute(
            "select status, attempts, max_attempts from jobs where task = 'inbound.process_event'"
        ).fetchone()
        [dead] = conn.execute("select id, reason, attempts from pipeline_dlq").fetchall()
    assert job is not None and job["status"] == "dead"
    assert job["attempts"] == job["max_attempts"]  # it waited, with backoff, every attempt
    assert dead["reason"].startswith("BookingNotYetKnown: BOOKING_RESCHEDULED replaces booking")
    assert a in dead["reason"]
    # Nothing was decided: the event is still to process, and a replay after the
    # missing event arrives processes both.
    assert event_statuses(fresh_database_url) == {f"BOOKING_RESCHEDULED:{b}": "received"}
    post(client, events["created"])
    with connect(fresh_database_url) as conn:
        assert jobs.replay_dlq(conn, dead["id"]) == [dead["id"]]
        conn.commit()
    run_worker(pool, settings, keyring)
    got = state(fresh_database_url, lead)
    assert got["lead"] == "converted"
    assert got["bookings"][b]["status"] == "accepted"
    assert set(event_statuses(fresh_database_url).values()) == {"processed"}


def test_events_of_a_booking_that_is_not_a_leads_are_ignored_without_waiting(
    client: TestClient,
    fresh_database_url: str,
    pool: ConnectionPool[Conn],
    settings: Settings,
    keyring: Keyring,
) -> None:
    a = "someone-elses-" + uuid.uuid4().hex[:8]
    post(client, event("booking_created", uid=a, ec_ref=None))  # nobody we know
    run_worker(pool, settings, keyring)
    post(client, event("booking_cancelled", uid=a))
    run_worker(pool, settings, keyring)
    assert event_statuses(fresh_database_url) == {
        f"BOOKING_CREATED:{a}": "ignored",
        f"BOOKING_CANCELLED:{a}": "ignored",
    }
    with connect(fresh_database_url) as conn:
        attempts = [
            r["attempts"]
            for r in conn.execute(
                "select attempts from jobs where task = 'inbound.process_event' order by id"
            )
        ]
    assert attempts == [1, 1]


@pytest.mark.parametrize("flipped", [False, True])
def test_a_second_booking_keeps_the_lead_converted(
    client: TestClient,
    fresh_database_url: str,
    cipher: PiiCipher,
    pool: ConnectionPool[Conn],
    settings: Settings,
    keyring: Keyring,
    flipped: bool,
) -> None:
    lead, ref = new_lead(fresh_database_url, cipher, 0)
    first, second = "first-" + uuid.uuid4().hex[:8], "second-" + uuid.uuid4().hex[:8]
    post(client, event("booking_created", uid=first, ec_ref=ref))
    run_worker(pool, settings, keyring)
    later = [
        event("booking_cancelled", uid=first),
        event("booking_created", uid=second, ec_ref=ref, bookingId=555),
    ]
    for e in reversed(later) if flipped else later:
        post(client, e)
    run_worker(pool, settings, keyring)  # both at once: the lead row serializes them
    assert state(fresh_database_url, lead)["lead"] == "converted"
