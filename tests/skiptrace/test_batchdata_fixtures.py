"""BatchData against the fixtures in ``tests/fixtures/providers/batchdata/`` (see SOURCE.md).

A ``null`` in place of a no-match row is that row's no-match, by position; it no longer fails
the whole paid batch.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from equity_connect.outbound import MalformedResponse
from equity_connect.skiptrace import PhoneType, SkipTraceRequest
from equity_connect.skiptrace.batchdata import build_request_body, parse_response
from tests.outbound.fakeserver import Reply
from tests.skiptrace.conftest import Wire

FIXTURES = Path(__file__).parents[1] / "fixtures/providers/batchdata"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def requests() -> list[SkipTraceRequest]:
    """The three requests of ``v1_skip_trace_request.json``."""
    body = fixture("v1_skip_trace_request.json")
    out = []
    for item in body["requests"]:
        address, name = item["propertyAddress"], item.get("name", {})
        out.append(
            SkipTraceRequest(
                lead_id=item["requestId"],
                first_name=name.get("first"),
                last_name=name.get("last"),
                street=address["street"],
                city=address["city"],
                state=address["state"],
                zip5=address["zip"],
            )
        )
    return out


def test_the_request_body_is_the_documented_one() -> None:
    assert build_request_body(requests()) == fixture("v1_skip_trace_request.json")


def test_a_null_v1_entry_is_that_rows_no_match_over_the_wire(wire: Wire) -> None:
    """Over REST and through BatchData's MCP transport alike."""
    wire.server.queue(Reply(body=fixture("v1_skip_trace_response_null_no_match.json")))
    with wire.client("bd-token", timeout=2.0) as client:
        jane, nobody, mary = client.lookup(requests())
    [sent] = wire.server.requests
    assert (sent.method, sent.path) == wire.endpoint
    assert sent.json() == fixture("v1_skip_trace_request.json")

    assert jane.lead_id == "lead-1" and jane.matched
    assert [(p.number, p.type, p.dnc) for p in jane.phones] == [
        ("+15165551234", PhoneType.MOBILE, False)
    ]
    assert [e.address for e in jane.emails] == ["jane@example.com"]

    assert nobody.lead_id == "lead-2"
    assert not nobody.matched and nobody.phones == [] and nobody.emails == []
    assert nobody.result_codes == []  # a no-match, not an error

    # The row after the null keeps its own contacts (positions did not shift).
    assert mary.lead_id == "lead-3" and mary.matched
    assert [(p.number, p.type, p.dnc) for p in mary.phones] == [
        ("+15165550199", PhoneType.LANDLINE, True)
    ]


def test_a_null_v3_entry_is_that_rows_no_match() -> None:
    jane, nobody, empty = parse_response(
        requests(), fixture("v3_skip_trace_response_null_no_match.json")
    )
    assert jane.matched and [p.number for p in jane.phones] == ["+15165551234"]
    assert (nobody.lead_id, nobody.matched) == ("lead-2", False)
    assert (empty.lead_id, empty.matched) == ("lead-3", False)


def test_nulls_still_need_one_entry_per_request() -> None:
    body = fixture("v1_skip_trace_response_null_no_match.json")
    body["results"]["persons"].pop()  # two entries for three requests: positions unknowable
    with pytest.raises(MalformedResponse, match="result count"):
        parse_response(requests(), body)


def test_a_shifted_entry_after_a_null_is_still_refused() -> None:
    body = fixture("v1_skip_trace_response_null_no_match.json")
    persons = body["results"]["persons"]
    persons[1], persons[2] = persons[2], None  # Mary's row moved up into lead-2's place
    with pytest.raises(MalformedResponse, match="out of request order"):
        parse_response(requests(), body)


def test_every_entry_null_is_every_row_unmatched() -> None:
    body = {"status": {"code": 200, "text": "OK"}, "results": {"persons": [None, None, None]}}
    assert [r.matched for r in parse_response(requests(), body)] == [False, False, False]
