"""VAPI server messages in VAPI's own shapes, through the webhook, the job and the database.

The bodies are the fixtures in tests/fixtures/providers/vapi/ (built from VAPI's
server SDK types; see SOURCE.md there), so these tests fail when we read a field
VAPI does not send.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient

from equity_connect.consent import service as consent
from equity_connect.db.pool import connect
from equity_connect.security.crypto import PiiCipher
from tests.calls.vapi_fixtures import body
from tests.factories import make_broker, make_lead
from tests.inbound.conftest import VAPI_SECRET

PHONE = "+12135550147"  # the fixtures' customer.number


def seed(url: str, cipher: PiiCipher) -> tuple[uuid.UUID, uuid.UUID, str]:
    """A lead with the fixtures' phone number, and a consent token issued for it."""
    with connect(url) as conn:
        broker = make_broker(conn)
        lead = make_lead(
            conn,
            broker,
            cipher=cipher,
            email="ada.owner@example.com",
            phone=PHONE,
            campaign_status="active",
        )
        token = consent.issue(conn, lead, broker, ttl_hours=24)
        conn.commit()
    return broker, lead, token.nonce


def post(client: TestClient, content: bytes) -> dict[str, Any]:
    r = client.post("/v1/webhooks/vapi", content=content, headers={"X-Vapi-Secret": VAPI_SECRET})
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()
    return data


def lead_state(url: str, lead: uuid.UUID) -> dict[str, Any]:
    with connect(url) as conn:
        row = conn.execute(
            "select campaign_status, consent, consent_method from leads where id = %s", [lead]
        ).fetchone()
        channels = conn.execute(
            # Suppressed as the feed sees it: the lead's values are in the set.
            "select array_agg(distinct s.channel::text order by s.channel::text) as c "
            "from leads l join suppressions s on (s.channel = 'email' and "
            "s.value_index = l.email_index) or (s.channel = 'phone' and "
            "s.value_index = l.phone_index) where l.id = %s",
            [lead],
        ).fetchone()
        events = conn.execute(
            "select array_agg(stage || ':' || outcome order by id) as e "
            "from pipeline_events where lead_id = %s",
            [lead],
        ).fetchone()
    assert row is not None and channels is not None and events is not None
    return {**row, "suppressed": channels["c"] or [], "events": events["e"] or []}


@pytest.mark.parametrize(
    "fixture",
    [
        "end_of_call_report_consent.json",
        "end_of_call_report_variable_values.json",
        "end_of_call_report_assistant_metadata.json",
    ],
)
def test_voice_consent_is_recorded_from_where_vapi_puts_the_token(
    client: TestClient, fresh_database_url: str, cipher: PiiCipher, run_jobs: Any, fixture: str
) -> None:
    _, lead, nonce = seed(fresh_database_url, cipher)
    post(client, body(fixture, lead_id=str(lead), consent_token=nonce))
    run_jobs()
    state = lead_state(fresh_database_url, lead)
    assert state["consent"] is True and state["consent_method"] == "voice_call"
    assert "consent:recorded" in state["events"] and "consent:missing_token" not in state["events"]
    with connect(fresh_database_url) as conn:
        rec = conn.execute("select call_id, method::text from consent_records").fetchone()
    assert rec is not None and rec["method"] == "voice_call"
    assert rec["call_id"].startswith("5c7f3a2e-1f0b-4a7e-9f51-0d3e2b8c7a0")


@pytest.mark.parametrize(
    "fixture",
    [
        "end_of_call_report_structured_outputs_dnc.json",
        "end_of_call_report_structured_output_boolean.json",
        "end_of_call_report_transcript_dnc.json",
        "end_of_call_report_messages_dnc.json",
    ],
)
def test_a_do_not_call_suppresses_every_channel(
    client: TestClient, fresh_database_url: str, cipher: PiiCipher, run_jobs: Any, fixture: str
) -> None:
    _, lead, _ = seed(fresh_database_url, cipher)
    post(client, body(fixture, lead_id=str(lead)))
    run_jobs()
    state = lead_state(fresh_database_url, lead)
    assert state["campaign_status"] == "unsubscribed"
    assert state["suppressed"] == ["email", "phone"]
    assert "replied:unsubscribe" in state["events"]


def test_the_lead_is_found_by_the_id_we_put_on_the_call(
    client: TestClient, fresh_database_url: str, cipher: PiiCipher, run_jobs: Any
) -> None:
    # Two leads share the number; the id in assistantOverrides.metadata picks the right one.
    _, lead, _ = seed(fresh_database_url, cipher)
    with connect(fresh_database_url) as conn:
        other = make_lead(conn, None, cipher=cipher, phone=PHONE, campaign_status="active")
        conn.commit()
    post(client, body("status_update.json", lead_id=str(lead)))
    run_jobs()
    assert lead_state(fresh_database_url, lead)["events"] == ["call:ringing"]
    assert lead_state(fresh_database_url, other)["events"] == []


def test_an_opt_out_on_a_call_covers_every_lead_with_that_number(
    client: TestClient, fresh_database_url: str, cipher: PiiCipher, run_jobs: Any
) -> None:
    _, lead, _ = seed(fresh_database_url, cipher)
    with connect(fresh_database_url) as conn:  # the same owner's other property
        other = make_lead(
            conn,
            None,
            cipher=cipher,
            email="ada.second@example.com",
            phone=PHONE,
            campaign_status="active",
        )
        conn.commit()
    post(client, body("end_of_call_report_structured_outputs_dnc.json", lead_id=str(lead)))
    run_jobs()
    for each in (lead, other):
        state = lead_state(fresh_database_url, each)
        assert state["campaign_status"] == "unsubscribed"
        assert state["suppressed"] == ["email", "phone"]


def test_an_opt_out_from_a_number_we_do_not_know_is_still_honoured(
    client: TestClient, fresh_database_url: str, cipher: PiiCipher, run_jobs: Any
) -> None:
    stranger = "+14155550123"
    content = body("end_of_call_report_transcript_dnc.json", lead_id=str(uuid.uuid4()))
    post(client, content.replace(PHONE.encode(), stranger.encode()))
    run_jobs()
    with connect(fresh_database_url) as conn:
        rows = conn.execute("select channel::text, value_index, reason::text from suppressions")
        found = [(r["channel"], bytes(r["value_index"]), r["reason"]) for r in rows]
        status = conn.execute("select status::text from inbound_events").fetchone()
    assert found == [("phone", cipher.blind_index("phone", stranger), "unsubscribed")]
    assert status == {"status": "processed"}
