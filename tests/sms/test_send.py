"""The send job: calling hours with a set clock, one text a day, guards, at most once."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from psycopg_pool import ConnectionPool

from equity_connect.config import Settings
from equity_connect.db.pool import Conn, connect
from equity_connect.jobs.catalog import registry
from equity_connect.jobs.worker import run_pending
from equity_connect.outbound.retry import ProviderUnavailable
from equity_connect.security.crypto import Keyring, PiiCipher
from equity_connect.sms import service as texts
from equity_connect.sms.client import SendUncertain, SentText, SimulatedSignalWire
from tests.sms.conftest import IN_HOURS, OWNER_PHONE, seed_lead
from tests.sms.fake_signalwire import PROJECT, TOKEN, fake_signalwire

LA = ZoneInfo("America/Los_Angeles")


def queue(url: str, settings: Settings, lead_id: uuid.UUID, key: str | None = None) -> int:
    with connect(url) as conn:
        message_id = texts.queue_text(
            conn, settings, lead_id, texts.CONSENT_LINK, key or f"test:{uuid.uuid4()}"
        )
        conn.commit()
    assert message_id is not None
    return message_id


def confirmed(url: str, cipher: PiiCipher, lead_id: uuid.UUID, phone: str = OWNER_PHONE) -> None:
    with connect(url) as conn:
        assert texts.confirm_number(conn, cipher, lead_id, phone, source="sms_inbound")
        conn.commit()


def message(url: str, message_id: int) -> dict[str, Any]:
    with connect(url) as conn:
        row = conn.execute(texts.Q["message_of"], {"id": message_id}).fetchone()
    assert row is not None
    return dict(row)


def queued_runs(url: str, message_id: int) -> list[datetime]:
    with connect(url) as conn:
        found = conn.execute(
            "select run_at from jobs where task = 'sms.send_text' and status = 'queued' "
            "and (args->>'message_id')::bigint = %s order by run_at",
            [message_id],
        ).fetchall()
    return [r["run_at"] for r in found]


@pytest.fixture
def send(
    pool: ConnectionPool[Conn], cipher: PiiCipher, settings: Settings, outbox: SimulatedSignalWire
) -> Callable[..., texts.Outcome]:
    def run(message_id: int, at: datetime, sender: Any = None) -> texts.Outcome:
        return texts.send_text(
            pool, cipher, settings, message_id, sender or outbox, clock=lambda: at
        )

    return run


@pytest.mark.parametrize(
    ("local", "opens"),
    [
        (datetime(2026, 12, 1, 6, 30, tzinfo=LA), datetime(2026, 12, 1, 8, 0, tzinfo=LA)),
        (datetime(2026, 12, 1, 21, 0, tzinfo=LA), datetime(2026, 12, 2, 8, 0, tzinfo=LA)),
        (datetime(2026, 12, 1, 7, 59, 59, tzinfo=LA), datetime(2026, 12, 1, 8, 0, tzinfo=LA)),
    ],
)
def test_no_text_outside_calling_hours_it_waits_for_them(
    fresh_database_url: str,
    cipher: PiiCipher,
    settings: Settings,
    outbox: SimulatedSignalWire,
    send: Callable[..., texts.Outcome],
    local: datetime,
    opens: datetime,
) -> None:
    lead_id = seed_lead(fresh_database_url, cipher)
    confirmed(fresh_database_url, cipher, lead_id)
    message_id = queue(fresh_database_url, settings, lead_id)
    outcome = send(message_id, local)
    assert (outcome.status, outcome.reason) == ("deferred", "outside_calling_hours")
    assert outcome.until == opens
    assert outbox.sent == []
    m = message(fresh_database_url, message_id)
    assert (m["status"], m["send_day"], m["not_before"]) == ("queued", None, opens)
    assert opens in queued_runs(fresh_database_url, message_id)  # deferred, not dropped
    # At the time it was deferred to, it goes.
    assert send(message_id, opens).status == "sent"
    assert len(outbox.sent) == 1


def test_the_strictest_zone_decides(
    fresh_database_url: str,
    cipher: PiiCipher,
    settings: Settings,
    outbox: SimulatedSignalWire,
    send: Callable[..., texts.Outcome],
) -> None:
    # A California property, a New York number: 6:30 pm Pacific is 9:30 pm Eastern.
    lead_id = seed_lead(fresh_database_url, cipher, phone="+12125550123")
    confirmed(fresh_database_url, cipher, lead_id, "+12125550123")
    message_id = queue(fresh_database_url, settings, lead_id)
    outcome = send(message_id, datetime(2026, 12, 1, 18, 30, tzinfo=LA))
    assert outcome.status == "deferred"
    assert outcome.until == datetime(2026, 12, 2, 8, 0, tzinfo=LA)  # 11 am Eastern, 8 am Pacific
    assert outbox.sent == []


def test_one_text_per_lead_per_day(
    fresh_database_url: str,
    cipher: PiiCipher,
    settings: Settings,
    outbox: SimulatedSignalWire,
    send: Callable[..., texts.Outcome],
) -> None:
    lead_id = seed_lead(fresh_database_url, cipher)
    other = seed_lead(fresh_database_url, cipher, phone="+13105550199")
    confirmed(fresh_database_url, cipher, lead_id)
    confirmed(fresh_database_url, cipher, other, "+13105550199")
    first, second = (queue(fresh_database_url, settings, lead_id) for _ in range(2))
    assert send(first, IN_HOURS).status == "sent"
    outcome = send(second, IN_HOURS + timedelta(hours=3))
    assert (outcome.status, outcome.reason) == ("deferred", "daily_limit")
    assert outcome.until == datetime(2026, 12, 2, 8, 0, tzinfo=LA)
    # Another lead is not held back.
    assert send(queue(fresh_database_url, settings, other), IN_HOURS).status == "sent"
    assert send(second, datetime(2026, 12, 2, 8, 0, tzinfo=LA)).status == "sent"
    assert [t["to"] for t in outbox.sent] == [OWNER_PHONE, "+13105550199", OWNER_PHONE]


def test_the_daily_limit_holds_under_concurrent_sends(
    fresh_database_url: str,
    cipher: PiiCipher,
    settings: Settings,
    send: Callable[..., texts.Outcome],
) -> None:
    lead_id = seed_lead(fresh_database_url, cipher)
    confirmed(fresh_database_url, cipher, lead_id)
    ids = [queue(fresh_database_url, settings, lead_id) for _ in range(6)]
    gate = threading.Barrier(len(ids))

    class SlowSender(SimulatedSignalWire):
        def send_text(self, to: str, body: str) -> SentText:
            threading.Event().wait(0.2)  # hold the claim while the others try theirs
            return super().send_text(to, body)

    sender = SlowSender(settings.data_dir / "race")
    outcomes: list[texts.Outcome] = []

    def one(message_id: int) -> None:
        gate.wait()
        outcomes.append(send(message_id, IN_HOURS, sender))

    threads = [threading.Thread(target=one, args=(i,)) for i in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(o.status for o in outcomes) == ["deferred"] * 5 + ["sent"]
    assert len(sender.sent) == 1
    with connect(fresh_database_url) as conn:
        days = conn.execute(
            "select count(*) as n from sms_messages where lead_id = %s and send_day is not null",
            [lead_id],
        ).fetchone()
    assert days is not None and days["n"] == 1


@pytest.mark.parametrize(
    "block", ["skip_traced_only", "suppressed", "stop_keyword", "lead_opted_out", "dnc"]
)
def test_guards_skip_the_text(
    fresh_database_url: str,
    cipher: PiiCipher,
    settings: Settings,
    outbox: SimulatedSignalWire,
    send: Callable[..., texts.Outcome],
    block: str,
) -> None:
    # The skip-traced number is on the lead, verified as a valid mobile.
    lead_id = seed_lead(fresh_database_url, cipher, phone_verification_codes=["GS05"])
    if block != "skip_traced_only":
        confirmed(fresh_database_url, cipher, lead_id)
    index = cipher.blind_index("phone", OWNER_PHONE)
    with connect(fresh_database_url) as conn:
        if block == "suppressed":
            conn.execute(
                "insert into suppressions (channel, value_index, reason, source) "
                "values ('phone', %s, 'wrong_contact', 'test')",
                [index],
            )
        elif block == "stop_keyword":
            conn.execute(
                texts.Q["set_keyword_state"], {"index": index, "opted_out": True, "keyword": "stop"}
            )
        elif block == "lead_opted_out":
            conn.execute(
                "update leads set campaign_status = 'unsubscribed' where id = %s", [lead_id]
            )
        elif block == "dnc":
            conn.execute("update leads set phone_dnc = true where id = %s", [lead_id])
        conn.commit()
    message_id = queue(fresh_database_url, settings, lead_id)
    outcome = send(message_id, IN_HOURS)
    assert outcome.status == "skipped"
    assert outbox.sent == []
    assert message(fresh_database_url, message_id)["status"] == "skipped"
    assert message(fresh_database_url, message_id)["not_before"] is None  # not deferred


def test_a_send_that_may_have_happened_is_never_repeated(
    fresh_database_url: str,
    cipher: PiiCipher,
    settings: Settings,
    outbox: SimulatedSignalWire,
    send: Callable[..., texts.Outcome],
) -> None:
    lead_id = seed_lead(fresh_database_url, cipher)
    confirmed(fresh_database_url, cipher, lead_id)
    message_id = queue(fresh_database_url, settings, lead_id)

    class Lost(SimulatedSignalWire):
        def send_text(self, to: str, body: str) -> SentText:
            raise SendUncertain("signalwire", "no answer after sending (ReadTimeout)")

    assert send(message_id, IN_HOURS, Lost(settings.data_dir / "x")).status == "uncertain"
    assert send(message_id, IN_HOURS).status == "done"
    assert outbox.sent == []
    m = message(fresh_database_url, message_id)
    assert m["status"] == "uncertain" and m["send_day"] is not None  # the day stays used
    # A run that died mid-send (the claim committed, no answer recorded) is not resent either.
    other = queue(fresh_database_url, settings, lead_id)
    with connect(fresh_database_url) as conn:
        conn.execute(
            "update sms_messages set status = 'sending', send_day = '2026-11-30' where id = %s",
            [other],
        )
        conn.commit()
    assert send(other, IN_HOURS).status == "uncertain"
    assert outbox.sent == []


def test_a_failure_that_sent_nothing_frees_the_day_and_is_retried(
    fresh_database_url: str,
    cipher: PiiCipher,
    settings: Settings,
    outbox: SimulatedSignalWire,
    send: Callable[..., texts.Outcome],
) -> None:
    lead_id = seed_lead(fresh_database_url, cipher)
    confirmed(fresh_database_url, cipher, lead_id)
    message_id = queue(fresh_database_url, settings, lead_id)

    class Down(SimulatedSignalWire):
        def send_text(self, to: str, body: str) -> SentText:
            raise ProviderUnavailable("signalwire", "transport error (ConnectError)")

    with pytest.raises(ProviderUnavailable):
        send(message_id, IN_HOURS, Down(settings.data_dir / "x"))
    m = message(fresh_database_url, message_id)
    assert (m["status"], m["send_day"]) == ("queued", None)
    assert send(message_id, IN_HOURS).status == "sent"


def test_the_job_sends_through_signalwire_as_documented(
    fresh_database_url: str,
    pool: ConnectionPool[Conn],
    cipher: PiiCipher,
    settings: Settings,
    keyring: Keyring,
) -> None:
    lead_id = seed_lead(fresh_database_url, cipher)
    confirmed(fresh_database_url, cipher, lead_id)
    with fake_signalwire() as fake:
        live = settings.model_copy(
            update={
                "sms_provider": "signalwire",
                "signalwire_space_url": fake.url,
                "signalwire_project_id": PROJECT,
                "signalwire_api_token": TOKEN,
                "signalwire_from_number": "+15055550100",
            }
        )
        message_id = queue(fresh_database_url, live, lead_id)
        run_pending(
            pool,
            registry,
            settings=live,
            keyring=keyring,
            idle_horizon=1,
            services={"clock": lambda: IN_HOURS},
        )
    (req,) = fake.requests
    form = dict(req.form)
    assert req.path == f"/api/laml/2010-04-01/Accounts/{PROJECT}/Messages.json"
    assert form["To"] == OWNER_PHONE and form["From"] == "+15055550100"
    assert "/v1/consent/" in form["Body"] and "Alex Rivera" in form["Body"]
    m = message(fresh_database_url, message_id)
    assert (m["status"], m["provider_sid"]) == ("sent", "0a059168-ead0-41af-9d1f-343dae832527")
    with connect(fresh_database_url) as conn:
        events = conn.execute(
            "select outcome from pipeline_events where stage = 'texted' and lead_id = %s", [lead_id]
        ).fetchall()
    assert [e["outcome"] for e in events] == ["sent"]


def test_booking_confirmation_is_one_line_and_never_after_the_appointment(
    fresh_database_url: str,
    cipher: PiiCipher,
    settings: Settings,
    outbox: SimulatedSignalWire,
    send: Callable[..., texts.Outcome],
) -> None:
    lead_id = seed_lead(fresh_database_url, cipher)
    confirmed(fresh_database_url, cipher, lead_id)
    ids = []
    with connect(fresh_database_url) as conn:
        for uid, start in (("bk-soon", IN_HOURS + timedelta(days=1)), ("bk-past", IN_HOURS)):
            conn.execute(
                "insert into bookings (lead_id, broker_id, calcom_uid, status, start_time) "
                "select id, assigned_broker_id, %s, 'accepted', %s from leads where id = %s",
                [uid, start, lead_id],
            )
            ids.append(
                texts.queue_text(
                    conn,
                    settings,
                    lead_id,
                    texts.BOOKING_CONFIRMATION,
                    f"booked:{uid}",
                    booking_uid=uid,
                )
            )
        conn.commit()
    soon, past = ids
    assert send(soon, IN_HOURS).status == "sent"
    (text,) = outbox.sent
    assert "booked with Alex Rivera on Wed Dec 02 at 10:00 AM PST" in text["body"]
    assert "\n" not in text["body"]
    outcome = send(past, IN_HOURS + timedelta(days=1))
    assert (outcome.status, outcome.reason) == ("skipped", "booking_already_started")


def test_one_consent_text_per_lead_and_day_however_many_interested_answers(
    fresh_database_url: str, cipher: PiiCipher, settings: Settings
) -> None:
    lead_id = seed_lead(fresh_database_url, cipher)
    with connect(fresh_database_url) as conn:
        key = texts.consent_text_key(lead_id, IN_HOURS)
        first = texts.queue_text(conn, settings, lead_id, texts.CONSENT_LINK, key)
        again = texts.queue_text(conn, settings, lead_id, texts.CONSENT_LINK, key)
        unset = texts.queue_text(
            conn, settings.model_copy(update={"sms_provider": ""}), lead_id, texts.CONSENT_LINK, "k"
        )
        conn.rollback()
    assert first is not None and again is None and unset is None
