"""Skip-trace types: PII stays out of repr, phone labels map, batches split."""

from __future__ import annotations

import pytest

from equity_connect.skiptrace import (
    EmailResult,
    PhoneResult,
    PhoneType,
    SkipTraceResult,
    split_batches,
)
from tests.skiptrace.helpers import make_request, make_requests


def test_repr_hides_pii():
    request = make_request(1, email="jane@example.com", phone="5165551234", mak="8008006244")
    text = repr(request)
    assert "lead-1" in text and "8008006244" in text
    for pii in ("Jane", "Doe", "Rosegold", "Franklin", "11010", "jane@", "5165551234"):
        assert pii not in text
    result = SkipTraceResult(
        provider="p",
        lead_id="lead-1",
        matched=True,
        phones=[PhoneResult(number="+15165551234", codes=["PS01"])],
        emails=[EmailResult(address="jane@example.com", codes=["ES01"])],
        raw={"EmailAddress": "jane@example.com"},
    )
    assert "5165551234" not in repr(result) and "jane@" not in repr(result)
    assert "PS01" in repr(result)


def test_full_name():
    assert make_request(1).full_name == "Jane Doe"
    assert make_request(1, first_name=None).full_name == "Doe"
    assert make_request(1, first_name=None, last_name=None).full_name == ""


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("Mobile", PhoneType.MOBILE),
        ("WIRELESS", PhoneType.MOBILE),
        ("Cell", PhoneType.MOBILE),
        ("Land Line", PhoneType.LANDLINE),
        ("landline", PhoneType.LANDLINE),
        ("LandLine", PhoneType.LANDLINE),
        ("Non-Fixed VoIP", PhoneType.VOIP),
        ("VOIP", PhoneType.VOIP),
        ("pager", PhoneType.UNKNOWN),
        ("", PhoneType.UNKNOWN),
        (None, PhoneType.UNKNOWN),
    ],
)
def test_phone_type_labels(label: str | None, expected: PhoneType):
    assert PhoneType.from_text(label) is expected


def test_split_batches():
    requests = make_requests(7)
    assert [len(b) for b in split_batches(requests, 3)] == [3, 3, 1]
    assert list(split_batches([], 3)) == []
    with pytest.raises(ValueError, match="batch size"):
        list(split_batches(requests, 0))
    with pytest.raises(ValueError, match="duplicate"):
        list(split_batches([*requests, requests[0]], 3))
