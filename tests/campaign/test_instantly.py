"""Instantly v2 ``leads/add`` against a real local HTTP server (provider-formats.md §3)."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest

from equity_connect.campaign.instantly import (
    ADD_LEADS_PATH,
    LEAD_KEYS,
    MAX_LEADS_PER_CALL,
    AddLeadsResult,
    CreatedLead,
    InstantlyClient,
    InstantlyLead,
    LeadImporter,
    SimulatedInstantly,
    add_leads_body,
    batches,
    parse_add_leads_response,
)
from equity_connect.outbound import (
    MalformedResponse,
    ProviderAuthError,
    ProviderError,
    ProviderRejected,
    ProviderUnavailable,
    RateLimited,
    next_delay,
)
from tests.outbound.fakeserver import FakeServer, Reply, running_server, unused_port_url

API_KEY = "inst-key-s3cr3t-0123456789"
CAMPAIGN = "019ffad2-9c4e-7be6-8364-ed444afb02d5"
NOW = datetime(2026, 6, 10, 13, 0, tzinfo=UTC)
BODY_KEYS = {
    "campaign_id",
    "skip_if_in_workspace",
    "skip_if_in_campaign",
    "verify_leads_on_import",
    "leads",
}

ADA = InstantlyLead(
    email="a@acme.com",
    first_name="Ada",
    last_name="L",
    company_name="Acme",
    phone="+12125550123",
    website="https://acme.example",
    job_title="Owner",
    personalization="Your house on Elm St",
    custom_variables={"past_customer": True, "score": 87, "equity": 0.62, "note": None},
)
BARE = InstantlyLead(email="b@example.com")


def ok_body(*created: tuple[int, str], **overrides: Any) -> dict[str, Any]:
    """The documented 200 body."""
    body: dict[str, Any] = {
        "status": "success",
        "total_sent": 2,
        "leads_uploaded": len(created),
        "in_blocklist": 0,
        "blocklist_used": None,
        "duplicated_leads": 0,
        "skipped_count": 0,
        "invalid_email_count": 0,
        "incomplete_count": 0,
        "duplicate_email_count": 0,
        "remaining_in_plan": 9998,
        "created_leads": [
            {"index": i, "id": f"0190aaaa-0000-7000-8000-00000000000{i}", "email": email}
            for i, email in created
        ],
    }
    body.update(overrides)
    return body


def error_body(status: int, error: str, message: str) -> dict[str, Any]:
    return {"statusCode": status, "error": error, "message": message}


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with running_server() as fake:
        yield fake


@pytest.fixture
def client(server: FakeServer) -> Iterator[InstantlyClient]:
    with InstantlyClient(API_KEY, base_url=server.url, timeout=2, clock=lambda: NOW) as made:
        yield made


def fail(client: InstantlyClient) -> ProviderError:
    with pytest.raises(ProviderError) as info:
        client.add_leads(CAMPAIGN, [ADA])
    error = info.value
    # Whatever failed, the key is in no part of the error a log or dead letter could keep.
    for text in (str(error), repr(error), repr(error.__context__), repr(error.__cause__)):
        assert API_KEY not in text
    return error


# --- the request ---------------------------------------------------------------------------


def test_request_matches_the_documented_schema(server: FakeServer, client: InstantlyClient) -> None:
    server.queue(Reply(200, ok_body((0, "a@acme.com"), (1, "b@example.com"))))
    result = client.add_leads(CAMPAIGN, [ADA, BARE])

    (request,) = server.requests
    assert request.method == "POST"
    assert request.path == ADD_LEADS_PATH
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert request.headers["content-type"] == "application/json"
    body = request.json()
    assert set(body) == BODY_KEYS
    assert body["campaign_id"] == CAMPAIGN
    assert body["skip_if_in_workspace"] is True
    assert body["skip_if_in_campaign"] is True
    assert body["verify_leads_on_import"] is False
    full, bare = body["leads"]
    assert set(full) == LEAD_KEYS
    assert full == {
        "email": "a@acme.com",
        "first_name": "Ada",
        "last_name": "L",
        "company_name": "Acme",
        "phone": "+12125550123",
        "website": "https://acme.example",
        "job_title": "Owner",
        "personalization": "Your house on Elm St",
        "custom_variables": {"past_customer": True, "score": 87, "equity": 0.62, "note": None},
    }
    assert bare == {"email": "b@example.com"}  # None fields and empty variables left out

    assert result.status == "success"
    assert result.leads_uploaded == 2
    assert result.remaining_in_plan == 9998
    assert [c.index for c in result.created_leads] == [0, 1]
    assert result.created_leads[1].email == "b@example.com"


def test_flags_are_sent_as_given(server: FakeServer, client: InstantlyClient) -> None:
    server.queue(Reply(200, ok_body()))
    client.add_leads(
        CAMPAIGN,
        [BARE],
        skip_if_in_workspace=False,
        skip_if_in_campaign=False,
        verify_leads_on_import=True,
    )
    body = server.requests[0].json()
    assert (
        body["skip_if_in_workspace"],
        body["skip_if_in_campaign"],
        body["verify_leads_on_import"],
    ) == (False, False, True)


@pytest.mark.parametrize("count", [0, MAX_LEADS_PER_CALL + 1])
def test_lead_count_out_of_range_sends_nothing(
    server: FakeServer, client: InstantlyClient, count: int
) -> None:
    leads = [InstantlyLead(email=f"o{i}@example.com") for i in range(count)]
    with pytest.raises(ValueError, match="batches"):
        client.add_leads(CAMPAIGN, leads)
    assert server.requests == []


def test_a_full_batch_of_1000_is_one_call(server: FakeServer, client: InstantlyClient) -> None:
    leads = [InstantlyLead(email=f"o{i}@example.com") for i in range(MAX_LEADS_PER_CALL)]
    server.queue(Reply(200, ok_body()))
    client.add_leads(CAMPAIGN, leads)
    assert len(server.requests[0].json()["leads"]) == MAX_LEADS_PER_CALL


def test_batches_of_1000() -> None:
    leads = [InstantlyLead(email=f"o{i}@example.com") for i in range(2501)]
    parts = batches(leads)
    assert [len(p) for p in parts] == [1000, 1000, 501]
    assert [lead for part in parts for lead in part] == leads
    assert batches([]) == []
    assert [len(p) for p in batches(leads[:5], size=2)] == [2, 2, 1]
    for size in (0, 1001):
        with pytest.raises(ValueError, match="size"):
            batches(leads, size=size)


@pytest.mark.parametrize(
    "bad",
    [{"nested": {"a": 1}}, {"list": [1, 2]}, {"nan": math.nan}, {"inf": math.inf}, {"": "x"}],
)
def test_custom_variables_must_be_scalars(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="custom variable"):
        InstantlyLead(email="a@acme.com", custom_variables=bad)


def test_custom_variables_changed_after_construction_are_checked_again() -> None:
    lead = InstantlyLead(email="a@acme.com", custom_variables={"ok": 1})
    lead.custom_variables["bad"] = object()  # type: ignore[assignment]
    with pytest.raises(ValueError, match="custom variable"):
        add_leads_body(CAMPAIGN, [lead])


def test_lead_and_campaign_are_required() -> None:
    with pytest.raises(ValueError, match="email"):
        InstantlyLead(email="  ")
    with pytest.raises(ValueError, match="campaign_id"):
        add_leads_body(" ", [BARE])


# --- errors --------------------------------------------------------------------------------


def test_429_with_retry_after_is_rate_limited(server: FakeServer, client: InstantlyClient) -> None:
    server.queue(
        Reply(429, error_body(429, "Too Many Requests", "Rate limit"), {"Retry-After": "2"})
    )
    error = fail(client)
    assert isinstance(error, RateLimited)
    assert error.retryable
    assert error.retry_after == 2.0
    assert error.status_code == 429


def test_429_with_http_date_uses_the_injected_clock(
    server: FakeServer, client: InstantlyClient
) -> None:
    later = format_datetime(NOW + timedelta(seconds=30), usegmt=True)
    server.queue(Reply(429, error_body(429, "Too Many Requests", "x"), {"Retry-After": later}))
    assert fail(client).retry_after == 30.0


def test_429_without_retry_after_still_retries(server: FakeServer, client: InstantlyClient) -> None:
    server.queue(Reply(429, error_body(429, "Too Many Requests", "x")))
    error = fail(client)
    assert isinstance(error, RateLimited)
    assert error.retry_after is None


def test_402_no_paid_plan_is_not_retryable(server: FakeServer, client: InstantlyClient) -> None:
    server.queue(Reply(402, error_body(402, "Payment Required", "No paid plan for a@acme.com")))
    error = fail(client)
    assert type(error) is ProviderRejected
    assert not error.retryable
    assert error.reason == "no paid plan"
    assert "a@acme.com" not in str(error)  # the body's message never becomes the reason
    assert next_delay(error, 0, base=1, cap=10, rng=random.Random(0)) is None


def test_401_is_an_auth_error(server: FakeServer, client: InstantlyClient) -> None:
    server.queue(Reply(401, error_body(401, "Unauthorized", "Invalid API key")))
    error = fail(client)
    assert isinstance(error, ProviderAuthError)
    assert not error.retryable


def test_404_is_rejected(server: FakeServer, client: InstantlyClient) -> None:
    server.queue(Reply(404, error_body(404, "Not Found", "Campaign not found")))
    error = fail(client)
    assert type(error) is ProviderRejected
    assert not error.retryable
    assert error.status_code == 404


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_is_retryable(server: FakeServer, client: InstantlyClient, status: int) -> None:
    server.queue(Reply(status, "<html><body>Bad gateway</body></html>"))
    error = fail(client)
    assert isinstance(error, ProviderUnavailable)
    assert error.retryable


@pytest.mark.parametrize(
    "body", ["<html><body>Welcome</body></html>", b'{"status": "succ', b"", b"[1, 2]"]
)
def test_unusable_2xx_body_is_malformed(
    server: FakeServer, client: InstantlyClient, body: str | bytes
) -> None:
    server.queue(Reply(200, body))
    error = fail(client)
    assert isinstance(error, MalformedResponse)
    assert not error.retryable


def test_timeout_is_unavailable(server: FakeServer) -> None:
    server.queue(Reply(200, ok_body(), delay=2.0))
    with InstantlyClient(API_KEY, base_url=server.url, timeout=0.2) as slow:
        error = fail(slow)
    assert isinstance(error, ProviderUnavailable)
    assert error.retryable
    assert "timeout" in error.reason


def test_connection_refused_is_unavailable() -> None:
    with InstantlyClient(API_KEY, base_url=unused_port_url(), timeout=1) as nowhere:
        error = fail(nowhere)
    assert isinstance(error, ProviderUnavailable)


def test_key_is_not_in_the_repr() -> None:
    with InstantlyClient(API_KEY) as made:
        assert API_KEY not in repr(made)
    assert "a@acme.com" not in repr(ADA)
    with pytest.raises(ValueError, match="api_key"):
        InstantlyClient("")


def test_a_callers_httpx_client_is_used_and_left_open(server: FakeServer) -> None:
    server.queue(Reply(200, ok_body()))
    with httpx.Client(timeout=2) as http:
        InstantlyClient(API_KEY, base_url=server.url + "/", client=http).close()
        result = InstantlyClient(API_KEY, base_url=server.url, client=http).add_leads(
            CAMPAIGN, [BARE]
        )
        assert not http.is_closed
    assert result.status == "success"


# --- the response --------------------------------------------------------------------------


def test_missing_counters_are_tolerated() -> None:
    result = parse_add_leads_response({"status": "success"}, 3)
    assert result == AddLeadsResult(status="success")
    odd = parse_add_leads_response({"leads_uploaded": "3", "skipped_count": True}, 3)
    assert odd.leads_uploaded is None and odd.skipped_count is None


@pytest.mark.parametrize(
    "created",
    [
        "nope",
        ["nope"],
        [{"index": 5, "id": "x", "email": "a@acme.com"}],  # we sent 2
        [{"index": -1, "id": "x", "email": "a@acme.com"}],
        [{"index": 0, "email": "a@acme.com"}],
    ],
)
def test_created_leads_that_cannot_be_mapped_are_malformed(created: object) -> None:
    with pytest.raises(MalformedResponse):
        parse_add_leads_response(ok_body(created_leads=created), 2)


def test_error_status_in_a_200_body_is_typed() -> None:
    with pytest.raises(RateLimited):
        parse_add_leads_response(error_body(429, "Too Many Requests", "x"), 1)


# --- the simulator -------------------------------------------------------------------------


def test_simulator_is_deterministic_and_records_calls() -> None:
    leads = [ADA, BARE, InstantlyLead(email="A@acme.com"), InstantlyLead(email="not-an-email")]
    first, second = SimulatedInstantly(), SimulatedInstantly()
    result = first.add_leads(CAMPAIGN, leads)
    assert result == second.add_leads(CAMPAIGN, leads)
    assert result.total_sent == 4
    assert result.leads_uploaded == 2
    assert result.duplicate_email_count == 1  # A@acme.com repeats a@acme.com
    assert result.invalid_email_count == 1
    assert [(c.index, c.email) for c in result.created_leads] == [
        (0, "a@acme.com"),
        (1, "b@example.com"),
    ]
    assert result.created_leads[0] == CreatedLead(
        0, first.lead_id(CAMPAIGN, "a@acme.com"), "a@acme.com"
    )
    (call,) = first.calls
    assert set(call.body) == BODY_KEYS
    assert call.leads == tuple(leads)
    assert not call.rate_limited


def test_simulator_skips_leads_already_added() -> None:
    sim = SimulatedInstantly(remaining_in_plan=10)
    sim.add_leads(CAMPAIGN, [ADA])
    again = sim.add_leads(CAMPAIGN, [ADA, BARE])
    assert again.skipped_count == 1
    assert [c.email for c in again.created_leads] == ["b@example.com"]
    assert again.remaining_in_plan == 8
    other = sim.add_leads("other-campaign", [ADA])  # in the workspace already
    assert other.leads_uploaded == 0
    forced = sim.add_leads("other-campaign", [ADA], skip_if_in_workspace=False)
    assert forced.leads_uploaded == 1


def test_simulator_fails_the_first_calls_when_asked() -> None:
    sim = SimulatedInstantly(fail_first=2, retry_after=2.0)
    for _ in range(2):
        with pytest.raises(RateLimited) as info:
            sim.add_leads(CAMPAIGN, [ADA])
        assert info.value.retry_after == 2.0
        assert "simulated" in str(info.value)
    assert sim.add_leads(CAMPAIGN, [ADA]).leads_uploaded == 1
    assert [c.rate_limited for c in sim.calls] == [True, True, False]
    assert sim.accepted_leads == [ADA]


def test_simulator_validates_like_the_client() -> None:
    sim = SimulatedInstantly()
    with pytest.raises(ValueError, match="batches"):
        sim.add_leads(CAMPAIGN, [BARE] * 1001)
    with pytest.raises(ValueError, match="batches"):
        sim.add_leads(CAMPAIGN, [])
    assert sim.calls == []


def test_both_implement_the_importer_protocol(server: FakeServer) -> None:
    importers: list[LeadImporter] = [
        SimulatedInstantly(),
        InstantlyClient(API_KEY, base_url=server.url),
    ]
    server.queue(Reply(200, ok_body((0, "b@example.com"))))
    for importer in importers:
        assert importer.add_leads(CAMPAIGN, [BARE]).created_leads[0].index == 0
    client = importers[1]
    assert isinstance(client, InstantlyClient)
    client.close()
