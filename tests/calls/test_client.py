"""Starting a VAPI call: the request body, and the real HTTP adapter against a local fake."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from equity_connect.calls.client import SimulatedVapi, VapiClient
from equity_connect.calls.message import call_context
from equity_connect.calls.service import handle_vapi, prepare_call
from equity_connect.campaign.suppression import suppress_value
from equity_connect.config import Settings
from equity_connect.consent import service as consent
from equity_connect.db.pool import Conn
from equity_connect.errors import DomainError
from equity_connect.outbound.retry import MalformedResponse, ProviderAuthError, RateLimited
from equity_connect.replies.schemas import ConsentMethod
from equity_connect.security.crypto import PiiCipher
from tests.calls.vapi_fixtures import load
from tests.factories import make_broker, make_lead
from tests.outbound.fakeserver import FakeServer, Reply, running_server

SETTINGS = Settings(vapi_assistant_id="asst-1", vapi_phone_number_id="pn-1")
PHONE = "+12135550147"


@pytest.fixture
def fake() -> Iterator[FakeServer]:
    with running_server() as server:
        yield server


def test_the_create_call_body_carries_lead_and_token_where_vapi_echoes_them(
    conn: Conn, cipher: PiiCipher
) -> None:
    lead = make_lead(conn, make_broker(conn), cipher=cipher, phone=PHONE)
    prepared = prepare_call(conn, cipher, SETTINGS, lead)
    assert prepared.body["assistantId"] == "asst-1"
    assert prepared.body["phoneNumberId"] == "pn-1"
    assert prepared.body["customer"] == {"number": PHONE}
    assert "metadata" not in prepared.body  # CreateCallDto has none
    assert PHONE not in repr(prepared)
    nonce = prepared.body["assistantOverrides"]["metadata"]["consent_token"]
    # What VAPI sends back on the call is what calls.message reads.
    echoed = load("create_call_response.json", lead_id=str(lead), consent_token=nonce)
    context = call_context({"call": echoed})
    assert (context.lead_id, context.consent_token) == (str(lead), nonce)
    # And the token is a real one, bound to this lead.
    redeemed = consent.redeem(
        conn,
        nonce,
        method=ConsentMethod.VOICE_CALL,
        disclosure_version="v",
        expected_lead_id=lead,
    )
    assert redeemed.token_id == prepared.token_id


def test_a_lead_that_may_not_be_called_gets_no_call(conn: Conn, cipher: PiiCipher) -> None:
    broker = make_broker(conn)
    opted_out = make_lead(conn, broker, cipher=cipher, phone=PHONE, campaign_status="unsubscribed")
    dnc = make_lead(conn, broker, cipher=cipher, phone="+12135550148", phone_dnc=True)
    no_phone = make_lead(conn, broker)
    for lead, code in (
        (opted_out, "lead_not_callable"),
        (dnc, "lead_not_callable"),
        (no_phone, "lead_has_no_phone"),
        (uuid.uuid4(), "lead_not_found"),
    ):
        with pytest.raises(DomainError) as err:
            prepare_call(conn, cipher, SETTINGS, lead)
        assert err.value.code == code
    # A number suppressed on any channel's opt-out (e.g. an opt-out said on an earlier
    # call about another property of the same owner) is not called again.
    shared = make_lead(conn, broker, cipher=cipher, phone="+12135550149")
    prepare_call(conn, cipher, SETTINGS, shared)
    suppress_value(conn, cipher, "phone", "+12135550149", reason="dnc", source="test")
    with pytest.raises(DomainError, match="opted out"):
        prepare_call(conn, cipher, SETTINGS, shared)
    unset = Settings()
    callable_lead = make_lead(conn, broker, cipher=cipher, phone="+12135550150")
    with pytest.raises(DomainError, match="EC_VAPI_ASSISTANT_ID"):
        prepare_call(conn, cipher, unset, callable_lead)


def test_the_simulated_report_records_consent_end_to_end(conn: Conn, cipher: PiiCipher) -> None:
    lead = make_lead(conn, make_broker(conn), cipher=cipher, phone=PHONE, campaign_status="active")
    vapi = SimulatedVapi()
    started = vapi.create_call(prepare_call(conn, cipher, SETTINGS, lead).body)
    report = vapi.end_of_call_report(
        started.call_id,
        assistant_said="May we call you?",
        homeowner_said="Yes, I'm interested.",
        summary="Interested.",
        structured_data={"interested": True, "consent": True},
    )
    assert "metadata" not in report["message"]["call"]
    status, found = handle_vapi(
        conn, cipher, SETTINGS, "end-of-call-report", report, event_id=uuid.uuid4()
    )
    assert (status, found) == ("processed", lead)
    row = conn.execute("select consent_method::text from leads where id = %s", [lead]).fetchone()
    assert row == {"consent_method": "voice_call"}


def test_create_call_over_http(fake: FakeServer) -> None:
    fake.queue(Reply(201, load("create_call_response.json", lead_id="l", consent_token="t")))
    with VapiClient("private-key", base_url=fake.url) as client:
        started = client.create_call({"assistantId": "asst-1", "customer": {"number": PHONE}})
    assert started.call_id == "5c7f3a2e-1f0b-4a7e-9f51-0d3e2b8c7a0b"
    assert started.status == "queued"
    (request,) = fake.requests
    assert (request.method, request.path) == ("POST", "/call")
    assert request.headers["authorization"] == "Bearer private-key"
    assert request.json() == {"assistantId": "asst-1", "customer": {"number": PHONE}}


def test_create_call_failures_are_typed(fake: FakeServer) -> None:
    fake.queue(
        Reply(401, {"message": "Invalid Key", "statusCode": 401}),
        Reply(429, {"message": "Too Many Requests"}, headers={"Retry-After": "7"}),
        Reply(200, "<html>proxy</html>"),
        Reply(201, {"status": "queued"}),
    )
    with VapiClient("private-key", base_url=fake.url) as client:
        with pytest.raises(ProviderAuthError) as auth:
            client.create_call({})
        assert "private-key" not in str(auth.value)
        with pytest.raises(RateLimited) as limited:
            client.create_call({})
        assert limited.value.retry_after == 7
        with pytest.raises(MalformedResponse):
            client.create_call({})
        with pytest.raises(MalformedResponse, match="no id"):
            client.create_call({})
    assert "private-key" not in repr(client)
