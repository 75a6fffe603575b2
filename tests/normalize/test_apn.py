"""APN normalization: formatting-insensitive, uppercase, letters and digits only."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from equity_connect.normalize.apn import normalize_apn


@pytest.mark.parametrize(
    "raw", ["1234-567-001", "1234567001", " 1234 567 001 ", "1234.567.001", "1234/567-001"]
)
def test_formats_are_equal(raw: str):
    assert normalize_apn(raw) == "1234567001"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ab-12-c", "AB12C"),
        ("R0123-45", "R012345"),
        ("0012-345", "0012345"),
        ("", None),
        ("   ", None),
        ("--..//", None),
        (None, None),
    ],
)
def test_values(raw: str | None, expected: str | None):
    assert normalize_apn(raw) == expected


apn_parts = st.lists(st.from_regex(r"[0-9A-Za-z]{1,5}", fullmatch=True), min_size=1, max_size=5)


@given(apn_parts, st.lists(st.sampled_from(["-", " ", ".", "", "/", "  "]), min_size=5, max_size=5))
def test_separator_insensitive(parts: list[str], seps: list[str]) -> None:
    joined = "".join(p + s for p, s in zip(parts, seps, strict=False))
    assert normalize_apn(joined) == "".join(parts).upper()


@given(st.text(max_size=30))
def test_output_shape_and_idempotent(raw: str) -> None:
    apn = normalize_apn(raw)
    if apn is not None:
        assert apn.isascii()
        assert apn.isalnum()
        assert apn == apn.upper()
        assert normalize_apn(apn) == apn
