"""BatchData property skip trace (``POST /api/v1/property/skip-trace``).

Wire format: ``/work/shared/provider-formats.md`` §2. Unverified points and what we do:

* ``options`` placement: client libraries put it both at the top level and inside each
  request. We send it once at the top level, the shape in the documented example; if
  BatchData ignored it there, V1's default (``includeTCPABlacklistedPhones: false``) is the
  value we send anyway, so the mistake would be harmless.
* Batch size: 100 per call is a third-party figure; ``max_batch`` is configurable.
* Response version: V1 (``results.persons[]``, one person per request) is parsed; V3
  (``result.data[]``, up to three persons per property) is tolerated, its persons' contacts
  merged into one result per request.
* ``tcpa`` on phone numbers is optional; phone/email leaf names are third-party consensus.

Mapping results back to requests: persons are not documented to carry ``requestId``. When
every item carries one (top level, ``meta`` or V3 ``input``), items are matched by it.
Otherwise V1 order is taken as request order, which then requires as many items as
requests, and each item's ``propertyAddress`` (when present) is checked against its request:
house number and state must agree. ZIP and street name are not compared because BatchData
may standardize them. A disagreement means the order assumption broke, and attaching one
owner's phones to another lead is worse than losing the batch: :class:`MalformedResponse`.

A ``null`` item: BatchData has been seen answering a no-match row with ``null`` in its
place in ``results.persons`` (or ``result.data``) instead of an object with
``meta.matched: false``. A null carries no ``requestId``, so it is read by position: it is
the no-match of the request at its index (which needs as many items as requests, as any
positional read does); the other items are still checked against their requests.

Odd bodies: structure (body, ``results``/``result``, the item lists, items) must be right;
a leaf of the wrong type (``score`` as an object, ``dnc`` as a list) is read as unknown.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Final

import httpx

from equity_connect.normalize.email import normalize_email
from equity_connect.normalize.phone import to_e164
from equity_connect.outbound.http import utc_now
from equity_connect.outbound.retry import (
    MalformedResponse,
    decode_json,
    error_for_status,
)
from equity_connect.skiptrace.http_provider import BatchingSkipTrace
from equity_connect.skiptrace.schemas import (
    EmailResult,
    PhoneResult,
    PhoneType,
    SkipTraceRequest,
    SkipTraceResult,
)

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_MAX_BATCH",
    "PROVIDER",
    "SKIP_TRACE_PATH",
    "BatchDataSkipTrace",
    "build_request_body",
    "parse_response",
]

PROVIDER: Final = "batchdata"
DEFAULT_BASE_URL: Final = "https://api.batchdata.com"
SKIP_TRACE_PATH: Final = "/api/v1/property/skip-trace"
DEFAULT_MAX_BATCH: Final = 100  # UNVERIFIED (third-party figure)

# Record-level code for an item whose meta.error is true; BatchData has no codes of its own.
META_ERROR_CODE: Final = "META_ERROR"


def build_request_body(
    batch: Sequence[SkipTraceRequest], *, include_tcpa_blacklisted: bool = False
) -> dict[str, Any]:
    """The skip-trace body; ``name`` is left out when the owner's name is unknown (an LLC)."""
    items: list[dict[str, Any]] = []
    for request in batch:
        item: dict[str, Any] = {
            "requestId": request.lead_id,
            "propertyAddress": {
                "street": request.street,
                "city": request.city,
                "state": request.state,
                "zip": request.zip5,
            },
        }
        if request.first_name or request.last_name:
            item["name"] = {"first": request.first_name or "", "last": request.last_name or ""}
        items.append(item)
    return {
        "requests": items,
        "options": {"includeTCPABlacklistedPhones": include_tcpa_blacklisted},
    }


# --- leaf readers: wrong types read as unknown -------------------------------------------


def _obj(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: object) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        return None
    return value.strip() or None


def _bool(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"true", "false"}:
        return value.strip().lower() == "true"
    return None


def _int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        # Length bound: scores are 0-100, and int() of a huge digit string is slow or refused.
        if text.isascii() and text.isdigit() and len(text) <= 9:
            return int(text)
    return None


def _entries(value: object) -> list[Any]:
    """A contact list; anything but a list reads as none (a leaf, not structure)."""
    return value if isinstance(value, list) else []


def _list(value: object, what: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise MalformedResponse(PROVIDER, f"{what} is not a list")
    return value


# --- contacts ------------------------------------------------------------------------------


def _phones(persons: Sequence[dict[str, Any]]) -> list[PhoneResult]:
    phones: dict[str, PhoneResult] = {}
    for person in persons:
        for entry in _entries(person.get("phoneNumbers")):
            entry_obj = _obj(entry)
            number = to_e164(_str(entry_obj.get("number")))
            if number is None or number in phones:
                continue  # invalid numbers are dropped; the first listing of a number wins
            phones[number] = PhoneResult(
                number=number,
                type=PhoneType.from_text(_str(entry_obj.get("type"))),
                carrier=_str(entry_obj.get("carrier")),
                dnc=_bool(entry_obj.get("dnc")),
                reachable=_bool(entry_obj.get("reachable")),
                score=_int(entry_obj.get("score")),
                tested=_bool(entry_obj.get("tested")),
                tcpa=_bool(entry_obj.get("tcpa")),
            )
    return list(phones.values())


def _emails(persons: Sequence[dict[str, Any]]) -> list[EmailResult]:
    emails: dict[str, EmailResult] = {}
    for person in persons:
        for entry in _entries(person.get("emails")):
            # {"email": "..."} per the clients; a bare string is accepted too.
            raw = entry if isinstance(entry, str) else _str(_obj(entry).get("email"))
            address = normalize_email(raw)
            if address is not None and address not in emails:
                emails[address] = EmailResult(address=address)
    return list(emails.values())


# --- mapping items back to requests -------------------------------------------------------


def _request_id(item: dict[str, Any]) -> str | None:
    return (
        _str(item.get("requestId"))
        or _str(_obj(item.get("meta")).get("requestId"))
        or _str(_obj(item.get("input")).get("requestId"))
    )


def _house_number(street: str | None) -> str | None:
    if not street:
        return None
    digits = ""
    for ch in street.strip():
        if not (ch.isascii() and ch.isdigit()):
            break
        digits += ch
    return digits.lstrip("0") or None


def _same_property(request: SkipTraceRequest, address: dict[str, Any]) -> bool:
    ours, theirs = _house_number(request.street), _house_number(_str(address.get("street")))
    if ours and theirs and ours != theirs:
        return False
    state = _str(address.get("state"))
    return not (state and request.state and state.upper() != request.state.strip().upper())


def _align(
    batch: Sequence[SkipTraceRequest],
    items: list[Any],
    address_of: Callable[[dict[str, Any]], dict[str, Any]],
) -> list[dict[str, Any] | None]:
    """The response item for each request, in request order; None for a ``null`` item.

    See the module docstring for how items are tied to requests.
    """
    if not all(item is None or isinstance(item, dict) for item in items):
        raise MalformedResponse(PROVIDER, "result item is not an object")
    ids = [None if item is None else _request_id(item) for item in items]
    if items and all(ids):
        by_id = dict(zip(ids, items, strict=True))
        if len(by_id) != len(items) or set(by_id) != {r.lead_id for r in batch}:
            raise MalformedResponse(PROVIDER, "requestIds do not match the requests")
        return [by_id[request.lead_id] for request in batch]
    if len(items) != len(batch):
        raise MalformedResponse(PROVIDER, "result count differs from request count")
    for request, item, item_id in zip(batch, items, ids, strict=True):
        if item is None:
            continue  # this request's no-match, by position
        if (item_id and item_id != request.lead_id) or not _same_property(
            request, address_of(item)
        ):
            raise MalformedResponse(PROVIDER, "results out of request order")
    return items


def _no_match(request: SkipTraceRequest) -> SkipTraceResult:
    """The answer a ``null`` item gives: nobody found (not an error, not billed as a match)."""
    return SkipTraceResult(provider=PROVIDER, lead_id=request.lead_id, matched=False)


def _result(
    request: SkipTraceRequest,
    raw: dict[str, Any],
    persons: Sequence[dict[str, Any]],
    meta: dict[str, Any],
) -> SkipTraceResult:
    phones, emails = _phones(persons), _emails(persons)
    matched = _bool(meta.get("matched"))
    error = _bool(meta.get("error")) is True
    return SkipTraceResult(
        provider=PROVIDER,
        lead_id=request.lead_id,
        # Without meta.matched, having found anyone is the match.
        matched=(bool(phones or emails) if matched is None else matched) and not error,
        mak=None,  # BatchData has no Melissa Address Key
        phones=phones,
        emails=emails,
        result_codes=[META_ERROR_CODE] if error else [],
        raw=raw,
    )


def _persons(value: object) -> list[dict[str, Any]]:
    persons = _list(value, "persons")
    if not all(isinstance(person, dict) for person in persons):
        raise MalformedResponse(PROVIDER, "person is not an object")
    return persons


def parse_response(batch: Sequence[SkipTraceRequest], payload: object) -> list[SkipTraceResult]:
    """Results for ``batch`` from a decoded V1 or V3 body, in request order.

    Raises:
        ProviderError: ``status.code`` in the body is an error status (typed as HTTP would be).
        MalformedResponse: the structure is wrong or items cannot be mapped to requests.
    """
    if not isinstance(payload, dict):
        raise MalformedResponse(PROVIDER, "body is not a JSON object")
    status_code = _int(_obj(payload.get("status")).get("code"))
    if status_code is not None:
        error = error_for_status(PROVIDER, status_code)
        if error is not None:
            raise error

    if "results" in payload:  # V1
        results = payload["results"]
        if not isinstance(results, dict):
            raise MalformedResponse(PROVIDER, "results is not an object")
        persons = _align(
            batch,
            _list(results.get("persons"), "results.persons"),
            lambda person: _obj(person.get("propertyAddress")),
        )
        return [
            _no_match(request)
            if person is None
            else _result(request, person, [person], _obj(person.get("meta")))
            for request, person in zip(batch, persons, strict=True)
        ]

    if "result" in payload:  # V3
        result = payload["result"]
        if not isinstance(result, dict):
            raise MalformedResponse(PROVIDER, "result is not an object")
        data = _align(
            batch,
            _list(result.get("data"), "result.data"),
            lambda item: _obj(_obj(item.get("input")).get("propertyAddress")),
        )
        return [
            _no_match(request)
            if item is None
            else _result(request, item, _persons(item.get("persons")), _obj(item.get("meta")))
            for request, item in zip(batch, data, strict=True)
        ]

    raise MalformedResponse(PROVIDER, "neither results nor result in body")


class BatchDataSkipTrace(BatchingSkipTrace):
    """Skip trace through BatchData's property skip-trace API (Bearer token).

    Args:
        token: API token. Sent only in the ``Authorization`` header; never logged.
        base_url: scheme and host (tests point it at a local server).
        max_batch: requests per call (default 100, unverified).
        timeout: seconds for connect/read/write/pool.
        include_tcpa_blacklisted: ``options.includeTCPABlacklistedPhones``; False keeps
            TCPA-restricted numbers out of the results.
        client: an ``httpx.Client`` to use (its owner closes it); by default one is made
            and closed by :meth:`close`.
        clock: the time used to read ``Retry-After`` dates.
    """

    def __init__(
        self,
        token: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        path: str = SKIP_TRACE_PATH,
        max_batch: int = DEFAULT_MAX_BATCH,
        timeout: float = 30.0,
        include_tcpa_blacklisted: bool = False,
        client: httpx.Client | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be >= 1")
        self.max_batch: int = max_batch
        self._token = token
        self._url = base_url.rstrip("/") + "/" + path.lstrip("/")
        self._include_tcpa_blacklisted = include_tcpa_blacklisted
        super().__init__(PROVIDER, timeout=timeout, client=client, clock=clock)

    def __repr__(self) -> str:
        return f"BatchDataSkipTrace(url={self._url!r}, max_batch={self.max_batch})"

    def _lookup_batch(self, batch: Sequence[SkipTraceRequest]) -> list[SkipTraceResult]:
        body = build_request_body(batch, include_tcpa_blacklisted=self._include_tcpa_blacklisted)
        headers = {"Authorization": f"Bearer {self._token}", "Accept": "application/json"}
        response, error = self.post_json(self._url, body, headers)
        if error is not None:
            raise error
        return parse_response(batch, decode_json(PROVIDER, response))
