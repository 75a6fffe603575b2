"""BatchData skip-trace client against a real local HTTP server (provider-formats.md §2).

Tests taking ``wire`` run twice: over REST, and through BatchData's MCP transport
(``batchdata_mcp.py``) against a local MCP server built with the official SDK.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from equity_connect.outbound import (
    MalformedResponse,
    ProviderAuthError,
    ProviderError,
    ProviderRejected,
    ProviderUnavailable,
    RateLimited,
)
from equity_connect.skiptrace import (
    BatchDataSkipTrace,
    PhoneType,
    SkipTraceProvider,
    SkipTraceRequest,
)
from equity_connect.skiptrace.batchdata import build_request_body, parse_response
from tests.outbound.fakeserver import FakeServer, Recorded, Reply, unused_port_url
from tests.skiptrace.conftest import TOKEN, Wire
from tests.skiptrace.helpers import json_values, make_request, make_requests, mutate

NOW = datetime(2024, 11, 6, 12, 0, tzinfo=UTC)

JANE = SkipTraceRequest(
    lead_id="lead-1",
    first_name="Jane",
    last_name="Doe",
    street="1011 Rosegold St",
    city="Franklin Square",
    state="NY",
    zip5="11010",
)


def person(**overrides: Any) -> dict[str, Any]:
    """The §2 V1 person, with concrete values where the doc shows "..."."""
    base: dict[str, Any] = {
        "propertyAddress": {
            "street": "1011 Rosegold St",
            "city": "Franklin Square",
            "state": "NY",
            "zip": "11010",
        },
        "name": {"first": "Jane", "last": "Doe"},
        "phoneNumbers": [
            {
                "number": "5165551234",
                "type": "Mobile",
                "carrier": "T-Mobile",
                "tested": True,
                "reachable": True,
                "score": 95,
                "dnc": False,
                "tcpa": False,
            }
        ],
        "emails": [{"email": "Jane@Example.com"}],
        "meta": {"matched": True, "error": False},
    }
    base.update(overrides)
    return base


def v1(*persons: dict[str, Any]) -> dict[str, Any]:
    return {"status": {"code": 200, "text": "OK"}, "results": {"persons": list(persons)}}


def v3(*items: dict[str, Any]) -> dict[str, Any]:
    return {"status": {"code": 200, "text": "OK"}, "result": {"data": list(items)}}


def echo_v1(request: Recorded) -> Reply:
    """One matched person per request, carrying the request's address (order kept)."""
    persons = [
        person(propertyAddress=item["propertyAddress"], phoneNumbers=[], emails=[])
        for item in request.json()["requests"]
    ]
    return Reply(body=v1(*persons))


@pytest.fixture
def batchdata(server: FakeServer) -> Iterator[BatchDataSkipTrace]:
    with BatchDataSkipTrace(TOKEN, base_url=server.url, timeout=2.0, clock=lambda: NOW) as client:
        yield client


# --- the documented exchange -----------------------------------------------------------------


def test_documented_request_and_v1_response(wire: Wire):
    wire.server.queue(Reply(body=v1(person())))
    with wire.client(timeout=2.0, clock=lambda: NOW) as batchdata:
        [result] = batchdata.lookup([JANE])

    [sent] = wire.server.requests
    assert (sent.method, sent.path) == wire.endpoint
    assert sent.headers["authorization"] == f"Bearer {TOKEN}"
    assert sent.headers["content-type"] == "application/json"
    assert sent.json() == {
        "requests": [
            {
                "requestId": "lead-1",
                "propertyAddress": {
                    "street": "1011 Rosegold St",
                    "city": "Franklin Square",
                    "state": "NY",
                    "zip": "11010",
                },
                "name": {"first": "Jane", "last": "Doe"},
            }
        ],
        "options": {"includeTCPABlacklistedPhones": False},
    }

    assert (result.provider, result.lead_id, result.matched, result.mak) == (
        "batchdata",
        "lead-1",
        True,
        None,
    )
    [phone] = result.phones
    assert phone.number == "+15165551234"
    assert phone.type is PhoneType.MOBILE
    assert (phone.carrier, phone.tested, phone.reachable, phone.score, phone.dnc, phone.tcpa) == (
        "T-Mobile",
        True,
        True,
        95,
        False,
        False,
    )
    assert [e.address for e in result.emails] == ["jane@example.com"]
    assert result.result_codes == []
    assert result.raw["meta"] == {"matched": True, "error": False}


def test_tcpa_option_and_nameless_owner(wire: Wire):
    wire.server.queue(Reply(body=v1(person())))
    with wire.client(include_tcpa_blacklisted=True) as client:
        client.lookup([make_request(1, first_name=None, last_name=None, street="1011 Rosegold St")])
    body = wire.server.requests[0].json()
    assert body["options"] == {"includeTCPABlacklistedPhones": True}
    assert "name" not in body["requests"][0]


def test_batches_split_at_max_batch(wire: Wire):
    wire.server.respond = echo_v1
    requests = make_requests(5)
    with wire.client(max_batch=2) as client:
        results = client.lookup(requests)
    assert [len(r.json()["requests"]) for r in wire.server.requests] == [2, 2, 1]
    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in wire.server.requests)
    assert [r.lead_id for r in results] == [r.lead_id for r in requests]


def test_default_batch_is_100(wire: Wire):
    wire.server.respond = echo_v1
    with wire.client() as batchdata:
        assert len(batchdata.lookup(make_requests(201))) == 201
    assert [len(r.json()["requests"]) for r in wire.server.requests] == [100, 100, 1]


def test_is_a_skiptrace_provider(wire: Wire):
    with wire.client() as client:
        assert isinstance(client, SkipTraceProvider)
        assert (client.name, client.max_batch) == ("batchdata", 100)
        assert TOKEN not in repr(client)
    with pytest.raises(ValueError, match="max_batch"):
        wire.client(max_batch=0)


def test_no_requests_no_call(wire: Wire):
    with wire.client() as batchdata:
        assert batchdata.lookup([]) == []
    assert wire.server.requests == []


# --- V1 parsing ------------------------------------------------------------------------------


def test_unmatched_is_a_result_not_an_error():
    unmatched = person(phoneNumbers=[], emails=[], meta={"matched": False, "error": False})
    [result] = parse_response([JANE], v1(unmatched))
    assert not result.matched and result.phones == [] and result.emails == []


def test_meta_error_is_unmatched_with_a_code():
    [result] = parse_response([JANE], v1(person(meta={"matched": True, "error": True})))
    assert not result.matched and result.result_codes == ["META_ERROR"]


def test_missing_meta_matches_on_contacts():
    no_meta = person()
    del no_meta["meta"]
    assert parse_response([JANE], v1(no_meta))[0].matched
    bare = {"propertyAddress": no_meta["propertyAddress"]}
    assert not parse_response([JANE], v1(bare))[0].matched


def test_phones_normalized_invalid_dropped_duplicates_merged():
    phones = [
        {"number": "(516) 555-1234", "type": "Mobile", "dnc": True},
        {"number": "123", "type": "Mobile"},
        {"number": 2125550199, "type": "Land Line", "score": "80", "dnc": "false"},
        {"number": "+1 516 555 1234", "type": "Land Line"},
        {"type": "Mobile"},
        "5165550000",
    ]
    emails = [{"email": " JOHN@EXAMPLE.COM "}, {"email": "nope"}, "jane@example.net", {}, 7]
    [result] = parse_response([JANE], v1(person(phoneNumbers=phones, emails=emails)))
    assert [(p.number, p.type, p.dnc, p.score) for p in result.phones] == [
        ("+15165551234", PhoneType.MOBILE, True, None),
        ("+12125550199", PhoneType.LANDLINE, False, 80),
    ]
    assert [e.address for e in result.emails] == ["john@example.com", "jane@example.net"]


def test_wrong_typed_leaves_read_as_unknown():
    phones = [
        {
            "number": "5165551234",
            "type": 3,
            "carrier": {"x": 1},
            "tested": "yes",
            "reachable": [],
            "score": {"v": 95},
            "dnc": None,
        }
    ]
    [result] = parse_response([JANE], v1(person(phoneNumbers=phones, emails={"email": "x"})))
    [phone] = result.phones
    assert (phone.type, phone.carrier, phone.tested, phone.reachable, phone.score, phone.dnc) == (
        PhoneType.UNKNOWN,
        None,
        None,
        None,
        None,
        None,
    )
    assert result.emails == []


def test_v1_order_is_request_order_checked_by_address():
    requests = [JANE, make_request(2, street="77 Elm Ave", state="NJ")]
    second = person(propertyAddress={"street": "77 ELM AVENUE", "state": "nj", "zip": "07001"})
    results = parse_response(requests, v1(person(), second))
    assert [r.lead_id for r in results] == ["lead-1", "lead-2"]


def test_v1_swapped_persons_are_refused():
    requests = [JANE, make_request(2, street="77 Elm Ave")]
    second = person(propertyAddress={"street": "77 Elm Ave", "state": "NY"})
    with pytest.raises(MalformedResponse, match="order"):
        parse_response(requests, v1(second, person()))


def test_request_ids_when_present_map_out_of_order():
    requests = [JANE, make_request(2, street="77 Elm Ave")]
    first = person(requestId="lead-1")
    second = person(meta={"matched": False, "requestId": "lead-2"}, phoneNumbers=[])
    results = parse_response(requests, v1(second, first))
    assert [(r.lead_id, r.matched) for r in results] == [("lead-1", True), ("lead-2", False)]


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ([], "body is not a JSON object"),
        ({"status": {"code": 200}}, "neither results nor result in body"),
        ({"results": []}, "results is not an object"),
        ({"results": {"persons": {}}}, "results.persons is not a list"),
        ({"results": {}}, "result count differs from request count"),
        ({"results": {"persons": ["x"]}}, "result item is not an object"),
        ({"results": {"persons": [{}, {}]}}, "result count differs from request count"),
        (
            {"results": {"persons": [{"requestId": "lead-9"}]}},
            "requestIds do not match the requests",
        ),
        ({"result": "x"}, "result is not an object"),
        ({"result": {"data": 3}}, "result.data is not a list"),
        ({"result": {"data": [{"persons": {}}]}}, "persons is not a list"),
        ({"result": {"data": [{"persons": [1]}]}}, "person is not an object"),
    ],
)
def test_malformed_structure(payload: Any, reason: str):
    with pytest.raises(MalformedResponse) as caught:
        parse_response([JANE], payload)
    assert caught.value.reason == reason and not caught.value.retryable


@pytest.mark.parametrize(
    ("code", "error_type"),
    [
        (429, RateLimited),
        (500, ProviderUnavailable),
        (401, ProviderAuthError),
        (400, ProviderRejected),
    ],
)
def test_error_status_in_body(code: int, error_type: type[ProviderError]):
    with pytest.raises(error_type):
        parse_response([JANE], {"status": {"code": code, "text": "x"}, "results": {"persons": []}})


# --- V3 tolerance ----------------------------------------------------------------------------


def test_v3_persons_merge_into_one_result():
    address = person()["propertyAddress"]
    second = person(
        phoneNumbers=[{"number": "212-555-0199", "type": "Land Line"}, {"number": "5165551234"}],
        emails=[{"email": "jd@example.org"}],
    )
    item = {
        "input": {"propertyAddress": address},
        "persons": [person(), second],
        "meta": {"matched": True},
    }
    [result] = parse_response([JANE], v3(item))
    assert result.matched
    assert [p.number for p in result.phones] == ["+15165551234", "+12125550199"]
    assert [e.address for e in result.emails] == ["jane@example.com", "jd@example.org"]


def test_v3_unmatched_and_order_by_input_request_id():
    requests = [JANE, make_request(2, street="77 Elm Ave")]
    items = [
        {
            "input": {"requestId": "lead-2"},
            "persons": [],
            "meta": {"matched": False, "error": False},
        },
        {"input": {"requestId": "lead-1"}, "persons": [person()], "meta": {"matched": True}},
    ]
    results = parse_response(requests, v3(*items))
    assert [(r.lead_id, r.matched) for r in results] == [("lead-1", True), ("lead-2", False)]


def test_v3_address_mismatch_refused():
    item = {"input": {"propertyAddress": {"street": "9 Other Rd", "state": "NY"}}, "persons": []}
    with pytest.raises(MalformedResponse, match="order"):
        parse_response([JANE], v3(item))


# --- HTTP failures over the wire -------------------------------------------------------------


HTML = "<html><body><h1>502 Bad Gateway</h1>Jane Doe 1011 Rosegold St</body></html>"


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (Reply(status=200, body=HTML), (MalformedResponse, False, 200)),
        (Reply(status=502, body=HTML), (ProviderUnavailable, True, 502)),
        (Reply(status=200, body=b"{not json"), (MalformedResponse, False, 200)),
        (Reply(status=401, body={"status": {"code": 401}}), (ProviderAuthError, False, 401)),
        (Reply(status=403, body=b""), (ProviderAuthError, False, 403)),
        (Reply(status=404, body=HTML), (ProviderRejected, False, 404)),
        (Reply(status=429, body=b""), (RateLimited, True, 429)),
        (Reply(status=200, body={"status": {"code": 429}}), (RateLimited, True, 429)),
    ],
)
def test_http_failures_become_typed_errors(
    server: FakeServer,
    batchdata: BatchDataSkipTrace,
    reply: Reply,
    expected: tuple[type[ProviderError], bool, int],
):
    server.queue(reply)
    with pytest.raises(expected[0]) as caught:
        batchdata.lookup([JANE])
    error = caught.value
    _, retryable, status = expected
    assert (error.retryable, error.status_code, error.provider) == (retryable, status, "batchdata")
    text = str(error) + repr(error)
    assert TOKEN not in text and "Jane" not in text and "Rosegold" not in text


def test_429_retry_after_seconds_and_date(server: FakeServer, batchdata: BatchDataSkipTrace):
    when = format_datetime(NOW + timedelta(minutes=2), usegmt=True)
    server.queue(
        Reply(status=429, headers={"Retry-After": "2"}),
        Reply(status=429, headers={"Retry-After": when}),
    )
    retry_afters = []
    for _ in range(2):
        with pytest.raises(RateLimited) as caught:
            batchdata.lookup([JANE])
        retry_afters.append(caught.value.retry_after)
    assert retry_afters == [2.0, 120.0]


def test_timeout(wire: Wire):
    wire.server.queue(Reply(body=v1(person()), delay=5.0))
    with (
        wire.client(timeout=0.2) as client,
        pytest.raises(ProviderUnavailable) as caught,
    ):
        client.lookup([JANE])
    assert caught.value.retryable and caught.value.status_code is None


def test_connection_refused(wire: Wire):
    with (
        wire.client(url=unused_port_url() + "/mcp", timeout=2.0) as client,
        pytest.raises(ProviderUnavailable),
    ):
        client.lookup([JANE])


# --- the parser never crashes ----------------------------------------------------------------


def _only_provider_errors(payload: Any) -> None:
    requests = [JANE, make_request(2, street="77 Elm Ave")]
    try:
        results = parse_response(requests, payload)
    except ProviderError:
        return
    assert [r.lead_id for r in results] == ["lead-1", "lead-2"]


@given(json_values)
def test_any_json_is_a_result_or_a_provider_error(payload: Any):
    _only_provider_errors(payload)


@given(st.data(), json_values)
def test_mutated_documented_v1_never_crashes(data: st.DataObject, replacement: Any):
    second = person(propertyAddress={"street": "77 Elm Ave", "state": "NY"})
    _only_provider_errors(mutate(v1(person(), second), data, replacement))


@given(st.data(), json_values)
def test_mutated_documented_v3_never_crashes(data: st.DataObject, replacement: Any):
    items = [
        {"input": {"requestId": f"lead-{n}"}, "persons": [person()], "meta": {"matched": True}}
        for n in (1, 2)
    ]
    _only_provider_errors(mutate(v3(*items), data, replacement))


def test_build_request_body_has_only_documented_names():
    body = build_request_body([JANE])
    assert set(body) == {"requests", "options"}
    assert set(body["requests"][0]) == {"requestId", "propertyAddress", "name"}
    assert set(body["requests"][0]["propertyAddress"]) == {"street", "city", "state", "zip"}
