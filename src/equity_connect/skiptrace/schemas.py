"""Skip-trace types shared by every provider: one request per lead, one result per request.

Results are plain frozen dataclasses, not pydantic models: they are built by our own parsers
from already-validated values, never from user input, so validation would only cost time.
PII fields are left out of ``repr`` so a result in a log line or a traceback shows ids and
codes, not phone numbers.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "EmailResult",
    "PhoneResult",
    "PhoneType",
    "SkipTraceProvider",
    "SkipTraceRequest",
    "SkipTraceResult",
    "split_batches",
]


class PhoneType(StrEnum):
    """Line type, as far as the provider knows. Calling and texting rules depend on it."""

    MOBILE = "mobile"
    LANDLINE = "landline"
    VOIP = "voip"
    UNKNOWN = "unknown"

    @classmethod
    def from_text(cls, text: str | None) -> PhoneType:
        """Map a provider's label (``"Mobile"``, ``"Land Line"``, ``"Wireless"``...)."""
        if not text:
            return cls.UNKNOWN
        key = "".join(ch for ch in text.lower() if ch.isalpha())
        if key in {"mobile", "cell", "cellular", "wireless"}:
            return cls.MOBILE
        if key in {"landline", "land", "fixed", "wireline"}:
            return cls.LANDLINE
        if "voip" in key:
            return cls.VOIP
        return cls.UNKNOWN


@dataclass(frozen=True, slots=True, kw_only=True)
class SkipTraceRequest:
    """One lead to look up. ``lead_id`` travels as Melissa's RecordID / BatchData's requestId."""

    lead_id: str
    first_name: str | None = field(default=None, repr=False)
    last_name: str | None = field(default=None, repr=False)
    street: str = field(repr=False)
    city: str = field(repr=False)
    state: str = field(repr=False)
    zip5: str = field(repr=False)
    mak: str | None = None
    email: str | None = field(default=None, repr=False)
    phone: str | None = field(default=None, repr=False)

    @property
    def full_name(self) -> str:
        """First and last name joined, or ``""`` when both are missing."""
        return " ".join(part for part in (self.first_name, self.last_name) if part)


@dataclass(frozen=True, slots=True, kw_only=True)
class PhoneResult:
    """A phone number the provider returned, normalized to E.164.

    ``dnc``/``reachable``/``score``/``tested``/``tcpa`` are None when the provider does not
    say; None is "unknown", never "no".
    """

    number: str = field(repr=False)
    type: PhoneType = PhoneType.UNKNOWN
    carrier: str | None = None
    dnc: bool | None = None
    reachable: bool | None = None
    score: int | None = None
    tested: bool | None = None
    tcpa: bool | None = None
    codes: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True, kw_only=True)
class EmailResult:
    """An email address the provider returned, trimmed and lowercased."""

    address: str = field(repr=False)
    codes: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True, kw_only=True)
class SkipTraceResult:
    """What one provider knows about one lead. ``matched=False`` is an answer, not an error.

    ``result_codes`` are the provider's record-level codes (Melissa's ``Results`` split),
    including those of contacts that were dropped as invalid. ``raw`` is the provider's record
    as received, for the lead's ``skiptrace_payload`` (it is PII: encrypt or drop it with the
    rest).
    """

    provider: str
    lead_id: str
    matched: bool
    mak: str | None = None
    phones: list[PhoneResult] = field(default_factory=list)
    emails: list[EmailResult] = field(default_factory=list)
    result_codes: list[str] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


@runtime_checkable
class SkipTraceProvider(Protocol):
    """A skip-trace source. ``lookup`` returns one result per request, in request order.

    Implementations split long inputs into batches of ``max_batch`` and raise
    :class:`~equity_connect.outbound.ProviderError` when a call fails. A failure in a later
    batch discards the earlier batches' results, so jobs pass at most ``max_batch`` requests.
    """

    @property
    def name(self) -> str:
        """Provider name stored with each result."""
        ...

    @property
    def max_batch(self) -> int:
        """Most requests one provider call carries."""
        ...

    def lookup(self, requests: Sequence[SkipTraceRequest]) -> list[SkipTraceResult]:
        """Look the leads up; one result per request, same order."""
        ...


def split_batches(
    requests: Sequence[SkipTraceRequest], size: int
) -> Iterator[Sequence[SkipTraceRequest]]:
    """Consecutive slices of at most ``size``; rejects duplicate lead ids.

    Duplicates are refused because results are matched back to requests by id: two requests
    with one id could not be told apart.
    """
    if size < 1:
        raise ValueError("batch size must be >= 1")
    seen: set[str] = set()
    for request in requests:
        if request.lead_id in seen:
            raise ValueError("duplicate lead_id in one lookup")
        seen.add(request.lead_id)
    for start in range(0, len(requests), size):
        yield requests[start : start + size]
