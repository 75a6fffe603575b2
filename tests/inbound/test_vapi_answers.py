"""VAPI messages that wait for an answer get the one VAPI documents (fixtures from its SDK)."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from equity_connect.config import Settings
from equity_connect.db.pool import connect
from equity_connect.security.crypto import PiiCipher
from equity_connect.web.app import create_app
from tests.calls.vapi_fixtures import body
from tests.factories import make_broker, make_lead
from tests.inbound.conftest import VAPI_SECRET

HEADERS = {"X-Vapi-Secret": VAPI_SECRET}
PHONE = "+12135550147"  # the fixtures' customer.number


def stored(url: str) -> list[str]:
    with connect(url) as conn:
        rows = conn.execute("select event_type from inbound_events order by id").fetchall()
    return [r["event_type"] for r in rows]


def test_assistant_request_without_an_assistant_is_a_clear_422(
    client: TestClient, fresh_database_url: str
) -> None:
    r = client.post("/v1/webhooks/vapi", content=body("assistant_request.json"), headers=HEADERS)
    assert r.status_code == 422
    assert r.json()["error"] == "vapi_assistant_not_configured"
    assert "EC_VAPI_ASSISTANT_ID" in r.json()["detail"]
    assert stored(fresh_database_url) == []


def test_assistant_request_is_answered_with_the_configured_assistant(
    settings: Settings, fresh_database_url: str
) -> None:
    configured = settings.model_copy(update={"vapi_assistant_id": "asst-equity-review"})
    with TestClient(create_app(configured, conninfo=fresh_database_url)) as c:
        r = c.post("/v1/webhooks/vapi", content=body("assistant_request.json"), headers=HEADERS)
    assert r.status_code == 200
    assert r.json() == {
        "assistantId": "asst-equity-review"
    }  # ServerMessageResponseAssistantRequest
    assert stored(fresh_database_url) == ["assistant-request"]


def test_tool_calls_get_one_result_per_call(client: TestClient, fresh_database_url: str) -> None:
    r = client.post("/v1/webhooks/vapi", content=body("tool_calls.json"), headers=HEADERS)
    assert r.status_code == 200
    results: list[dict[str, Any]] = r.json()["results"]  # ServerMessageResponseToolCalls
    assert [(x["toolCallId"], x["name"]) for x in results] == [
        ("call_tool_abc123", "checkEligibility")
    ]
    assert "checkEligibility" in results[0]["error"] and "result" not in results[0]
    # A second batch in the same call is its own event, not a "duplicate".
    again = body("tool_calls.json").replace(b"call_tool_abc123", b"call_tool_def456")
    r2 = client.post("/v1/webhooks/vapi", content=again, headers=HEADERS)
    assert r2.json()["results"][0]["toolCallId"] == "call_tool_def456"
    assert stored(fresh_database_url) == ["tool-calls", "tool-calls"]


def test_other_waiting_messages_and_reports(client: TestClient) -> None:
    for kind, expected in (
        ("transfer-destination-request", {"error"}),
        ("knowledge-base-request", {"documents"}),
    ):
        content = (b'{"message": {"type": "%s", "call": {"id": "c-%s"}}}') % (
            kind.encode(),
            kind.encode(),
        )
        r = client.post("/v1/webhooks/vapi", content=content, headers=HEADERS)
        assert r.status_code == 200 and set(r.json()) == expected
    report = body("end_of_call_report_transcript_dnc.json", lead_id="x")
    r = client.post("/v1/webhooks/vapi", content=report, headers=HEADERS)
    assert r.json()["status"] == "stored"


def test_a_known_caller_gets_its_lead_and_a_consent_token_on_the_call(
    settings: Settings, fresh_database_url: str, cipher: PiiCipher, run_jobs: Any
) -> None:
    with connect(fresh_database_url) as conn:
        broker = make_broker(conn)
        lead = make_lead(conn, broker, cipher=cipher, phone=PHONE, campaign_status="active")
        opted_out = make_lead(
            conn, broker, cipher=cipher, phone="+12135550199", campaign_status="unsubscribed"
        )
        conn.commit()
    configured = settings.model_copy(update={"vapi_assistant_id": "asst-equity-review"})
    with TestClient(create_app(configured, conninfo=fresh_database_url)) as c:
        r = c.post("/v1/webhooks/vapi", content=body("assistant_request.json"), headers=HEADERS)
        assert r.status_code == 200
        reply = r.json()
        assert reply["assistantId"] == "asst-equity-review"
        metadata = reply["assistantOverrides"]["metadata"]
        assert metadata["lead_id"] == str(lead)
        # The call then ends with a report carrying what we answered: consent records.
        report = body(
            "end_of_call_report_consent.json",
            lead_id=metadata["lead_id"],
            consent_token=metadata["consent_token"],
        )
        assert c.post("/v1/webhooks/vapi", content=report, headers=HEADERS).status_code == 200
        run_jobs()
        # An opted-out caller is still recognised, but is offered no consent token.
        other = body("assistant_request.json").replace(PHONE.encode(), b"+12135550199")
        other = other.replace(b"c7a09", b"c7a10")  # another call
        again = c.post("/v1/webhooks/vapi", content=other, headers=HEADERS).json()
        assert again["assistantOverrides"]["metadata"] == {"lead_id": str(opted_out)}
        stranger = body("assistant_request.json").replace(PHONE.encode(), b"+14155550123")
        stranger = stranger.replace(b"c7a09", b"c7a11")
        assert c.post("/v1/webhooks/vapi", content=stranger, headers=HEADERS).json() == {
            "assistantId": "asst-equity-review"
        }
    with connect(fresh_database_url) as conn:
        row = conn.execute("select consent_method::text from leads where id = %s", [lead])
        assert row.fetchone() == {"consent_method": "voice_call"}
