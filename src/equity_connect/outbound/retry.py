"""Outbound-call failures and the retry policy every provider client shares.

A provider call ends in a result or in one typed :class:`ProviderError`. The error says
whether retrying can help (``retryable``) and, when the provider asked for a pause, how long
(``retry_after``, seconds). The job layer asks :func:`next_delay` for the pause before the
next attempt and dead-letters the job when the answer is None.

Which failures are retryable, and why:

* ``RateLimited`` (429) and ``ProviderUnavailable`` (5xx, 408, timeouts, connection errors):
  yes. These are about the provider's state, not our request. A read timeout on a POST may
  mean the provider did the work (and billed it); retrying is still right, because a lost
  result is worse than a duplicate charge, and the job that retries keeps the same lead ids.
* ``ProviderRejected`` (other 4xx, incl. ``ProviderAuthError`` for 401/403): no. The same
  request gets the same answer; the job needs a fix (payload, key, URL), not a retry.
* ``MalformedResponse`` (HTML error page with 2xx, invalid JSON, missing or wrong-typed
  fields, records that cannot be mapped back to requests): no. The provider answered with a
  success status, so the call was probably billed, and a contract change does not fix itself;
  repeating it burns credits in a loop. The dead letter keeps the reason; replay after the
  adapter is fixed. (An HTML page with a 5xx status is ``ProviderUnavailable``: the status
  decides first.)
* ``ProviderFailure`` (error codes in a 2xx body, e.g. Melissa ``TransmissionResults``):
  decided per code by the client (internal errors yes; bad license or no credits no).

``reason`` is a short fixed phrase plus status codes and provider codes. It never includes a
response body, a URL or an exception message, which can carry names, addresses, phone
numbers or keys (Melissa's GET form puts the license and the address in the query string).
"""

from __future__ import annotations

import json
import math
import random
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar, Final

import httpx

__all__ = [
    "DEFAULT_MAX_RETRY_AFTER",
    "MalformedResponse",
    "ProviderAuthError",
    "ProviderError",
    "ProviderFailure",
    "ProviderRejected",
    "ProviderUnavailable",
    "RateLimited",
    "backoff_delay",
    "classify_response",
    "classify_transport_error",
    "decode_json",
    "error_for_status",
    "next_delay",
    "parse_retry_after",
]

# A Retry-After beyond this is treated as a misconfigured provider, not an instruction to
# park a job for days: the wait is clamped so the job surfaces again within the hour.
DEFAULT_MAX_RETRY_AFTER: Final = 3600.0

# RFC 9111 §1.2.2: a delta-seconds value too large to represent is taken as 2**31. It also
# keeps int() away from Python's 4300-digit conversion limit and float() from overflowing.
_DELTA_SECONDS_OVERFLOW: Final = 2**31
_MAX_DELTA_DIGITS: Final = 10

# Past this exponent base * 2**attempt exceeds any sane cap (and would overflow a float).
_MAX_EXPONENT: Final = 64


class ProviderError(Exception):
    """A provider call that produced no usable result.

    Attributes:
        provider: the client's provider name (``"melissa"``, ``"batchdata"``...).
        status_code: the HTTP status, or None when no response arrived.
        retryable: whether repeating the same call may succeed.
        retry_after: seconds the provider asked us to wait (``Retry-After``), if any.
        reason: a short, PII-free description for logs and the dead-letter queue.
    """

    default_retryable: ClassVar[bool] = False

    def __init__(
        self,
        provider: str,
        reason: str,
        *,
        status_code: int | None = None,
        retry_after: float | None = None,
        retryable: bool | None = None,
    ) -> None:
        self.provider = provider
        self.reason = reason
        self.status_code = status_code
        self.retry_after = retry_after
        self.retryable = self.default_retryable if retryable is None else retryable
        super().__init__(provider, reason)

    def __str__(self) -> str:
        status = "" if self.status_code is None else f" (HTTP {self.status_code})"
        return f"{self.provider}: {self.reason}{status}"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(provider={self.provider!r}, reason={self.reason!r}, "
            f"status_code={self.status_code!r}, retryable={self.retryable!r}, "
            f"retry_after={self.retry_after!r})"
        )


class RateLimited(ProviderError):
    """HTTP 429: the provider wants fewer calls; honour ``retry_after`` when given."""

    default_retryable = True


class ProviderUnavailable(ProviderError):
    """5xx, 408, timeouts and connection failures: the provider is down or overloaded."""

    default_retryable = True


class ProviderRejected(ProviderError):
    """A 4xx other than 408/429 (or an unexpected 1xx/3xx): the request itself is wrong."""


class ProviderAuthError(ProviderRejected):
    """401/403: bad or disabled credentials. Every call will fail until someone fixes them."""


class MalformedResponse(ProviderError):
    """A success status whose body we cannot use (HTML, bad JSON, wrong shape)."""


class ProviderFailure(ProviderError):
    """Error codes reported inside a 2xx body; ``codes`` holds them, retryability per code."""

    def __init__(
        self,
        provider: str,
        codes: tuple[str, ...],
        *,
        retryable: bool,
        status_code: int | None = None,
    ) -> None:
        self.codes = codes
        super().__init__(
            provider,
            f"provider error codes {','.join(codes)}",
            status_code=status_code,
            retryable=retryable,
        )


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (RFC 9110 §10.2.3, RFC 6585 §4).

    Accepts delta-seconds (``"120"``) or an HTTP-date (IMF-fixdate, or the obsolete RFC 850
    and asctime forms). Returns None for a missing, empty, negative or unparseable value, and
    0 for a date already past. A date without a zone is read as GMT, as HTTP-dates always are;
    a naive ``now`` is read as UTC.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    # delta-seconds is 1*DIGIT: no sign, no fraction, ASCII only (str.isdigit accepts "²").
    if text.isascii() and text.isdigit():
        if len(text) > _MAX_DELTA_DIGITS:
            return float(_DELTA_SECONDS_OVERFLOW)
        return float(min(int(text), _DELTA_SECONDS_OVERFLOW))
    try:
        when = parsedate_to_datetime(text)
    except (ValueError, TypeError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    try:
        seconds = (when - now).total_seconds()
    except OverflowError:
        return None
    return max(0.0, seconds)


def backoff_delay(attempt: int, *, base: float, cap: float, rng: random.Random) -> float:
    """Full-jitter exponential backoff: ``uniform(0, min(cap, base * 2**attempt))``.

    ``attempt`` counts retries already made (0 before the first retry). Full jitter (AWS,
    "Exponential Backoff and Jitter") spreads a fleet of workers that failed together over the
    whole window instead of sending them back in synchronized waves.
    """
    if attempt < 0:
        raise ValueError("attempt must be >= 0")
    if base < 0 or cap < 0 or not math.isfinite(base) or not math.isfinite(cap):
        raise ValueError("base and cap must be finite and >= 0")
    ceiling = cap if attempt >= _MAX_EXPONENT else min(cap, base * 2**attempt)
    # uniform(a, b) may round to b itself; min() keeps the documented bound exact.
    return min(ceiling, rng.uniform(0.0, ceiling))


def next_delay(
    error: ProviderError,
    attempt: int,
    *,
    base: float,
    cap: float,
    rng: random.Random,
    max_retry_after: float = DEFAULT_MAX_RETRY_AFTER,
) -> float | None:
    """Seconds to wait before retrying after ``error``, or None when retrying cannot help.

    With a ``retry_after`` the wait is never shorter than it: ``retry_after`` plus up to
    ``min(base, cap)`` of jitter, so workers told the same instant do not all return at it.
    The result is clamped to ``max_retry_after`` (a sanity bound on what a provider may ask).
    Without one it is :func:`backoff_delay`.
    """
    if not error.retryable:
        return None
    if error.retry_after is not None:
        jitter = rng.uniform(0.0, max(0.0, min(base, cap)))
        return min(max_retry_after, error.retry_after + jitter)
    return backoff_delay(attempt, base=base, cap=cap, rng=rng)


def error_for_status(
    provider: str, status_code: int, *, retry_after: float | None = None
) -> ProviderError | None:
    """The typed error for a non-2xx status (HTTP or echoed in a body), None for 2xx."""
    if 200 <= status_code < 300:
        return None
    if status_code == 429:
        return RateLimited(
            provider, "rate limited", status_code=status_code, retry_after=retry_after
        )
    if status_code == 408 or status_code >= 500:
        # RFC 9110 also allows Retry-After on 503 (maintenance windows).
        return ProviderUnavailable(
            provider, "provider unavailable", status_code=status_code, retry_after=retry_after
        )
    if status_code in (401, 403):
        return ProviderAuthError(provider, "credentials rejected", status_code=status_code)
    if 400 <= status_code < 500:
        return ProviderRejected(provider, "request rejected", status_code=status_code)
    return ProviderRejected(provider, "unexpected HTTP status", status_code=status_code)


def classify_response(
    provider: str, response: httpx.Response, now: datetime
) -> ProviderError | None:
    """The typed error for an HTTP response's status, or None when the status is 2xx.

    Only the status line and ``Retry-After`` are read; the body is the client's business
    (see :func:`decode_json`).
    """
    retry_after = parse_retry_after(response.headers.get("retry-after"), now)
    return error_for_status(provider, response.status_code, retry_after=retry_after)


def classify_transport_error(provider: str, exc: httpx.RequestError) -> ProviderError:
    """The typed error for a call that got no response (timeout, refused, reset...)."""
    if isinstance(exc, httpx.TimeoutException):
        return ProviderUnavailable(provider, f"timeout ({type(exc).__name__})")
    if isinstance(exc, httpx.DecodingError):
        return MalformedResponse(provider, "undecodable response body")
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.TooManyRedirects):
        return ProviderRejected(provider, f"bad endpoint ({type(exc).__name__})")
    return ProviderUnavailable(provider, f"transport error ({type(exc).__name__})")


def decode_json(provider: str, response: httpx.Response) -> Any:
    """The response body as JSON, or :class:`MalformedResponse` (HTML pages, bad JSON).

    The content type is not trusted either way: providers label JSON ``text/plain`` and
    proxies label HTML error pages ``application/json``. Parsing is the test.
    """
    try:
        return json.loads(response.content)
    except (ValueError, RecursionError):
        # ValueError covers JSONDecodeError and UnicodeDecodeError.
        looks_html = response.content.lstrip()[:1] == b"<"
        reason = "HTML instead of JSON" if looks_html else "invalid JSON"
        raise MalformedResponse(provider, reason, status_code=response.status_code) from None
