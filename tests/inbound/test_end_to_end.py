"""Reply → classified → routed → broker emailed → consent → Cal.com booking → booked."""

from __future__ import annotations

import json
import re
import threading
import uuid
from typing import Any
from urllib.parse import parse_qs, urlparse

import psycopg
import pytest
from fastapi.testclient import TestClient

from equity_connect.consent import service as consent
from equity_connect.db.pool import connect
from equity_connect.errors import DomainError
from equity_connect.replies.schemas import ConsentMethod
from equity_connect.security import signatures
from equity_connect.security.crypto import PiiCipher, aad_for
from tests.factories import make_broker, make_lead
from tests.inbound.conftest import CALCOM_SECRET, INSTANTLY_SECRET, VAPI_SECRET, Inbox

OWNER = "ada.owner@example.com"
BROKER_URL = "https://cal.example.test/broker-a/equity-call"


def seed(url: str, cipher: PiiCipher) -> tuple[uuid.UUID, uuid.UUID, str]:
    with connect(url) as conn:
        broker = make_broker(conn, "Broker A")
        conn.execute("update brokers set calcom_event_url = %s where id = %s", [BROKER_URL, broker])
        email = conn.execute("select email from brokers where id = %s", [broker]).fetchone()
        lead = make_lead(
            conn,
            broker,
            cipher=cipher,
            email=OWNER,
            phone="+12135550147",
            campaign_status="active",
            owner_first_name="Ada",
        )
        conn.commit()
    assert email is not None
    return broker, lead, email["email"]


def post_instantly(client: TestClient, payload: dict[str, Any]) -> None:
    r = client.post(
        "/v1/webhooks/instantly",
        content=json.dumps(payload),
        headers={"X-Webhook-Secret": INSTANTLY_SECRET},
    )
    assert r.status_code == 200, r.text


def post_calcom(client: TestClient, payload: dict[str, Any]) -> Any:
    body = json.dumps(payload).encode()
    sig = signatures.sign_calcom(CALCOM_SECRET.encode(), body)
    return client.post("/v1/webhooks/calcom", content=body, headers={"X-Cal-Signature-256": sig})


def lead_row(url: str, lead: uuid.UUID) -> dict[str, Any]:
    with connect(url) as conn:
        row = conn.execute(
            "select campaign_status, consent, consented_at, consent_method, last_reply_intent "
            "from leads where id = %s",
            [lead],
        ).fetchone()
    assert row is not None
    return dict(row)


def test_interested_reply_to_booking(
    client: TestClient,
    fresh_database_url: str,
    cipher: PiiCipher,
    smtp: tuple[Inbox, int],
    run_jobs: Any,
) -> None:
    inbox, _ = smtp
    broker, lead, broker_email = seed(fresh_database_url, cipher)
    post_instantly(
        client,
        {
            "event_type": "reply_received",
            "lead_email": OWNER.upper(),
            "email_id": "m-1",
            "reply_subject": "Re: your home equity",
            "reply_text": "Yes I'm interested, please call me tomorrow.\n\n> On Mon, Carol wrote:\n"
            "> To unsubscribe click here",
        },
    )
    run_jobs()
    assert lead_row(fresh_database_url, lead)["campaign_status"] == "replied"
    assert len(inbox.to(broker_email)) == 1  # the broker was told
    [invite] = inbox.to(OWNER)
    link = re.search(r"http://testserver/v1/consent/(\S+)", invite.get_payload())  # type: ignore[arg-type]
    assert link is not None
    nonce = link.group(1)

    page = client.get(f"/v1/consent/{nonce}")
    assert page.status_code == 200 and "I agree" in page.text
    agreed = client.post(
        f"/v1/consent/{nonce}", follow_redirects=False, headers={"user-agent": "pytest-browser"}
    )
    assert agreed.status_code == 303
    target = urlparse(agreed.headers["location"])
    assert target.netloc == "cal.example.test"
    ref = parse_qs(target.query)["metadata[ec_ref]"][0]
    assert client.post(f"/v1/consent/{nonce}").status_code == 409  # single use
    row = lead_row(fresh_database_url, lead)
    assert row["consent"] is True and row["consent_method"] == "web_click"
    with connect(fresh_database_url) as conn:
        record = conn.execute(
            "select method, disclosure_version, user_agent from consent_records"
        ).fetchone()
    assert record == {
        "method": "web_click",
        "disclosure_version": "2026-11-tcpa-v1",
        "user_agent": "pytest-browser",
    }

    booking = {
        "triggerEvent": "BOOKING_CREATED",
        "createdAt": "2026-11-26T10:00:00Z",
        "payload": {
            "uid": "bk-1",
            "bookingId": 91,
            "type": "equity-call",
            "startTime": "2026-11-30T18:00:00Z",
            "endTime": "2026-11-30T18:30:00Z",
            "attendees": [{"email": "someone.else@example.com"}],
            "metadata": {"ec_ref": ref},
            "status": "ACCEPTED",
        },
    }
    assert post_calcom(client, booking).status_code == 200
    run_jobs()
    assert lead_row(fresh_database_url, lead)["campaign_status"] == "converted"
    assert any(m["Subject"] == "New booking" for m in inbox.to(broker_email))
    # A replayed old booking event is harmless.
    assert post_calcom(client, booking).json()["status"] == "duplicate"
    cancelled = {
        **booking,
        "triggerEvent": "BOOKING_CANCELLED",
        "payload": {**booking["payload"], "status": "CANCELLED"},
    }  # type: ignore[dict-item]
    post_calcom(client, cancelled)
    run_jobs()
    assert lead_row(fresh_database_url, lead)["campaign_status"] == "replied"
    with connect(fresh_database_url) as conn:
        stages = {
            (r["stage"], r["outcome"])
            for r in conn.execute("select distinct stage, outcome from pipeline_events")
        }
        booking_row = conn.execute("select status, start_time from bookings").fetchone()
    assert {("replied", "interested"), ("booked", "created"), ("booked", "cancelled")} <= stages
    assert booking_row is not None and booking_row["status"] == "cancelled"


@pytest.mark.parametrize(
    ("text", "status", "suppressed"),
    [
        ("Please remove me from your list", "unsubscribed", True),
        ("Wrong person, I sold that house years ago", "do_not_contact", True),
        ("Not interested, thanks", "paused", False),
        ("I am out of the office until Monday", "active", False),
    ],
)
def test_each_intent_routes(
    client: TestClient,
    fresh_database_url: str,
    cipher: PiiCipher,
    run_jobs: Any,
    text: str,
    status: str,
    suppressed: bool,
) -> None:
    _, lead, _ = seed(fresh_database_url, cipher)
    post_instantly(
        client,
        {
            "event_type": "reply_received",
            "lead_email": OWNER,
            "email_id": "m-2",
            "reply_text": text,
        },
    )
    run_jobs()
    assert lead_row(fresh_database_url, lead)["campaign_status"] == status
    with psycopg.connect(fresh_database_url) as conn:
        n = conn.execute("select count(*) from suppressions").fetchone()
    assert (n is not None and n[0] >= 2) is suppressed  # email and phone


def call_report(
    client: TestClient,
    url: str,
    lead: uuid.UUID,
    broker: uuid.UUID,
    *,
    call_id: str,
    summary: str,
    structured: dict[str, bool],
) -> None:
    """Issue the lead a consent token and post a VAPI end-of-call report carrying it."""
    with connect(url) as conn:
        token = consent.issue(conn, lead, broker, ttl_hours=24)
        conn.commit()
    message = {
        "type": "end-of-call-report",
        "endedReason": "customer-ended-call",
        # VAPI's Call has no metadata: what we set when starting the call comes back
        # in call.assistantOverrides (server SDK types Call, AssistantOverrides).
        "call": {
            "id": call_id,
            "orgId": "org-1",
            "createdAt": "2026-12-01T10:00:00.000Z",
            "updatedAt": "2026-12-01T10:03:00.000Z",
            "assistantOverrides": {
                "metadata": {"lead_id": str(lead), "consent_token": token.nonce}
            },
        },
        "customer": {"number": "+12135550147"},
        "artifact": {},
        "analysis": {"summary": summary, "structuredData": structured},
    }
    body = json.dumps({"message": message})
    response = client.post(
        "/v1/webhooks/vapi", content=body, headers={"X-Vapi-Secret": VAPI_SECRET}
    )
    assert response.status_code == 200


def test_vapi_end_of_call_with_consent_token(
    client: TestClient, fresh_database_url: str, cipher: PiiCipher, run_jobs: Any
) -> None:
    broker, lead, _ = seed(fresh_database_url, cipher)
    call_report(
        client,
        fresh_database_url,
        lead,
        broker,
        call_id="call-77",
        summary="Homeowner wants a call back about equity.",
        structured={"interested": True, "consent": True},
    )
    run_jobs()
    row = lead_row(fresh_database_url, lead)
    assert row["consent"] is True and row["consent_method"] == "voice_call"
    with connect(fresh_database_url) as conn:
        lead_calls = conn.execute(
            "select vapi_call_id, call_attempt_count from leads where id = %s", [lead]
        ).fetchone()
        rec = conn.execute("select call_id, method from consent_records").fetchone()
    assert lead_calls == {"vapi_call_id": "call-77", "call_attempt_count": 1}
    assert rec == {"call_id": "call-77", "method": "voice_call"}


def test_consent_refusals(fresh_database_url: str, cipher: PiiCipher) -> None:
    with connect(fresh_database_url) as conn:
        broker = make_broker(conn)
        lead, other = make_lead(conn, broker), make_lead(conn, broker)
        expired = consent.issue(conn, lead, broker, ttl_hours=1)
        conn.execute(
            "update consent_tokens set created_at = now() - interval '3 hours', "
            "expires_at = now() - interval '1 hour' where id = %s",
            [expired.token_id],
        )
        good = consent.issue(conn, lead, broker, ttl_hours=1)
        conn.commit()
        kw: dict[str, Any] = {"method": ConsentMethod.WEB_CLICK, "disclosure_version": "v"}
        for nonce, extra, code in (
            ("forged-" + good.nonce[7:], {}, 404),
            (expired.nonce, {}, 410),
            (good.nonce, {"expected_lead_id": other}, 403),
        ):
            with pytest.raises(DomainError) as err, conn.transaction():
                consent.redeem(conn, nonce, **kw, **extra)
            assert err.value.status == code
        consent.redeem(conn, good.nonce, **kw)
        with pytest.raises(DomainError) as reused, conn.transaction():
            consent.redeem(conn, good.nonce, **kw)
        assert reused.value.status == 409
        conn.commit()
        rows = conn.execute(
            "select count(*) as n from consent_tokens where nonce_hash = %s",
            [consent.nonce_hash(good.nonce)],
        ).fetchone()
        assert rows == {"n": 1}
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("delete from consent_records")


def test_twenty_concurrent_redemptions_succeed_once(fresh_database_url: str) -> None:
    with connect(fresh_database_url) as conn:
        broker = make_broker(conn)
        lead = make_lead(conn, broker)
        token = consent.issue(conn, lead, broker, ttl_hours=1)
        conn.commit()
    outcomes: list[object] = []
    lock = threading.Lock()
    start = threading.Barrier(20)

    def redeem() -> None:
        with connect(fresh_database_url) as c:
            start.wait()
            try:
                consent.redeem(
                    c, token.nonce, method=ConsentMethod.WEB_CLICK, disclosure_version="v"
                )
                c.commit()
                result: object = "ok"
            except DomainError as exc:
                result = exc.status
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=redeem) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("ok") == 1 and outcomes.count(409) == 19
    with psycopg.connect(fresh_database_url) as conn:
        assert conn.execute("select count(*) from consent_records").fetchone() == (1,)


def test_opt_out_from_a_secondary_address_or_an_unknown_one_is_honoured(
    client: TestClient, fresh_database_url: str, cipher: PiiCipher, run_jobs: Any
) -> None:
    _, lead, _ = seed(fresh_database_url, cipher)
    old = "old.address@example.com"
    with connect(fresh_database_url) as conn:  # an address skip-trace found, no longer primary
        idx = cipher.blind_index("email", old)
        ct = cipher.encrypt(old, aad_for("lead_contacts", "email", f"{lead}:{idx.hex()}"))
        conn.execute(
            "insert into lead_contacts (lead_id, channel, value_ciphertext, value_index, provider) "
            "values (%s, 'email', %s, %s, 'simulator')",
            [lead, ct, idx],
        )
        conn.commit()
    post_instantly(
        client, {"event_type": "lead_unsubscribed", "lead_email": old, "email_id": "u-1"}
    )
    post_instantly(
        client,
        {
            "event_type": "reply_received",
            "lead_email": "stranger@example.com",
            "email_id": "u-2",
            "reply_text": "STOP emailing me",
        },
    )
    run_jobs()
    assert lead_row(fresh_database_url, lead)["campaign_status"] == "unsubscribed"
    with connect(fresh_database_url) as conn:
        indexes = {
            bytes(r["value_index"]) for r in conn.execute("select value_index from suppressions")
        }
    assert cipher.blind_index("email", old) in indexes
    assert cipher.blind_index("email", "stranger@example.com") in indexes


def test_no_offer_or_alert_for_an_opted_out_lead_and_auto_replies_keep_the_reply(
    client: TestClient,
    fresh_database_url: str,
    cipher: PiiCipher,
    smtp: tuple[Inbox, int],
    run_jobs: Any,
) -> None:
    inbox, _ = smtp
    _, lead, broker_email = seed(fresh_database_url, cipher)
    post_instantly(
        client,
        {
            "event_type": "reply_received",
            "lead_email": OWNER,
            "email_id": "r-1",
            "reply_text": "Yes, interested, call me.",
        },
    )
    run_jobs()
    replied_at = lead_row(fresh_database_url, lead)
    post_instantly(
        client,
        {
            "event_type": "reply_received",
            "lead_email": OWNER,
            "email_id": "r-2",
            "reply_text": "I am out of the office until Monday.",
        },
    )
    run_jobs()
    with connect(fresh_database_url) as conn:
        after = conn.execute(
            "select last_reply_at, last_reply_intent from leads where id = %s", [lead]
        ).fetchone()
        conn.execute("update leads set campaign_status = 'unsubscribed' where id = %s", [lead])
        conn.commit()
    assert after is not None and after["last_reply_at"] is not None
    assert after["last_reply_intent"] == "interested"
    sent_before = len(inbox.messages)
    post_instantly(
        client, {"event_type": "lead_interested", "lead_email": OWNER, "email_id": "r-3"}
    )
    run_jobs()
    assert lead_row(fresh_database_url, lead)["campaign_status"] == "unsubscribed"
    assert len(inbox.messages) == sent_before  # no consent email, no broker alert
    assert replied_at["campaign_status"] == "replied"


def test_no_voice_consent_from_a_wrong_person(
    client: TestClient, fresh_database_url: str, cipher: PiiCipher, run_jobs: Any
) -> None:
    broker, lead, _ = seed(fresh_database_url, cipher)
    call_report(
        client,
        fresh_database_url,
        lead,
        broker,
        call_id="call-wp",
        summary="",
        structured={"wrong_person": True, "consent": True},
    )
    run_jobs()
    row = lead_row(fresh_database_url, lead)
    assert row["campaign_status"] == "do_not_contact" and row["consent"] is False
