"""Retry policy: Retry-After parsing, full-jitter backoff, and HTTP/transport classification."""

from __future__ import annotations

import contextlib
import math
import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from equity_connect.outbound import (
    DEFAULT_MAX_RETRY_AFTER,
    MalformedResponse,
    ProviderAuthError,
    ProviderError,
    ProviderFailure,
    ProviderRejected,
    ProviderUnavailable,
    RateLimited,
    backoff_delay,
    classify_response,
    classify_transport_error,
    decode_json,
    next_delay,
    parse_retry_after,
)
from tests.outbound.fakeserver import FakeServer, Reply, unused_port_url

NOW = datetime(2024, 11, 6, 8, 49, 37, tzinfo=UTC)


# --- parse_retry_after -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [("2", 2.0), ("0", 0.0), (" 120 ", 120.0), ("007", 7.0), ("86400", 86400.0)],
)
def test_retry_after_delta_seconds(value: str, expected: float):
    assert parse_retry_after(value, NOW) == expected


@pytest.mark.parametrize(
    "value",
    [
        "Wed, 06 Nov 2024 08:51:37 GMT",  # IMF-fixdate
        "Wednesday, 06-Nov-24 08:51:37 GMT",  # obsolete RFC 850
        "Wed Nov  6 08:51:37 2024",  # obsolete asctime (no zone: GMT)
    ],
)
def test_retry_after_http_date_forms(value: str):
    assert parse_retry_after(value, NOW) == 120.0


def test_retry_after_date_with_offset_and_naive_now():
    assert parse_retry_after("Wed, 06 Nov 2024 10:51:37 +0200", NOW) == 120.0
    assert parse_retry_after("Wed, 06 Nov 2024 08:51:37 GMT", NOW.replace(tzinfo=None)) == 120.0


def test_retry_after_past_date_is_zero():
    assert parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", NOW) == 0.0


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "   ",
        "soon",
        "-5",
        "+5",
        "1.5",
        "2 s",
        "²",
        "٣",
        "Wed, 32 Nov 2024 08:51:37 GMT",
        "Wed, 06 Foo 2024 08:51:37 GMT",
        "Wed, 06 Nov 2024 25:61:37 GMT",
    ],
)
def test_retry_after_garbage_is_none(value: str | None):
    assert parse_retry_after(value, NOW) is None


def test_retry_after_huge_delta_is_clamped_not_crashing():
    assert parse_retry_after("9" * 5000, NOW) == float(2**31)
    assert parse_retry_after("99999999999", NOW) == float(2**31)


@given(st.text())
def test_retry_after_never_crashes(value: str):
    seconds = parse_retry_after(value, NOW)
    assert seconds is None or (math.isfinite(seconds) and seconds >= 0)


@given(st.integers(min_value=0, max_value=10**12))
def test_retry_after_any_delta_seconds(delta: int):
    assert parse_retry_after(str(delta), NOW) == float(min(delta, 2**31))


@given(st.integers(min_value=-(10**9), max_value=10**9))
def test_retry_after_any_http_date(offset: int):
    when = NOW + timedelta(seconds=offset)
    assert parse_retry_after(format_datetime(when, usegmt=True), NOW) == max(0.0, float(offset))


# --- backoff_delay ---------------------------------------------------------------------------


def test_backoff_10k_samples_within_cap_and_varied():
    rng = random.Random(1234)
    base, cap = 0.5, 30.0
    samples = [backoff_delay(n % 16, base=base, cap=cap, rng=rng) for n in range(10_000)]
    assert all(0.0 <= s <= cap for s in samples)
    assert all(s <= min(cap, base * 2 ** (n % 16)) for n, s in enumerate(samples)), (
        "a sample exceeded min(cap, base * 2**attempt)"
    )
    assert len(set(samples)) > 9_000
    # Full jitter: the capped window is used from bottom to top.
    late = [s for n, s in enumerate(samples) if n % 16 >= 8]
    assert min(late) < cap * 0.05 and max(late) > cap * 0.95


@given(
    attempt=st.integers(min_value=0, max_value=100_000),
    base=st.floats(min_value=0, max_value=1e6),
    cap=st.floats(min_value=0, max_value=1e6),
    seed=st.integers(),
)
def test_backoff_bound_for_any_attempt(attempt: int, base: float, cap: float, seed: int):
    delay = backoff_delay(attempt, base=base, cap=cap, rng=random.Random(seed))
    assert 0.0 <= delay <= cap
    if attempt < 64:
        assert delay <= base * 2**attempt


@pytest.mark.parametrize(
    ("attempt", "base", "cap"),
    [(-1, 1.0, 10.0), (0, -1.0, 10.0), (0, 1.0, -1.0), (0, math.inf, 10.0), (0, 1.0, math.nan)],
)
def test_backoff_rejects_bad_arguments(attempt: int, base: float, cap: float):
    with pytest.raises(ValueError, match="must be"):
        backoff_delay(attempt, base=base, cap=cap, rng=random.Random(0))


# --- next_delay ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [
        ProviderRejected("p", "request rejected", status_code=400),
        ProviderAuthError("p", "credentials rejected", status_code=401),
        MalformedResponse("p", "invalid JSON", status_code=200),
        ProviderFailure("p", ("GE05",), retryable=False),
    ],
)
def test_next_delay_none_when_not_retryable(error: ProviderError):
    assert next_delay(error, 0, base=1.0, cap=60.0, rng=random.Random(0)) is None


@pytest.mark.parametrize("retry_after", [0.0, 2.0, 7.0, 120.0])
def test_next_delay_never_sooner_than_retry_after(retry_after: float):
    rng = random.Random(7)
    error = RateLimited("p", "rate limited", status_code=429, retry_after=retry_after)
    for attempt in range(200):
        delay = next_delay(error, attempt % 10, base=1.0, cap=60.0, rng=rng)
        assert delay is not None
        assert retry_after <= delay <= retry_after + 1.0


def test_next_delay_retry_after_beats_a_smaller_cap():
    error = RateLimited("p", "rate limited", status_code=429, retry_after=300.0)
    delay = next_delay(error, 0, base=1.0, cap=10.0, rng=random.Random(0))
    assert delay is not None and delay >= 300.0


def test_next_delay_absurd_retry_after_is_clamped():
    error = ProviderUnavailable("p", "provider unavailable", status_code=503, retry_after=1e9)
    assert next_delay(error, 0, base=1.0, cap=60.0, rng=random.Random(0)) == (
        DEFAULT_MAX_RETRY_AFTER
    )
    assert next_delay(error, 0, base=1.0, cap=60.0, rng=random.Random(0), max_retry_after=5.0) == (
        5.0
    )


def test_next_delay_without_retry_after_is_backoff():
    error = ProviderUnavailable("p", "timeout (ReadTimeout)")
    retryable_code = ProviderFailure("p", ("SE01",), retryable=True)
    for attempt in range(12):
        for err in (error, retryable_code):
            delay = next_delay(err, attempt, base=0.5, cap=30.0, rng=random.Random(attempt))
            assert delay is not None
            assert 0.0 <= delay <= min(30.0, 0.5 * 2**attempt)


# --- classify_response -----------------------------------------------------------------------


def _response(status: int, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, headers=headers, content=b"<html>oops</html>")


@pytest.mark.parametrize("status", [200, 201, 204])
def test_classify_success_is_none(status: int):
    assert classify_response("p", _response(status), NOW) is None


def test_classify_429_with_delta_seconds():
    error = classify_response("p", _response(429, {"Retry-After": "2"}), NOW)
    assert isinstance(error, RateLimited)
    assert (error.status_code, error.retryable, error.retry_after) == (429, True, 2.0)


def test_classify_429_with_http_date():
    when = format_datetime(NOW + timedelta(seconds=90), usegmt=True)
    error = classify_response("p", _response(429, {"Retry-After": when}), NOW)
    assert isinstance(error, RateLimited)
    assert error.retry_after == 90.0


def test_classify_429_with_garbage_retry_after():
    error = classify_response("p", _response(429, {"Retry-After": "later"}), NOW)
    assert isinstance(error, RateLimited)
    assert error.retry_after is None


@pytest.mark.parametrize("status", [408, 500, 502, 503, 504, 599])
def test_classify_unavailable(status: int):
    error = classify_response("p", _response(status, {"Retry-After": "30"}), NOW)
    assert isinstance(error, ProviderUnavailable)
    assert error.retryable and error.retry_after == 30.0 and error.status_code == status


@pytest.mark.parametrize("status", [401, 403])
def test_classify_auth(status: int):
    error = classify_response("p", _response(status), NOW)
    assert isinstance(error, ProviderAuthError) and isinstance(error, ProviderRejected)
    assert not error.retryable


@pytest.mark.parametrize("status", [400, 404, 405, 409, 413, 422, 301, 302, 100])
def test_classify_rejected(status: int):
    error = classify_response("p", _response(status), NOW)
    assert type(error) is ProviderRejected
    assert not error.retryable and error.status_code == status


def test_error_text_has_no_body_or_url():
    error = classify_response("acme", _response(502), NOW)
    assert error is not None
    assert str(error) == "acme: provider unavailable (HTTP 502)"
    assert "html" not in repr(error) and "oops" not in repr(error)


# --- decode_json -----------------------------------------------------------------------------


def test_decode_json_ok():
    assert decode_json("p", httpx.Response(200, content=b'{"a": [1]}')) == {"a": [1]}


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"<!DOCTYPE html><html><body>502 Bad Gateway</body></html>", "HTML instead of JSON"),
        (b"  <html>", "HTML instead of JSON"),
        (b'{"Records": [', "invalid JSON"),
        (b"", "invalid JSON"),
        (b"\xff\xfe\x00garbage", "invalid JSON"),
        (b"[" * 100_000, "invalid JSON"),
    ],
)
def test_decode_json_malformed(content: bytes, reason: str):
    with pytest.raises(MalformedResponse) as caught:
        decode_json("p", httpx.Response(200, content=content))
    assert caught.value.reason == reason
    assert not caught.value.retryable and caught.value.status_code == 200


@given(st.binary())
def test_decode_json_never_crashes(content: bytes):
    with contextlib.suppress(MalformedResponse):
        decode_json("p", httpx.Response(200, content=content))


# --- transport errors against a real socket --------------------------------------------------


def test_timeout_is_unavailable(server: FakeServer):
    server.queue(Reply(body={"ok": True}, delay=5.0))
    with httpx.Client(timeout=0.2) as client, pytest.raises(httpx.TimeoutException) as caught:
        client.post(server.url + "/slow")
    error = classify_transport_error("p", caught.value)
    assert isinstance(error, ProviderUnavailable) and error.retryable
    assert error.status_code is None and error.reason.startswith("timeout")


def test_connection_refused_is_unavailable():
    with httpx.Client(timeout=2.0) as client, pytest.raises(httpx.ConnectError) as caught:
        client.get(unused_port_url())
    error = classify_transport_error("p", caught.value)
    assert isinstance(error, ProviderUnavailable) and error.retryable


def test_bad_scheme_is_rejected():
    with httpx.Client() as client, pytest.raises(httpx.UnsupportedProtocol) as caught:
        client.get("ftp://127.0.0.1/")
    assert isinstance(classify_transport_error("p", caught.value), ProviderRejected)


def test_decoding_error_is_malformed():
    error = classify_transport_error("p", httpx.DecodingError("bad gzip"))
    assert isinstance(error, MalformedResponse) and not error.retryable
