"""POST /v1/webhooks/signalwire: signatures, keywords, routing, and STOP everywhere."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any
from urllib.parse import urlencode

from fastapi.testclient import TestClient

from equity_connect.campaign.service import feed
from equity_connect.db.pool import connect
from equity_connect.security.crypto import PiiCipher
from equity_connect.security.signatures import sign_signalwire
from equity_connect.sms.client import SimulatedSignalWire
from tests.sms.conftest import (
    HOOK,
    OWNER_PHONE,
    PUBLIC,
    SIGNING_KEY,
    fixture_params,
    seed_lead,
    signed_post,
)


def rows(url: str, query: str, *args: Any) -> list[dict[str, Any]]:
    with connect(url) as conn:
        return [dict(r) for r in conn.execute(query, list(args)).fetchall()]  # type: ignore[arg-type]


def phone_suppressed(url: str, cipher: PiiCipher, phone: str = OWNER_PHONE) -> bool:
    found = rows(
        url,
        "select 1 from suppressions where channel = 'phone' and value_index = %s",
        cipher.blind_index("phone", phone),
    )
    return bool(found)


def lead(url: str, lead_id: uuid.UUID) -> dict[str, Any]:
    return rows(url, "select campaign_status, last_reply_intent from leads where id = %s", lead_id)[
        0
    ]


def test_forged_and_unsigned_texts_get_401_and_store_nothing(
    client: TestClient, fresh_database_url: str
) -> None:
    params = fixture_params("inbound_stop.json")
    body = urlencode(params)
    form = {"content-type": "application/x-www-form-urlencoded"}
    assert client.post(HOOK, content=body, headers=form).status_code == 401
    forged = signed_post(client, params, key="not-our-signing-key")
    assert forged.status_code == 401
    assert forged.json()["error"] == "bad_signature"
    # Signed over the URL the app itself sees (the proxy's backend), not our public one.
    internal = signed_post(client, params, url="http://testserver" + HOOK)
    assert internal.status_code == 401
    assert rows(fresh_database_url, "select id from inbound_events") == []
    assert rows(fresh_database_url, "select id from suppressions") == []
    # A genuine signature on another body (STOP changed to START on the way).
    genuine = sign_signalwire(SIGNING_KEY.encode(), PUBLIC + HOOK, params)
    tampered = fixture_params("inbound_stop.json", Body="START")
    r = client.post(
        HOOK, content=urlencode(tampered), headers={**form, "X-SignalWire-Signature": genuine}
    )
    assert r.status_code == 401
    r = client.post(HOOK, content=body, headers={**form, "X-SignalWire-Signature": genuine})
    assert r.status_code == 200  # the same signature on its own body verifies
    with connect(fresh_database_url) as conn:
        conn.execute("delete from suppressions")
        conn.execute("delete from jobs")
        conn.execute("delete from inbound_events")
        conn.commit()


def test_the_twilio_header_and_the_public_url_verify(client: TestClient) -> None:
    r = signed_post(client, fixture_params("inbound_message.json"), header="X-Twilio-Signature")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/xml")


def test_stop_suppresses_at_once_and_everywhere_and_the_next_feed_leaves_it_out(
    client: TestClient, fresh_database_url: str, cipher: PiiCipher, run_jobs: Any
) -> None:
    url = fresh_database_url
    texted = seed_lead(url, cipher)
    reimported = seed_lead(url, cipher)  # the same owner's number on another property
    control = seed_lead(url, cipher, phone="+13105550199")
    r = signed_post(client, fixture_params("inbound_stop.json"))
    assert r.status_code == 200
    assert b"<Message>" in r.content and b"unsubscribed" in r.content
    # Before any job runs: the number is suppressed.
    assert phone_suppressed(url, cipher)
    run_jobs()
    for lead_id in (texted, reimported):
        assert lead(url, lead_id)["campaign_status"] == "unsubscribed", rows(
            url, "select task, last_error from jobs"
        )
    # Every channel: the leads' e-mail addresses are suppressed too.
    emails = rows(
        url,
        "select s.reason from suppressions s join leads l on s.value_index = l.email_index "
        "where s.channel = 'email' and l.id = any(%s)",
        [texted, reimported],
    )
    assert [e["reason"] for e in emails] == ["unsubscribed", "unsubscribed"]
    # A lead re-imported later with the same number (status reset to queued) stays out.
    with connect(url) as conn:
        conn.execute("update leads set campaign_status = 'queued' where id = %s", [reimported])
        picked = {
            p.lead_id
            for p in feed(
                conn, business_date=date(2026, 12, 1), cap=250, default_campaign="c"
            ).picks
        }
        conn.rollback()
    assert control in picked
    assert not picked & {texted, reimported}


def test_spanish_keyword_in_an_mms_is_an_opt_out(
    client: TestClient, fresh_database_url: str, cipher: PiiCipher, run_jobs: Any
) -> None:
    lead_id = seed_lead(fresh_database_url, cipher)
    r = signed_post(client, fixture_params("inbound_mms_alto.json"))
    assert r.status_code == 200 and b"<Message>" in r.content
    assert phone_suppressed(fresh_database_url, cipher)
    run_jobs()
    assert lead(fresh_database_url, lead_id)["campaign_status"] == "unsubscribed"


def test_stop_in_words_is_an_opt_out_of_every_channel(
    client: TestClient, fresh_database_url: str, cipher: PiiCipher, run_jobs: Any
) -> None:
    lead_id = seed_lead(fresh_database_url, cipher)
    params = fixture_params("inbound_message.json", Body="Stop texting me but you can email")
    r = signed_post(client, params)
    assert r.status_code == 200 and b"<Message>" not in r.content  # not a keyword
    run_jobs()
    assert lead(fresh_database_url, lead_id) == {
        "campaign_status": "unsubscribed",
        "last_reply_intent": "unsubscribe",
    }
    assert phone_suppressed(fresh_database_url, cipher)
    channels = rows(
        fresh_database_url,
        "select channel from suppressions where lead_id = %s order by 1",
        lead_id,
    )
    assert {c["channel"] for c in channels} == {"email", "phone"}


def test_help_answers_with_the_brokerage_and_changes_nothing(
    client: TestClient, fresh_database_url: str, cipher: PiiCipher, run_jobs: Any
) -> None:
    lead_id = seed_lead(fresh_database_url, cipher)
    r = signed_post(client, fixture_params("inbound_message.json", Body=" help "))
    assert r.status_code == 200
    assert b"Sunrise Home Equity" in r.content and b"(505) 555-0100" in r.content
    assert b"STOP" in r.content
    run_jobs()
    assert lead(fresh_database_url, lead_id)["campaign_status"] == "queued"
    assert not phone_suppressed(fresh_database_url, cipher)


def test_start_clears_the_carrier_opt_out_only(
    client: TestClient, fresh_database_url: str, cipher: PiiCipher, run_jobs: Any
) -> None:
    lead_id = seed_lead(fresh_database_url, cipher)
    assert signed_post(client, fixture_params("inbound_stop.json")).status_code == 200
    run_jobs()
    start = fixture_params("inbound_message.json", Body="START", MessageSid=str(uuid.uuid4()))
    r = signed_post(client, start)
    assert r.status_code == 200 and b"will not text you" in r.content
    run_jobs()
    state = rows(fresh_database_url, "select opted_out, keyword from sms_opt_outs")
    assert state == [{"opted_out": False, "keyword": "start"}]
    # The suppression and the lead's opt-out stand.
    assert phone_suppressed(fresh_database_url, cipher)
    assert lead(fresh_database_url, lead_id)["campaign_status"] == "unsubscribed"


def test_an_interested_text_is_routed_and_answered_with_the_consent_link(
    client: TestClient,
    fresh_database_url: str,
    cipher: PiiCipher,
    run_jobs: Any,
    outbox: SimulatedSignalWire,
) -> None:
    lead_id = seed_lead(fresh_database_url, cipher, campaign_status="active")
    r = signed_post(client, fixture_params("inbound_message.json"))
    assert r.status_code == 200 and r.content.endswith(b"<Response />")
    run_jobs()
    assert lead(fresh_database_url, lead_id)["last_reply_intent"] == "interested"
    numbers = rows(fresh_database_url, "select source from sms_numbers where lead_id = %s", lead_id)
    assert numbers == [{"source": "sms_inbound"}]
    (text,) = outbox.sent
    assert text["to"] == OWNER_PHONE
    assert f"{PUBLIC}/v1/consent/" in text["body"] and "Alex Rivera" in text["body"]
    assert "STOP" in text["body"]


def test_a_duplicate_delivery_is_stored_once_and_not_answered_twice(
    client: TestClient, fresh_database_url: str, cipher: PiiCipher
) -> None:
    seed_lead(fresh_database_url, cipher)
    first = signed_post(client, fixture_params("inbound_stop.json"))
    again = signed_post(client, fixture_params("inbound_stop.json"))
    assert b"<Message>" in first.content
    assert again.status_code == 200 and b"<Message>" not in again.content
    assert len(rows(fresh_database_url, "select id from inbound_events")) == 1


def test_a_signed_body_that_is_not_a_form_is_400(client: TestClient) -> None:
    r = signed_post(client, [("MessageSid", "x"), ("MessageSid", "y")])
    assert r.status_code == 400 and r.json()["error"] == "duplicate_key"
    r = signed_post(client, [("From", OWNER_PHONE), ("Body", "hi")])
    assert r.status_code == 400 and r.json()["error"] == "malformed_event"
