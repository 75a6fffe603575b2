"""Melissa Personator Consumer (ContactVerify), batch JSON POST.

Wire format: ``/work/shared/provider-formats.md`` §1. One POST carries up to 100 records;
each record's ``RecordID`` is our lead id, and results are matched back by it, never by
position (Melissa does not promise order).

Parsing rule for odd bodies: the *structure* that ties results to requests (the body object,
``Records`` list, each record object and its ``RecordID``) must be right, or the whole call is
a :class:`MalformedResponse`. A *leaf* of the wrong type (``Results`` as a number, a phone as
an object) is treated as absent, because one odd field should not discard a paid batch.

The license travels only in the POST body (``CustomerID``). It is never logged, never put in
an error, and not shown by ``repr``. The GET form is not used: it puts the license and the
owner's address in the URL, where proxies and access logs keep them.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Final

import httpx

from equity_connect.normalize.email import normalize_email
from equity_connect.normalize.phone import to_e164
from equity_connect.outbound.http import utc_now
from equity_connect.outbound.retry import (
    MalformedResponse,
    ProviderFailure,
    decode_json,
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
    "ADDRESS_VERIFIED_CODES",
    "BATCH_PATH",
    "BATCH_PATH_SHORT",
    "DEFAULT_BASE_URL",
    "MAX_BATCH",
    "PROVIDER",
    "RETRYABLE_TRANSMISSION_CODES",
    "MelissaPersonator",
    "build_request_body",
    "parse_record",
    "parse_response",
]

PROVIDER: Final = "melissa"
DEFAULT_BASE_URL: Final = "https://personator.melissadata.net"
# The quickstart's two batch URLs (DE and EN pages); the service has been seen under both.
# The default matches the verified GET endpoint; switch with ``path=`` if one stops working.
BATCH_PATH: Final = "/v3/WEB/ContactVerify/doContactVerify"
BATCH_PATH_SHORT: Final = "/v3/WEB/ContactVerify"
# More records than this returns GE03 for the whole call.
MAX_BATCH: Final = 100

ADDRESS_VERIFIED_CODES: Final = frozenset({"AS01", "AS02", "AS03"})
# Transmission codes worth retrying: only Melissa's internal error. GE03/GE04/GE05/GE06
# (batch too big, empty/invalid/disabled license) and GE14 (out of credits) need a person,
# and an unknown code is not retried either, so a surprise does not burn credits in a loop.
RETRYABLE_TRANSMISSION_CODES: Final = frozenset({"SE01"})

_EMAIL_CODE_PREFIXES: Final = ("ES", "EE")
_PHONE_CODE_PREFIXES: Final = ("PS", "PE")
_PHONE_TYPE_BY_CODE: Final = {"PS07": PhoneType.MOBILE, "PS08": PhoneType.LANDLINE}


def build_request_body(
    batch: Sequence[SkipTraceRequest],
    *,
    license_key: str,
    actions: str,
    columns: str,
    options: str = "",
    reference: str = "",
) -> dict[str, Any]:
    """The ContactVerify batch body. Missing values are sent as ``""``, as Melissa expects."""
    return {
        "TransmissionReference": reference,
        "CustomerID": license_key,
        "Actions": actions,
        "Columns": columns,
        "Options": options,
        "Records": [
            {
                "RecordID": request.lead_id,
                "FullName": request.full_name,
                "AddressLine1": request.street,
                "City": request.city,
                "State": request.state,
                "PostalCode": request.zip5,
                "EmailAddress": request.email or "",
                "PhoneNumber": request.phone or "",
                # Not the wiki's "MelissaAddresKey" (a typo there): see provider-formats §1.
                "MelissaAddressKey": request.mak or "",
            }
            for request in batch
        ],
    }


def _leaf_str(record: dict[str, Any], key: str) -> str | None:
    """A string field, trimmed; numbers become strings (counts and keys arrive either way)."""
    value = record.get(key)
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        value = str(value)
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value or None


def _split_codes(text: str | None) -> list[str]:
    if not text:
        return []
    return [code.strip().upper() for code in text.split(",") if code.strip()]


def parse_record(
    request: SkipTraceRequest, record: dict[str, Any], *, provider: str = PROVIDER
) -> SkipTraceResult:
    """One response record as a result for ``request``.

    ``matched`` means Melissa verified the address (AS01/AS02/AS03) or appended a contact: an
    email or phone in the response that differs from what we sent.
    """
    codes = _split_codes(_leaf_str(record, "Results"))
    email = normalize_email(_leaf_str(record, "EmailAddress"))
    phone = to_e164(_leaf_str(record, "PhoneNumber"))

    emails: list[EmailResult] = []
    if email is not None:
        email_codes = [c for c in codes if c.startswith(_EMAIL_CODE_PREFIXES)]
        emails.append(EmailResult(address=email, codes=email_codes))
    phones: list[PhoneResult] = []
    if phone is not None:
        phone_codes = [c for c in codes if c.startswith(_PHONE_CODE_PREFIXES)]
        phone_type = next(
            (_PHONE_TYPE_BY_CODE[c] for c in phone_codes if c in _PHONE_TYPE_BY_CODE),
            PhoneType.UNKNOWN,
        )
        phones.append(PhoneResult(number=phone, type=phone_type, codes=phone_codes))

    appended = (email is not None and email != normalize_email(request.email)) or (
        phone is not None and phone != to_e164(request.phone)
    )
    return SkipTraceResult(
        provider=provider,
        lead_id=request.lead_id,
        matched=not ADDRESS_VERIFIED_CODES.isdisjoint(codes) or appended,
        mak=_leaf_str(record, "MelissaAddressKey"),
        phones=phones,
        emails=emails,
        result_codes=codes,
        raw=dict(record),
    )


def _record_id(record: object) -> str:
    if not isinstance(record, dict):
        raise MalformedResponse(PROVIDER, "record is not an object")
    record_id = record.get("RecordID")
    if isinstance(record_id, int) and not isinstance(record_id, bool):
        record_id = str(record_id)
    if not isinstance(record_id, str) or not record_id:
        raise MalformedResponse(PROVIDER, "record without RecordID")
    return record_id


def parse_response(batch: Sequence[SkipTraceRequest], payload: object) -> list[SkipTraceResult]:
    """Results for ``batch`` from a decoded response body, in request order.

    Raises:
        ProviderFailure: ``TransmissionResults`` carries error codes.
        MalformedResponse: the body's structure is wrong, or a request has no record, or a
            record answers no request (the mapping cannot be trusted then).
    """
    if not isinstance(payload, dict):
        raise MalformedResponse(PROVIDER, "body is not a JSON object")
    transmission = payload.get("TransmissionResults")
    if transmission is not None and not isinstance(transmission, str):
        raise MalformedResponse(PROVIDER, "TransmissionResults is not a string")
    failure_codes = _split_codes(transmission)
    if failure_codes:
        raise ProviderFailure(
            PROVIDER,
            tuple(failure_codes),
            retryable=all(code in RETRYABLE_TRANSMISSION_CODES for code in failure_codes),
        )
    records = payload.get("Records")
    if not isinstance(records, list):
        raise MalformedResponse(PROVIDER, "Records missing or not a list")

    by_id: dict[str, dict[str, Any]] = {}
    for record in records:
        record_id = _record_id(record)
        if record_id in by_id:
            raise MalformedResponse(PROVIDER, "duplicate RecordID")
        by_id[record_id] = record

    results: list[SkipTraceResult] = []
    for request in batch:
        record = by_id.pop(request.lead_id, None)
        if record is None:
            raise MalformedResponse(PROVIDER, "a request has no record in the response")
        results.append(parse_record(request, record))
    if by_id:
        raise MalformedResponse(PROVIDER, "a record answers no request")
    return results


class MelissaPersonator(BatchingSkipTrace):
    """Skip trace through Melissa Personator Consumer (``Check,Verify,Append``).

    Args:
        license_key: Melissa license (``CustomerID``). Kept private; never logged.
        base_url: scheme and host (tests point it at a local server).
        path: batch path, :data:`BATCH_PATH` or :data:`BATCH_PATH_SHORT`.
        max_batch: records per call, at most :data:`MAX_BATCH`.
        timeout: seconds for connect/read/write/pool.
        columns: output column groups. Which group returns ``MelissaAddressKey`` in Consumer
            is unverified; the documented example's ``GrpAddressDetails`` is the default.
        client: an ``httpx.Client`` to use (its owner closes it); by default one is made
            and closed by :meth:`close`.
        clock: the time used to read ``Retry-After`` dates.
    """

    def __init__(
        self,
        license_key: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        path: str = BATCH_PATH,
        max_batch: int = MAX_BATCH,
        timeout: float = 30.0,
        actions: str = "Check,Verify,Append",
        columns: str = "GrpAddressDetails",
        options: str = "",
        client: httpx.Client | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        if not 1 <= max_batch <= MAX_BATCH:
            raise ValueError(f"max_batch must be between 1 and {MAX_BATCH}")
        self.max_batch: int = max_batch
        self._license_key = license_key
        self._url = base_url.rstrip("/") + "/" + path.lstrip("/")
        self._actions = actions
        self._columns = columns
        self._options = options
        super().__init__(PROVIDER, timeout=timeout, client=client, clock=clock)

    def __repr__(self) -> str:
        return f"MelissaPersonator(url={self._url!r}, max_batch={self.max_batch})"

    def _lookup_batch(self, batch: Sequence[SkipTraceRequest]) -> list[SkipTraceResult]:
        body = build_request_body(
            batch,
            license_key=self._license_key,
            actions=self._actions,
            columns=self._columns,
            options=self._options,
            # Echoed back by Melissa; random so it correlates a call without naming a lead.
            reference=secrets.token_hex(8),
        )
        response, error = self.post_json(self._url, body, {"Accept": "application/json"})
        if error is not None:
            raise error
        return parse_response(batch, decode_json(PROVIDER, response))
