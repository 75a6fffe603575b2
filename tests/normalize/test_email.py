"""Email normalization: lowercase, syntax only, fast regex consistent with email-validator."""

from __future__ import annotations

import pytest
from email_validator import EmailNotValidError
from email_validator import validate_email as reference_validate
from hypothesis import given, settings
from hypothesis import strategies as st

from equity_connect.normalize import email
from equity_connect.normalize.email import normalize_email, validate_email


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("john.smith@example.com", "john.smith@example.com"),
        ("  John.Smith@Example.COM  ", "john.smith@example.com"),
        ("JAMES.SMITH12@EXAMPLE.COM", "james.smith12@example.com"),
        ("a+tag@sub.example.co.uk", "a+tag@sub.example.co.uk"),
        ("o'brien@example.com", "o'brien@example.com"),
        ("x@a.io", "x@a.io"),
        ("a@x.c", "a@x.c"),  # single-letter TLD: not fast-path, email-validator accepts
        ("user@xn--bcher-kva.com", "user@bücher.com"),
        ("User@BÜCHER.com", "user@bücher.com"),
        ("José@example.com", "josé@example.com"),
    ],
)
def test_valid(raw: str, expected: str):
    assert normalize_email(raw) == expected
    assert validate_email(raw) == (expected, None)


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        None,
        "no-at-sign",
        "a@b",
        "@example.com",
        "a@",
        "a..b@example.com",
        ".a@example.com",
        "a.@example.com",
        "a@-example.com",
        "a@example-.com",
        "a@example..com",
        "a@example.com.",
        "a@example.c0m1",
        "a@x.test",
        "a@localhost",
        "a@printer.local",
        "a b@example.com",
        '"a b"@example.com',
        "a@[127.0.0.1]",
        "John <john@example.com>",
        "a@ab--cd.com",
        "a@xn--zz.com",
        "a" * 250 + "@example.com",
    ],
)
def test_invalid_with_reason(raw: str | None):
    value, reason = validate_email(raw)
    assert value is None
    assert reason
    assert normalize_email(raw) is None


def _reference(address: str) -> str | None:
    try:
        result = reference_validate(
            address,
            check_deliverability=False,
            allow_quoted_local=False,
            allow_domain_literal=False,
            allow_display_name=False,
        )
    except EmailNotValidError:
        return None
    return result.normalized


@settings(max_examples=300)
@given(st.emails() | st.text(alphabet="abcXYZ019.-_+@", max_size=30))
def test_fast_accept_implies_email_validator_accepts_unchanged(raw: str) -> None:
    address = raw.strip().lower()
    if email._fast_accept(address):
        assert _reference(address) == address


@settings(max_examples=300)
@given(st.emails())
def test_matches_email_validator_verdict_lowercased(raw: str) -> None:
    reference = _reference(raw.strip().lower())
    assert normalize_email(raw) == (None if reference is None else reference.lower())


@given(st.text(max_size=60))
def test_never_raises(raw: str) -> None:
    value, reason = validate_email(raw)
    assert (value is None) != (reason is None)
    if value is not None:
        assert value == value.lower()
        assert "@" in value
