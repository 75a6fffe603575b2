"""Instantly API v2: add leads to a campaign (``POST /api/v2/leads/add``).

Wire format: ``/work/shared/provider-formats.md`` §3. What we rely on, and how:

* Body: exactly ``campaign_id``, the three ``skip_if_in_workspace``/``skip_if_in_campaign``/
  ``verify_leads_on_import`` flags and ``leads`` (1–1000). ``list_id`` and
  ``blocklist_id`` are never sent: we add to campaigns, with the workspace blocklist.
* Lead objects have ``additionalProperties: false``, so :meth:`InstantlyLead.to_json`
  emits only :data:`LEAD_KEYS` and leaves out unset fields; ``custom_variables`` values
  must be string, number, boolean or null, checked before anything is sent.
* Errors (401, 402 no paid plan, 404, 429) carry ``{"statusCode","error","message"}``;
  the status decides the error type (:mod:`equity_connect.outbound`). The body's
  ``message`` is never copied into an error: it can echo lead data.
* The 200 body's counters are read when present and of the right type, else None (the
  docs list them, but a missing counter must not fail an import that happened).
  ``created_leads`` is structure: an entry we cannot map back to a sent lead is a
  :class:`~equity_connect.outbound.MalformedResponse`.
* A sent lead missing from ``created_leads`` was not created: with
  ``skip_if_in_workspace`` a lead already in another campaign or list is left out. Instantly
  gives the reasons only as counters (``skipped_count``, ``in_blocklist``…), not per lead;
  :func:`skip_reasons` pins each left-out lead to one where it can (see there).

One call is one attempt. Retrying is the job's decision (``outbound.next_delay``), because
Instantly has no idempotency key: ``skip_if_in_campaign`` is what makes a repeat harmless.
"""

from __future__ import annotations

import hashlib
import math
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any, Final, Protocol, TypeVar

import httpx

from equity_connect.normalize.email import normalize_email
from equity_connect.outbound.http import ProviderClient, utc_now
from equity_connect.outbound.retry import (
    MalformedResponse,
    ProviderRejected,
    RateLimited,
    decode_json,
    error_for_status,
)

__all__ = [
    "ADD_LEADS_PATH",
    "DEFAULT_BASE_URL",
    "LEAD_KEYS",
    "MAX_LEADS_PER_CALL",
    "PROVIDER",
    "SIMULATED_PROVIDER",
    "SKIP_COUNTERS",
    "AddLeadsResult",
    "CreatedLead",
    "CustomValue",
    "InstantlyClient",
    "InstantlyLead",
    "LeadImporter",
    "SimulatedCall",
    "SimulatedInstantly",
    "add_leads_body",
    "batches",
    "parse_add_leads_response",
    "skip_reasons",
]

PROVIDER: Final = "instantly"
SIMULATED_PROVIDER: Final = "instantly-simulated"
DEFAULT_BASE_URL: Final = "https://api.instantly.ai"
ADD_LEADS_PATH: Final = "/api/v2/leads/add"
MAX_LEADS_PER_CALL: Final = 1000

#: The lead object's documented properties; Instantly rejects any other key.
LEAD_KEYS: Final = frozenset(
    {
        "email",
        "first_name",
        "last_name",
        "company_name",
        "phone",
        "website",
        "job_title",
        "personalization",
        "custom_variables",
    }
)

#: What a custom variable may hold (the API's string | number | boolean | null).
CustomValue = str | int | float | bool | None

_T = TypeVar("_T")


def _check_custom_value(name: object, value: object) -> None:
    if not isinstance(name, str) or not name:
        raise ValueError("custom variable names must be non-empty strings")
    if value is None or isinstance(value, str | bool | int):
        return
    # NaN and infinities are not JSON numbers; json.dumps would emit invalid JSON.
    if isinstance(value, float) and math.isfinite(value):
        return
    raise ValueError(
        f"custom variable {name!r} must be a string, number, boolean or null, "
        f"not {type(value).__name__}"
    )


@dataclass(frozen=True)
class InstantlyLead:
    """One lead as Instantly's ``leads/add`` takes it. Unset (None) fields are not sent.

    ``custom_variables`` is copied and validated on construction (and again when
    serialized, since a dict can be changed later); a bad value raises ValueError.
    """

    email: str
    first_name: str | None = None
    last_name: str | None = None
    company_name: str | None = None
    phone: str | None = None
    website: str | None = None
    job_title: str | None = None
    personalization: str | None = None
    custom_variables: dict[str, CustomValue] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.email, str) or not self.email.strip():
            raise ValueError("a lead needs an email")
        object.__setattr__(self, "custom_variables", dict(self.custom_variables))
        for name, value in self.custom_variables.items():
            _check_custom_value(name, value)

    def __repr__(self) -> str:
        # Leads are PII; a repr can end up in a log or a dead letter.
        return f"InstantlyLead(<redacted>, {len(self.custom_variables)} custom variables)"

    def to_json(self) -> dict[str, Any]:
        """The lead object: only :data:`LEAD_KEYS`, unset fields and empty variables left out."""
        body: dict[str, Any] = {"email": self.email.strip()}
        for key in (
            "first_name",
            "last_name",
            "company_name",
            "phone",
            "website",
            "job_title",
            "personalization",
        ):
            value = getattr(self, key)
            if value is not None:
                body[key] = value
        if self.custom_variables:
            for name, value in self.custom_variables.items():
                _check_custom_value(name, value)
            body["custom_variables"] = dict(self.custom_variables)
        return body


def batches(leads: Sequence[_T], size: int = MAX_LEADS_PER_CALL) -> list[Sequence[_T]]:
    """``leads`` in order, in slices of at most ``size`` (1..1000) for one call each."""
    if not 1 <= size <= MAX_LEADS_PER_CALL:
        raise ValueError(f"size must be within 1..{MAX_LEADS_PER_CALL}")
    return [leads[i : i + size] for i in range(0, len(leads), size)]


def _check_call(campaign_id: str, leads: Sequence[InstantlyLead]) -> None:
    if not isinstance(campaign_id, str) or not campaign_id.strip():
        raise ValueError("campaign_id is required")
    if not 1 <= len(leads) <= MAX_LEADS_PER_CALL:
        raise ValueError(
            f"a call takes 1..{MAX_LEADS_PER_CALL} leads, got {len(leads)}; use batches()"
        )


def add_leads_body(
    campaign_id: str,
    leads: Sequence[InstantlyLead],
    *,
    skip_if_in_workspace: bool = True,
    skip_if_in_campaign: bool = True,
    verify_leads_on_import: bool = False,
) -> dict[str, Any]:
    """The ``leads/add`` request body (provider-formats.md §3).

    Raises:
        ValueError: no campaign id, 0 or more than 1000 leads, or a bad custom variable.
    """
    _check_call(campaign_id, leads)
    return {
        "campaign_id": campaign_id,
        "skip_if_in_workspace": skip_if_in_workspace,
        "skip_if_in_campaign": skip_if_in_campaign,
        "verify_leads_on_import": verify_leads_on_import,
        "leads": [lead.to_json() for lead in leads],
    }


# --- the response ----------------------------------------------------------------------


@dataclass(frozen=True)
class CreatedLead:
    """A lead Instantly created: ``index`` is its position in the request's ``leads``."""

    index: int
    id: str
    email: str


@dataclass(frozen=True)
class AddLeadsResult:
    """The 200 body of ``leads/add``. A counter the response left out (or mistyped) is None."""

    status: str | None = None
    total_sent: int | None = None
    leads_uploaded: int | None = None
    in_blocklist: int | None = None
    blocklist_used: str | None = None
    duplicated_leads: int | None = None
    skipped_count: int | None = None
    invalid_email_count: int | None = None
    incomplete_count: int | None = None
    duplicate_email_count: int | None = None
    remaining_in_plan: int | None = None
    created_leads: tuple[CreatedLead, ...] = ()


def _count(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _created(entries: object, sent: int) -> tuple[CreatedLead, ...]:
    if entries is None:
        return ()
    if not isinstance(entries, list):
        raise MalformedResponse(PROVIDER, "created_leads is not a list")
    created: list[CreatedLead] = []
    for entry in entries:
        if not isinstance(entry, dict):
            raise MalformedResponse(PROVIDER, "created lead is not an object")
        index, lead_id, email = _count(entry.get("index")), entry.get("id"), entry.get("email")
        # The index is how a created id is tied back to our lead; one we did not send would
        # attach an Instantly id to the wrong person.
        if index is None or not 0 <= index < sent:
            raise MalformedResponse(PROVIDER, "created lead index out of range")
        if not isinstance(lead_id, str) or not lead_id:
            raise MalformedResponse(PROVIDER, "created lead has no id")
        created.append(CreatedLead(index, lead_id, email if isinstance(email, str) else ""))
    return tuple(created)


def parse_add_leads_response(payload: object, sent: int) -> AddLeadsResult:
    """An :class:`AddLeadsResult` from a decoded 200 body for a call of ``sent`` leads.

    Raises:
        ProviderError: the body reports an error ``statusCode`` (typed as HTTP would be).
        MalformedResponse: the body is not an object or ``created_leads`` is unusable.
    """
    if not isinstance(payload, dict):
        raise MalformedResponse(PROVIDER, "body is not a JSON object")
    status_code = _count(payload.get("statusCode"))
    if status_code is not None:
        error = error_for_status(PROVIDER, status_code)
        if error is not None:
            raise error
    return AddLeadsResult(
        status=_text(payload.get("status")),
        total_sent=_count(payload.get("total_sent")),
        leads_uploaded=_count(payload.get("leads_uploaded")),
        in_blocklist=_count(payload.get("in_blocklist")),
        blocklist_used=_text(payload.get("blocklist_used")),
        duplicated_leads=_count(payload.get("duplicated_leads")),
        skipped_count=_count(payload.get("skipped_count")),
        invalid_email_count=_count(payload.get("invalid_email_count")),
        incomplete_count=_count(payload.get("incomplete_count")),
        duplicate_email_count=_count(payload.get("duplicate_email_count")),
        remaining_in_plan=_count(payload.get("remaining_in_plan")),
        created_leads=_created(payload.get("created_leads"), sent),
    )


#: The 200 body's counters of sent leads that were not created, with what bulkAddLeads'
#: response schema says each counts (Instantly's v2 OpenAPI document).
SKIP_COUNTERS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "skipped_count": "skipped by the skip_if_in_workspace/skip_if_in_campaign flags "
        "(already in a campaign or list of the workspace)",
        "duplicated_leads": "already in this campaign",
        "in_blocklist": "email on the blocklist",
        "invalid_email_count": "invalid or missing email",
        "duplicate_email_count": "email repeated within the request",
        "incomplete_count": "missing email and names",
    }
)
UNREPORTED: Final = "unreported"


def skip_reasons(
    result: AddLeadsResult, leads: Sequence[InstantlyLead]
) -> dict[int, tuple[str, str]]:
    """Why each sent lead missing from ``created_leads`` was left out: index → (code, text).

    The code is the name of Instantly's counter (:data:`SKIP_COUNTERS`). Instantly counts
    reasons, it does not name them per lead, so a lead gets one only by evidence: a repeat
    of an earlier email in the same call is ``duplicate_email_count`` and an address we
    cannot parse is ``invalid_email_count`` (when Instantly counted any such), and the rest
    take the only other non-zero counter. With several left, the code joins them with
    ``|`` and the text lists each with its count; with none, the code is ``unreported``.
    """
    created = {c.index for c in result.created_leads}
    left_out = [i for i in range(len(leads)) if i not in created]
    counts = {name: getattr(result, name) or 0 for name in SKIP_COUNTERS}
    reasons: dict[int, tuple[str, str]] = {}
    seen: set[str] = set()
    for index, lead in enumerate(leads):
        email = normalize_email(lead.email)
        if index in created:
            if email is not None:
                seen.add(email)
            continue
        if email is None and counts["invalid_email_count"]:
            reasons[index] = ("invalid_email_count", SKIP_COUNTERS["invalid_email_count"])
        elif email in seen and counts["duplicate_email_count"]:
            reasons[index] = ("duplicate_email_count", SKIP_COUNTERS["duplicate_email_count"])
        if email is not None:
            seen.add(email)
    pinned = {code for code, _ in reasons.values()}
    rest = {n: c for n, c in counts.items() if c > 0 and n not in pinned}
    if not rest:
        fallback = (UNREPORTED, "not created; Instantly gave no reason")
    elif len(rest) == 1:
        [name] = rest
        fallback = (name, SKIP_COUNTERS[name])
    else:
        fallback = (
            "|".join(sorted(rest)),
            "one of: " + "; ".join(f"{SKIP_COUNTERS[n]} ({rest[n]})" for n in sorted(rest)),
        )
    return {i: reasons.get(i, fallback) for i in left_out}


# --- clients ---------------------------------------------------------------------------


class LeadImporter(Protocol):
    """Anything that adds leads to an Instantly campaign: the client or the simulator."""

    def add_leads(
        self,
        campaign_id: str,
        leads: Sequence[InstantlyLead],
        *,
        skip_if_in_workspace: bool = True,
        skip_if_in_campaign: bool = True,
        verify_leads_on_import: bool = False,
    ) -> AddLeadsResult:
        """Add 1–1000 leads to a campaign."""
        ...


# Fixed reasons for the documented statuses; the body's message is never used (PII-free).
_REASONS: Final[Mapping[int, str]] = MappingProxyType(
    {402: "no paid plan", 404: "campaign or endpoint not found"}
)


class InstantlyClient(ProviderClient):
    """Instantly API v2 client (Bearer key) for adding leads to a campaign.

    Args:
        api_key: the API key (scope ``leads:create``). Sent only in the ``Authorization``
            header; never in a repr, a log or an error.
        base_url: scheme and host (tests point it at a local server).
        timeout: seconds for connect/read/write/pool.
        client: an ``httpx.Client`` to use (its owner closes it); by default one is made
            and closed by :meth:`close`.
        clock: the time used to read ``Retry-After`` dates.
    """

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float = 30,
        client: httpx.Client | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        if not api_key or not api_key.strip():
            raise ValueError("api_key is required")
        self._api_key = api_key
        self._url = base_url.rstrip("/") + ADD_LEADS_PATH
        super().__init__(PROVIDER, timeout=timeout, client=client, clock=clock)

    def __repr__(self) -> str:
        return f"InstantlyClient(url={self._url!r})"

    def add_leads(
        self,
        campaign_id: str,
        leads: Sequence[InstantlyLead],
        *,
        skip_if_in_workspace: bool = True,
        skip_if_in_campaign: bool = True,
        verify_leads_on_import: bool = False,
    ) -> AddLeadsResult:
        """Add 1–1000 leads to a campaign in one call (split larger sets with :func:`batches`).

        Raises:
            ValueError: no campaign id, 0 or more than 1000 leads, or a bad custom variable
                (nothing is sent).
            RateLimited: 429, with ``retry_after`` from ``Retry-After`` when present.
            ProviderUnavailable: 5xx, 408, timeouts, connection failures (retryable).
            ProviderAuthError: 401/403. ProviderRejected: 402 (no paid plan), 404, other 4xx.
            MalformedResponse: a 2xx body that is not the documented JSON object.
        """
        body = add_leads_body(
            campaign_id,
            leads,
            skip_if_in_workspace=skip_if_in_workspace,
            skip_if_in_campaign=skip_if_in_campaign,
            verify_leads_on_import=verify_leads_on_import,
        )
        headers = {"Authorization": f"Bearer {self._api_key}", "Accept": "application/json"}
        response, error = self.post_json(self._url, body, headers)
        reason = _REASONS.get(response.status_code)
        if reason is not None and type(error) is ProviderRejected:
            # Same type and retryability, a more useful fixed phrase (never the body's text).
            raise ProviderRejected(PROVIDER, reason, status_code=response.status_code)
        if error is not None:
            raise error
        return parse_add_leads_response(decode_json(PROVIDER, response), len(leads))


# --- the simulator ---------------------------------------------------------------------


@dataclass(frozen=True)
class SimulatedCall:
    """One ``add_leads`` call the simulator received: the body that would have been sent."""

    body: dict[str, Any]
    leads: tuple[InstantlyLead, ...]
    rate_limited: bool


class SimulatedInstantly:
    """An offline, deterministic stand-in for Instantly (demo, tests). Calls no one.

    It behaves like the documented API on the points the pipeline depends on: the same
    validation (raises what :class:`InstantlyClient` raises before sending), one created
    lead per new email with an id derived from a SHA-256 of the campaign and the email,
    ``skip_if_in_campaign``/``skip_if_in_workspace`` honoured against earlier calls, in-call
    duplicates and syntactically invalid emails counted and not created. A lead the flags
    skip is counted in ``skipped_count`` only (how Instantly splits such skips between
    ``duplicated_leads`` and ``skipped_count`` is not documented; this is a guess).

    Args:
        fail_first: the first N calls raise :class:`~equity_connect.outbound.RateLimited`.
        retry_after: the ``retry_after`` those errors carry.
        remaining_in_plan: leads the simulated plan has left (None: not reported).
        seed: changes every id at once.

    Attributes:
        calls: every call received, in order, including rate-limited ones.
    """

    def __init__(
        self,
        *,
        fail_first: int = 0,
        retry_after: float | None = 2.0,
        remaining_in_plan: int | None = 100_000,
        seed: str = "equity-connect",
    ) -> None:
        if fail_first < 0:
            raise ValueError("fail_first must be >= 0")
        self.name: str = SIMULATED_PROVIDER
        self.calls: list[SimulatedCall] = []
        self._failures_left = fail_first
        self._retry_after = retry_after
        self._remaining = remaining_in_plan
        self._seed = seed
        self._by_campaign: dict[str, set[str]] = {}

    def __repr__(self) -> str:
        return f"SimulatedInstantly(calls={len(self.calls)})"

    @property
    def accepted_leads(self) -> list[InstantlyLead]:
        """Every lead of every call that was not rate limited, in order."""
        return [lead for call in self.calls if not call.rate_limited for lead in call.leads]

    def lead_id(self, campaign_id: str, email: str) -> str:
        """The id this simulator gives ``email`` in ``campaign_id`` (a UUID, stable)."""
        key = "\x1f".join((self._seed, campaign_id, email.strip().lower()))
        digest = hashlib.sha256(key.encode()).digest()
        return str(uuid.UUID(bytes=digest[:16], version=4))

    def add_leads(
        self,
        campaign_id: str,
        leads: Sequence[InstantlyLead],
        *,
        skip_if_in_workspace: bool = True,
        skip_if_in_campaign: bool = True,
        verify_leads_on_import: bool = False,
    ) -> AddLeadsResult:
        """As :meth:`InstantlyClient.add_leads`, simulated (see the class docstring)."""
        body = add_leads_body(
            campaign_id,
            leads,
            skip_if_in_workspace=skip_if_in_workspace,
            skip_if_in_campaign=skip_if_in_campaign,
            verify_leads_on_import=verify_leads_on_import,
        )
        limited = self._failures_left > 0
        self.calls.append(SimulatedCall(body, tuple(leads), rate_limited=limited))
        if limited:
            self._failures_left -= 1
            raise RateLimited(
                SIMULATED_PROVIDER,
                "rate limited (simulated)",
                status_code=429,
                retry_after=self._retry_after,
            )

        in_campaign = self._by_campaign.setdefault(campaign_id, set())
        in_workspace = set[str]().union(*self._by_campaign.values())
        seen: set[str] = set()
        created: list[CreatedLead] = []
        invalid = duplicates = skipped = 0
        for index, lead in enumerate(leads):
            email = normalize_email(lead.email)
            if email is None:
                invalid += 1
            elif email in seen:
                duplicates += 1
            elif (skip_if_in_campaign and email in in_campaign) or (
                skip_if_in_workspace and email in in_workspace
            ):
                seen.add(email)
                skipped += 1
            else:
                seen.add(email)
                in_campaign.add(email)
                created.append(CreatedLead(index, self.lead_id(campaign_id, email), email))
        if self._remaining is not None:
            self._remaining = max(0, self._remaining - len(created))
        return AddLeadsResult(
            status="success",
            total_sent=len(leads),
            leads_uploaded=len(created),
            in_blocklist=0,
            blocklist_used=None,
            # The flags' skips are skipped_count (the schema's words); duplicated_leads
            # would only count re-adds without the flags, which the simulator allows.
            duplicated_leads=0,
            skipped_count=skipped,
            invalid_email_count=invalid,
            incomplete_count=0,
            duplicate_email_count=duplicates,
            remaining_in_plan=self._remaining,
            created_leads=tuple(created),
        )
