"""The webhook decoder: what it accepts it returns exactly; what it refuses it names."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from equity_connect.inbound.decode import MAX_DEPTH, MAX_INT_DIGITS, BodyError, decode_body

# Plain JSON a provider could send: no NUL, no surrogates, numbers in range.
_SAFE_TEXT = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"))
_SAFE_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _SAFE_TEXT,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(_SAFE_TEXT, inner, max_size=5),
    max_leaves=30,
)


@given(st.dictionaries(_SAFE_TEXT, _SAFE_JSON), st.booleans(), st.booleans())
def test_any_plain_object_decodes_to_itself(
    value: dict[str, Any], ascii_only: bool, bom: bool
) -> None:
    body = json.dumps(value, ensure_ascii=ascii_only).encode()
    assert decode_body(b"\xef\xbb\xbf" + body if bom else body) == value


@given(st.binary(max_size=300))
def test_arbitrary_bytes_decode_or_raise_body_error_only(body: bytes) -> None:
    try:
        result: dict[str, Any] | BodyError = decode_body(body)
    except BodyError as exc:
        result = exc
    assert isinstance(result, dict) or (result.status == 400 and result.detail)


# Text with NUL and surrogates (lone, or pairs that JSON joins into one character).
_RISKY_TEXT = st.text(
    st.sampled_from("a\x00\ud800\udfff\ud83d\ude00") | st.characters(exclude_categories=()),
    max_size=6,
)


def _expected(text: str) -> str:
    """What the decoder should make of ``text`` sent as JSON: U+FFFD for what can't be stored."""
    joined = json.loads(json.dumps(text))  # a high+low surrogate pair becomes one character
    return re.sub("[\x00\ud800-\udfff]", "\ufffd", joined)


@given(st.dictionaries(_RISKY_TEXT, st.lists(_RISKY_TEXT, max_size=3), max_size=4))
def test_nul_and_lone_surrogates_are_replaced_everywhere(value: dict[str, list[str]]) -> None:
    body = json.dumps(value).encode()
    expected = {_expected(k): [_expected(t) for t in v] for k, v in value.items()}
    if len(expected) < len(value):  # two keys that differ only in such characters
        with pytest.raises(BodyError, match="same key twice"):
            decode_body(body)
        return
    decoded = decode_body(body)
    assert decoded == expected
    json.dumps(decoded, ensure_ascii=False).encode("utf-8")  # storable: no surrogate left


def test_replacement_keeps_the_rest_of_the_string() -> None:
    body = rb'{"a\u0000": ["x\ud800y", {"k": "\udfff"}], "ok": "\ud83d\ude00"}'
    assert decode_body(body) == {"a\ufffd": ["x\ufffdy", {"k": "\ufffd"}], "ok": "😀"}


def nested(depth: int) -> bytes:
    return b'{"a":' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}"


def test_depth_limit_is_exact_and_ignores_brackets_in_strings() -> None:
    assert decode_body(nested(MAX_DEPTH))
    with pytest.raises(BodyError) as exc:
        decode_body(nested(MAX_DEPTH + 1))
    assert exc.value.code == "json_too_deep"
    assert decode_body(json.dumps({"s": "[{" * 5000, "t": '\\"[' * 100}).encode())


def test_deep_nesting_never_reaches_the_parser() -> None:
    with pytest.raises(BodyError, match="100001 levels"):
        decode_body(b"[" * 100_001 + b"]" * 100_001)


@pytest.mark.parametrize(
    ("literal", "ok"),
    [
        ("9" * MAX_INT_DIGITS, True),
        ("-" + "9" * MAX_INT_DIGITS, True),
        ("9" * (MAX_INT_DIGITS + 1), False),
        ("9" * 5000, False),  # past Python's 4,300-digit int limit
        ("1" + "0" * 49_999, False),
        ("1e308", True),
        ("1e309", False),
        ("-1e999999", False),
        ("NaN", False),
        ("Infinity", False),
        ("-Infinity", False),
        ("0." + "1" * 5000, True),  # a long fraction is still a finite double
    ],
)
def test_numbers(literal: str, ok: bool) -> None:
    body = b'{"n": ' + literal.encode() + b"}"
    if ok:
        assert "n" in decode_body(body)
    else:
        with pytest.raises(BodyError) as exc:
            decode_body(body)
        assert exc.value.code == "number_out_of_range"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"", "empty_body"),
        (b"\xef\xbb\xbf  \n", "empty_body"),
        ('{"a": 1}'.encode("utf-16"), "body_not_utf8"),
        ('{"a": 1}'.encode("utf-16-be"), "body_not_utf8"),
        ('{"a": 1}'.encode("utf-32"), "body_not_utf8"),
        (b'{"a": "\xed\xa0\x80"}', "body_not_utf8"),
        (b'{"a": "\xff"}', "body_not_utf8"),
        (b'{"a": 1, "a": 2}', "duplicate_key"),
        (b'{"a\\u0000": 1, "a\xef\xbf\xbd": 2}', "duplicate_key"),
        (b"[1]", "malformed_json"),
        (b'"s"', "malformed_json"),
        (b"{", "malformed_json"),
        (b"triggerEvent=BOOKING_CREATED", "malformed_json"),
        (b"\xef\xbb\xbf\xef\xbb\xbf{}", "malformed_json"),  # one BOM is skipped, not two
    ],
)
def test_refusals_name_their_reason(body: bytes, code: str) -> None:
    with pytest.raises(BodyError) as exc:
        decode_body(body)
    assert exc.value.code == code and exc.value.status == 400 and exc.value.detail


def test_reasons_never_quote_the_body() -> None:
    secret = "owner-ssn-123-45-6789"
    for body in (
        b'{"x": "' + secret.encode() + b'" trailing}',
        b'{"' + secret.encode() + b'": 1, "' + secret.encode() + b'": 2}',
        b'{"x": "' + secret.encode() + b'\xff"}',
    ):
        with pytest.raises(BodyError) as exc:
            decode_body(body)
        assert secret not in exc.value.detail


def test_the_depth_check_is_linear_on_an_unterminated_string_of_escaped_quotes() -> None:
    # Such a string once made the bracket scan quadratic (minutes for this body).
    body = b"[" + b"[]," * (MAX_DEPTH + 6) + b'"' + b'\\"' * 60_000
    started = time.perf_counter()
    with pytest.raises(BodyError) as exc:
        decode_body(body)
    assert exc.value.code == "malformed_json"  # not taken for nesting
    assert time.perf_counter() - started < 5
