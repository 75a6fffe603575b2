"""Melissa Personator Consumer client against a real local HTTP server.

Payloads replay provider-formats.md §1, then break it: missing fields, wrong types, HTML,
invalid JSON, timeouts, 429s, auth failures, transmission error codes.
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
    ProviderFailure,
    ProviderRejected,
    ProviderUnavailable,
    RateLimited,
)
from equity_connect.skiptrace import (
    MelissaPersonator,
    PhoneType,
    SkipTraceProvider,
    SkipTraceRequest,
)
from equity_connect.skiptrace.melissa import (
    BATCH_PATH,
    BATCH_PATH_SHORT,
    build_request_body,
    parse_response,
)
from tests.outbound.fakeserver import FakeServer, Recorded, Reply, unused_port_url
from tests.skiptrace.helpers import json_values, make_request, make_requests, mutate

LICENSE = "LICENSE-s3cr3t-0001"
NOW = datetime(2024, 11, 6, 12, 0, tzinfo=UTC)

RECORD_FIELDS = {
    "RecordID",
    "FullName",
    "AddressLine1",
    "City",
    "State",
    "PostalCode",
    "EmailAddress",
    "PhoneNumber",
    "MelissaAddressKey",
}

RAY = SkipTraceRequest(
    lead_id="1",
    first_name="Ray",
    last_name="Melissa",
    street="22382 Avenida Empresa",
    city="Rancho Santa Margarita",
    state="CA",
    zip5="92688",
)


def documented_response(**record: Any) -> dict[str, Any]:
    """The §1 response, with concrete values where the doc shows "..."."""
    base = {
        "RecordID": "1",
        "Results": "AS01,ES01,PS01,PS07",
        "AddressLine1": "22382 Avenida Empresa",
        "City": "Rancho Santa Margarita",
        "State": "CA",
        "PostalCode": "92688",
        "EmailAddress": "Ray.Melissa@Example.COM",
        "PhoneNumber": "(949) 555-0142",
        "MelissaAddressKey": "8008006244",
        "MelissaAddressKeyBase": "",
    }
    base.update(record)
    return {
        "Version": "x",
        "TransmissionReference": "t1",
        "TransmissionResults": "",
        "TotalRecords": "1",
        "Records": [base],
    }


def echo_responder(reverse: bool = True) -> Any:
    """Answer any batch with one verified record per RecordID (reversed, to test mapping)."""

    def respond(request: Recorded) -> Reply:
        ids = [record["RecordID"] for record in request.json()["Records"]]
        records = [
            {"RecordID": i, "Results": "AS01", "MelissaAddressKey": f"9{i[-3:]}"} for i in ids
        ]
        if reverse:
            records.reverse()
        return Reply(
            body={"TransmissionResults": "", "TotalRecords": str(len(ids)), "Records": records}
        )

    return respond


@pytest.fixture
def melissa(server: FakeServer) -> Iterator[MelissaPersonator]:
    client = MelissaPersonator(LICENSE, base_url=server.url, timeout=2.0, clock=lambda: NOW)
    with client:
        yield client


# --- the documented exchange -----------------------------------------------------------------


@pytest.mark.parametrize("path", [BATCH_PATH, BATCH_PATH_SHORT])
def test_documented_request_and_response_on_both_batch_urls(server: FakeServer, path: str):
    server.queue(Reply(body=documented_response()))
    with MelissaPersonator(LICENSE, base_url=server.url + "/", path=path) as client:
        [result] = client.lookup([RAY])

    [sent] = server.requests
    assert (sent.method, sent.path) == ("POST", path)
    assert sent.headers["accept"] == "application/json"
    assert sent.headers["content-type"] == "application/json"
    body = sent.json()
    assert set(body) == {
        "TransmissionReference",
        "CustomerID",
        "Actions",
        "Columns",
        "Options",
        "Records",
    }
    assert body["CustomerID"] == LICENSE
    assert body["Actions"] == "Check,Verify,Append"
    assert body["Columns"] == "GrpAddressDetails"
    assert body["Records"] == [
        {
            "RecordID": "1",
            "FullName": "Ray Melissa",
            "AddressLine1": "22382 Avenida Empresa",
            "City": "Rancho Santa Margarita",
            "State": "CA",
            "PostalCode": "92688",
            "EmailAddress": "",
            "PhoneNumber": "",
            "MelissaAddressKey": "",
        }
    ]
    assert "MelissaAddresKey" not in sent.body.decode()

    assert result.provider == "melissa" and result.lead_id == "1"
    assert result.matched
    assert result.mak == "8008006244"
    assert result.result_codes == ["AS01", "ES01", "PS01", "PS07"]
    [email] = result.emails
    assert (email.address, email.codes) == ("ray.melissa@example.com", ["ES01"])
    [phone] = result.phones
    assert (phone.number, phone.type, phone.codes) == (
        "+19495550142",
        PhoneType.MOBILE,
        ["PS01", "PS07"],
    )
    assert phone.dnc is None and phone.score is None
    assert result.raw["MelissaAddressKey"] == "8008006244"


def test_known_contacts_and_mak_are_sent(server: FakeServer, melissa: MelissaPersonator):
    server.queue(Reply(body=documented_response(RecordID="lead-1")))
    request = make_request(1, mak="8008006244", email="jane@example.com", phone="5165551234")
    melissa.lookup([request])
    [record] = server.requests[0].json()["Records"]
    assert set(record) == RECORD_FIELDS
    assert record["MelissaAddressKey"] == "8008006244"
    assert record["EmailAddress"] == "jane@example.com"
    assert record["PhoneNumber"] == "5165551234"


def test_batches_split_at_max_batch_and_map_by_record_id(server: FakeServer):
    server.respond = echo_responder(reverse=True)
    requests = make_requests(250)
    with MelissaPersonator(LICENSE, base_url=server.url) as client:
        results = client.lookup(requests)
    assert [len(r.json()["Records"]) for r in server.requests] == [100, 100, 50]
    assert [r.lead_id for r in results] == [r.lead_id for r in requests]
    assert all(r.matched and r.mak == f"9{r.lead_id[-3:]}" for r in results)
    references = {r.json()["TransmissionReference"] for r in server.requests}
    assert len(references) == 3 and all(references)


def test_smaller_max_batch(server: FakeServer):
    server.respond = echo_responder()
    with MelissaPersonator(LICENSE, base_url=server.url, max_batch=2) as client:
        assert len(client.lookup(make_requests(5))) == 5
    assert [len(r.json()["Records"]) for r in server.requests] == [2, 2, 1]


@pytest.mark.parametrize("max_batch", [0, 101])
def test_max_batch_bounds(max_batch: int):
    with pytest.raises(ValueError, match="max_batch"):
        MelissaPersonator(LICENSE, max_batch=max_batch)


def test_no_requests_no_call(server: FakeServer, melissa: MelissaPersonator):
    assert melissa.lookup([]) == []
    assert server.requests == []


def test_duplicate_lead_ids_refused(server: FakeServer, melissa: MelissaPersonator):
    with pytest.raises(ValueError, match="duplicate"):
        melissa.lookup([make_request(1), make_request(1)])
    assert server.requests == []


def test_is_a_skiptrace_provider():
    with MelissaPersonator(LICENSE) as client:
        assert isinstance(client, SkipTraceProvider)
        assert client.name == "melissa" and client.max_batch == 100
        assert LICENSE not in repr(client)


# --- record parsing --------------------------------------------------------------------------


def test_record_with_only_an_id_is_unmatched():
    [result] = parse_response([RAY], {"TransmissionResults": "", "Records": [{"RecordID": "1"}]})
    assert not result.matched
    assert (result.mak, result.phones, result.emails, result.result_codes) == (None, [], [], [])


def test_missing_transmission_results_and_string_counts():
    payload = documented_response()
    del payload["TransmissionResults"]
    payload["TotalRecords"] = "1"
    assert parse_response([RAY], payload)[0].matched


def test_unverified_address_with_appended_phone_is_matched():
    payload = documented_response(Results="AE01,PS01,PS08", EmailAddress="")
    [result] = parse_response([RAY], payload)
    assert result.matched and result.emails == []
    assert result.phones[0].type is PhoneType.LANDLINE


def test_echoed_contacts_are_not_an_append():
    request = make_request(1, email="ray.melissa@example.com", phone="949-555-0142")
    payload = documented_response(RecordID="lead-1", Results="AE02,ES01,PS01")
    [result] = parse_response([request], payload)
    assert not result.matched
    assert len(result.emails) == 1 and len(result.phones) == 1


def test_invalid_contacts_are_dropped_codes_kept():
    payload = documented_response(
        Results="AS01,EE01,PE01", EmailAddress="not an email", PhoneNumber="555-01"
    )
    [result] = parse_response([RAY], payload)
    assert result.phones == [] and result.emails == []
    assert result.result_codes == ["AS01", "EE01", "PE01"]
    assert result.matched


def test_codes_are_trimmed_and_uppercased():
    [result] = parse_response([RAY], documented_response(Results=" as01 , ,es01,"))
    assert result.result_codes == ["AS01", "ES01"]


def test_wrong_typed_leaves_read_as_absent():
    payload = documented_response(
        Results=12, EmailAddress=["x"], PhoneNumber={"n": 1}, MelissaAddressKey=True
    )
    [result] = parse_response([RAY], payload)
    assert (result.matched, result.mak, result.phones, result.emails) == (False, None, [], [])


def test_numeric_ids_and_keys_are_accepted():
    payload = documented_response(RecordID=1, MelissaAddressKey=8008006244, PhoneNumber=9495550142)
    [result] = parse_response([RAY], payload)
    assert result.mak == "8008006244"
    assert result.phones[0].number == "+19495550142"


def test_records_in_another_order_map_by_record_id():
    requests = make_requests(3)
    records = [
        {"RecordID": "lead-3", "Results": "AE01"},
        {"RecordID": "lead-1", "Results": "AS01"},
        {"RecordID": "lead-2", "Results": "AS02"},
    ]
    results = parse_response(requests, {"TransmissionResults": "", "Records": records})
    assert [(r.lead_id, r.matched) for r in results] == [
        ("lead-1", True),
        ("lead-2", True),
        ("lead-3", False),
    ]


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ([], "body is not a JSON object"),
        ("Records", "body is not a JSON object"),
        ({"TransmissionResults": ""}, "Records missing or not a list"),
        ({"Records": {"RecordID": "1"}}, "Records missing or not a list"),
        ({"Records": ["1"]}, "record is not an object"),
        ({"Records": [{"Results": "AS01"}]}, "record without RecordID"),
        ({"Records": [{"RecordID": ""}]}, "record without RecordID"),
        ({"Records": [{"RecordID": None}]}, "record without RecordID"),
        ({"Records": []}, "a request has no record in the response"),
        ({"Records": [{"RecordID": "1"}, {"RecordID": "1"}]}, "duplicate RecordID"),
        ({"Records": [{"RecordID": "1"}, {"RecordID": "2"}]}, "a record answers no request"),
        ({"TransmissionResults": ["GE05"], "Records": []}, "TransmissionResults is not a string"),
    ],
)
def test_malformed_structure(payload: Any, reason: str):
    with pytest.raises(MalformedResponse) as caught:
        parse_response([RAY], payload)
    assert caught.value.reason == reason
    assert not caught.value.retryable


@pytest.mark.parametrize(
    ("transmission", "codes", "retryable"),
    [
        ("GE03", ("GE03",), False),
        ("GE04", ("GE04",), False),
        ("GE05", ("GE05",), False),
        ("GE06", ("GE06",), False),
        ("GE14", ("GE14",), False),
        ("SE01", ("SE01",), True),
        ("ge05, SE01", ("GE05", "SE01"), False),
        ("XX99", ("XX99",), False),
    ],
)
def test_transmission_results_fail_the_call(
    server: FakeServer,
    melissa: MelissaPersonator,
    transmission: str,
    codes: tuple[str, ...],
    retryable: bool,
):
    server.queue(Reply(body={"TransmissionResults": transmission, "Records": []}))
    with pytest.raises(ProviderFailure) as caught:
        melissa.lookup([RAY])
    assert caught.value.codes == codes
    assert caught.value.retryable is retryable
    assert caught.value.provider == "melissa"
    assert LICENSE not in str(caught.value) + repr(caught.value)


# --- HTTP failures over the wire -------------------------------------------------------------


HTML = "<!DOCTYPE html><html><head><title>Error</title></head><body>Ray Melissa</body></html>"


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (Reply(status=200, body=HTML), (MalformedResponse, False, 200)),
        (Reply(status=502, body=HTML), (ProviderUnavailable, True, 502)),
        (
            Reply(status=200, body=b'{"Records": [{"RecordID": "1",'),
            (MalformedResponse, False, 200),
        ),
        (Reply(status=200, body=b""), (MalformedResponse, False, 200)),
        (Reply(status=500, body={"error": "x"}), (ProviderUnavailable, True, 500)),
        (Reply(status=503, body=b""), (ProviderUnavailable, True, 503)),
        (Reply(status=401, body={"error": "bad license"}), (ProviderAuthError, False, 401)),
        (Reply(status=403, body=HTML), (ProviderAuthError, False, 403)),
        (Reply(status=404, body=HTML), (ProviderRejected, False, 404)),
        (Reply(status=400, body=b"bad"), (ProviderRejected, False, 400)),
        (Reply(status=429, body=b""), (RateLimited, True, 429)),
    ],
)
def test_http_failures_become_typed_errors(
    server: FakeServer,
    melissa: MelissaPersonator,
    reply: Reply,
    expected: tuple[type[ProviderError], bool, int],
):
    server.queue(reply)
    with pytest.raises(expected[0]) as caught:
        melissa.lookup([RAY])
    error = caught.value
    _, retryable, status = expected
    assert (error.retryable, error.status_code, error.provider) == (retryable, status, "melissa")
    text = str(error) + repr(error) + error.reason
    assert LICENSE not in text and "Ray" not in text and "Empresa" not in text


def test_429_retry_after_seconds(server: FakeServer, melissa: MelissaPersonator):
    server.queue(Reply(status=429, headers={"Retry-After": "2"}))
    with pytest.raises(RateLimited) as caught:
        melissa.lookup([RAY])
    assert caught.value.retry_after == 2.0


def test_429_retry_after_http_date(server: FakeServer, melissa: MelissaPersonator):
    when = format_datetime(NOW + timedelta(seconds=45), usegmt=True)
    server.queue(Reply(status=429, headers={"Retry-After": when}))
    with pytest.raises(RateLimited) as caught:
        melissa.lookup([RAY])
    assert caught.value.retry_after == 45.0


def test_timeout(server: FakeServer):
    server.queue(Reply(body=documented_response(), delay=5.0))
    with (
        MelissaPersonator(LICENSE, base_url=server.url, timeout=0.2) as client,
        pytest.raises(ProviderUnavailable) as caught,
    ):
        client.lookup([RAY])
    assert caught.value.retryable and caught.value.status_code is None


def test_connection_refused():
    with (
        MelissaPersonator(LICENSE, base_url=unused_port_url(), timeout=2.0) as client,
        pytest.raises(ProviderUnavailable),
    ):
        client.lookup([RAY])


# --- the parser never crashes ----------------------------------------------------------------


def _only_provider_errors(payload: Any, requests: list[SkipTraceRequest]) -> None:
    try:
        results = parse_response(requests, payload)
    except ProviderError:
        return
    assert [r.lead_id for r in results] == [r.lead_id for r in requests]


@given(json_values)
def test_any_json_is_a_result_or_a_provider_error(payload: Any):
    _only_provider_errors(payload, [RAY])


@given(st.data(), json_values)
def test_mutated_documented_payload_never_crashes(data: st.DataObject, replacement: Any):
    _only_provider_errors(mutate(documented_response(), data, replacement), [RAY])


def test_build_request_body_for_a_nameless_owner():
    body = build_request_body(
        [make_request(1, first_name=None, last_name=None)],
        license_key=LICENSE,
        actions="Check",
        columns="",
    )
    assert body["Records"][0]["FullName"] == ""
