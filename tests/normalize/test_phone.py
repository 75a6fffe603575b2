"""Phone numbers to E.164: fast NANP path, phonenumbers path, and their agreement."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from equity_connect.normalize import phone
from equity_connect.normalize.phone import is_nanp_national_number, to_e164, validate_phone


@pytest.mark.parametrize(
    "raw",
    [
        "(555) 555-0123",
        "+1 555 555 0123",
        "5555550123",
        "555-555-0123",
        "555.555.0123",
        "1 (555) 555-0123",
        "1-555-555-0123",
        "+1 (555) 555-0123",
        "+15555550123",
        "  (555)555-0123  ",
        "555-555-0123 ext. 12",
        "555/555-0123",
    ],
)
def test_us_formats_share_e164(raw: str):
    assert to_e164(raw) == "+15555550123"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("(212) 555-0199", "+12125550199"),
        ("1-800-FLOWERS", "+18003569377"),
        ("+44 20 7946 0958", "+442079460958"),
        ("+52 55 1234 5678", "+525512345678"),
    ],
)
def test_other_valid_numbers(raw: str, expected: str):
    assert to_e164(raw) == expected


def test_default_region_applies_to_national_numbers():
    assert to_e164("020 7946 0958", default_region="GB") == "+442079460958"
    assert to_e164("(416) 555-0123", default_region="CA") == "+14165550123"
    # A 10-digit number without "+" is national to the region, not NANP.
    assert to_e164("5555550123", default_region="GB") != "+15555550123"
    assert to_e164("1 555 555 0123", default_region="GB") == phone._slow("1 555 555 0123", "GB")[0]
    assert to_e164("+1 555 555 0123", default_region="GB") == "+15555550123"


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        None,
        "abc",
        "123",
        "555-0123",
        "(211) 555-0123",  # N11 service code as area code
        "(155) 555-0123",  # area code cannot start with 1
        "(055) 555-0123",
        "(555) 111-0123",  # exchange cannot start with 1
        "(555) 911-0123",  # nor be N11
        "1555550123",
        "555555012345",
        "+2 555 555 0123",
        "+44 20 7946",
        "+5555550123",
    ],
)
def test_invalid_numbers_have_reason(raw: str | None):
    value, reason = validate_phone(raw)
    assert value is None
    assert reason
    assert to_e164(raw) is None


@pytest.mark.parametrize(
    ("digits", "ok"),
    [
        ("5555550123", True),
        ("2125550199", True),
        ("1555550123", False),
        ("2115550123", False),
        ("2121110123", False),
        ("2120550123", False),
        ("212555012", False),
        ("21255501234", False),
        ("".join(chr(0xFF10 + int(c)) for c in "2125550199"), False),  # fullwidth digits
    ],
)
def test_nanp_syntax(digits: str, ok: bool):
    assert is_nanp_national_number(digits) is ok


nanp_digits = st.from_regex(r"[0-9]{10}", fullmatch=True)
separators = st.sampled_from(["", " ", "-", ".", "  "])


@st.composite
def formatted_nanp(draw: st.DrawFn) -> tuple[str, str]:
    d = draw(nanp_digits)
    sep1, sep2 = draw(separators), draw(separators)
    area = draw(st.sampled_from([d[:3], f"({d[:3]})", f"({d[:3]}) "]))
    prefix = draw(st.sampled_from(["", "1", "1 ", "1-", "+1", "+1 ", "+1-"]))
    return d, f"{prefix}{area}{sep1}{d[3:6]}{sep2}{d[6:]}"


@settings(max_examples=400)
@given(formatted_nanp(), st.sampled_from(["US", "CA", "PR", "GB", "DE"]))
def test_fast_path_agrees_with_phonenumbers(case: tuple[str, str], region: str) -> None:
    digits, raw = case
    fast = validate_phone(raw, region)[0]
    assert fast == phone._slow(raw, region)[0]
    if region in {"US", "CA", "PR"} or raw.startswith("+"):
        assert fast == (f"+1{digits}" if is_nanp_national_number(digits) else None)


@given(st.text(max_size=40))
def test_never_raises_and_returns_e164(raw: str) -> None:
    value, reason = validate_phone(raw)
    assert (value is None) != (reason is None)
    if value is not None:
        assert value.startswith("+")
        assert value[1:].isdigit()
        assert value.isascii()
