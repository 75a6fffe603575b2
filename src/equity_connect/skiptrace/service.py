"""Enrichment: ask the configured providers about leads, store, verify, score.

Each provider answer is stored (encrypted) under an idempotency key of
provider x lead x time window *before* it is applied, in its own
transaction: a job retried or replayed after a crash finds the answer and
never pays for the same lookup twice.

The key is built only from what enrichment cannot change: applying an answer
fills in a missing MAK, so a key hashing the MAK (as it once did) came out
different on the re-run after a ``kill -9``, a lease expiry or a DLQ replay,
and the provider was paid again. A stored answer is also found by lead and age
(younger than the window), so a re-run that crosses a window boundary, or
meets an answer stored under an older key format, still reuses it.

What no key can cover: an answer lost between the provider's reply and the
commit of its store (milliseconds). Neither Melissa nor BatchData takes an
idempotency key, so that lookup is asked (and paid) again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from equity_connect.campaign.suppression import suppress_value
from equity_connect.db import queries
from equity_connect.db.pool import Conn
from equity_connect.jobs.ratelimit import SharedTokenBucket
from equity_connect.outbound.retry import ProviderError
from equity_connect.scoring.service import rescore
from equity_connect.security.crypto import PiiCipher, aad_for
from equity_connect.security.pii import lead_contact
from equity_connect.skiptrace.schemas import (
    EmailResult,
    PhoneResult,
    PhoneType,
    SkipTraceProvider,
    SkipTraceRequest,
    SkipTraceResult,
    split_batches,
)
from equity_connect.verification.schemas import ContactChannel
from equity_connect.verification.service import CodeMap, is_verified, load_code_map

Q = queries.load("equity_connect.skiptrace")
_EMAIL, _PHONE = ContactChannel.EMAIL, ContactChannel.PHONE


@dataclass
class EnrichStats:
    """What one enrichment run did, per provider and overall."""

    requested: dict[str, int] = field(default_factory=dict)
    matched: dict[str, int] = field(default_factory=dict)
    cached: int = 0
    email_verified: int = 0
    phone_verified: int = 0
    rescored: int = 0


def idempotency_key(provider: str, lead: dict[str, Any], *, window_days: int, now: datetime) -> str:
    """Provider x lead x window: the same lead is looked up at most once a window.

    Only the lead's id goes in, never its MAK, APN or address: enrichment fills
    those in, and a key that moved under a re-run would pay for the lookup again.
    """
    window = int(now.timestamp() // (window_days * 86_400))
    return hashlib.sha256(f"{provider}|lead:{lead['id']}|{window}".encode()).hexdigest()


def _to_json(result: SkipTraceResult) -> str:
    return json.dumps(dataclasses.asdict(result), default=str)


def _from_json(text: str) -> SkipTraceResult:
    data = json.loads(text)
    data["phones"] = [
        PhoneResult(**{**p, "type": PhoneType(p.get("type", "unknown"))}) for p in data["phones"]
    ]
    data["emails"] = [EmailResult(**e) for e in data["emails"]]
    return SkipTraceResult(**data)


def _request_for(lead: dict[str, Any], cipher: PiiCipher) -> SkipTraceRequest:
    return SkipTraceRequest(
        lead_id=str(lead["id"]),
        first_name=lead["owner_first_name"],
        last_name=lead["owner_last_name"],
        street=lead["property_address"] or "",
        city=lead["property_city"] or "",
        state=lead["property_state"] or "",
        zip5=lead["property_zip"] or "",
        mak=lead["mak"],
        email=lead_contact(cipher, lead, "email"),
        phone=lead_contact(cipher, lead, "phone"),
    )


def _phone_codes(phone: PhoneResult) -> list[str]:
    """Codes as given; BatchData gives flags instead, mapped to pseudo-codes."""
    if phone.codes:
        return list(phone.codes)
    if phone.reachable:
        return ["reachable"]
    if phone.tested:
        return ["unreachable"]
    return ["untested"]


def _event(conn: Conn, stage: str, outcome: str, count: int, **kw: Any) -> None:
    conn.execute(
        Q["record_event"],
        {
            "stage": stage,
            "outcome": outcome,
            "count": count,
            "duration_ms": kw.pop("duration_ms", None),
            "provider": kw.pop("provider", None),
            "status_code": kw.pop("status_code", None),
            "upload_id": kw.pop("upload_id", None),
            "correlation_id": kw.pop("correlation_id", None),
            "detail": Jsonb(kw),
        },
    )


def _store_contact(
    conn: Conn,
    cipher: PiiCipher,
    lead_id: uuid.UUID,
    channel: ContactChannel,
    value: str,
    *,
    provider: str,
    codes: list[str],
    verified: bool,
    dnc: bool,
    phone_type: str | None,
    score: int | None,
) -> bytes:
    """Upsert one contact (encrypted, indexed); returns its blind index."""
    index = cipher.blind_index(str(channel), value)
    aad = aad_for("lead_contacts", str(channel), f"{lead_id}:{index.hex()}")
    conn.execute(
        Q["upsert_contact"],
        {
            "lead_id": lead_id,
            "channel": str(channel),
            "index": index,
            "ciphertext": cipher.encrypt(value, aad),
            "provider": provider,
            "codes": codes,
            "verified": verified,
            "dnc": dnc,
            "phone_type": phone_type,
            "score": score,
        },
    )
    return index


def apply_result(
    conn: Conn, cipher: PiiCipher, code_map: CodeMap, result: SkipTraceResult, *, now: datetime
) -> tuple[bool, bool]:
    """Write one matched result to the lead and its contacts; (email verified, phone verified)."""
    lead_id = uuid.UUID(result.lead_id)
    provider = result.provider
    # (rank, number, index): verified non-DNC first, then mobile, then score
    best_phone: tuple[tuple[int, int, int], str, bytes] | None = None
    any_phone_ok = False
    phone_codes: list[str] = []
    dnc_indexes: list[bytes] = []
    for phone in result.phones:
        codes = _phone_codes(phone)
        phone_codes.extend(codes)
        verified = is_verified(code_map, provider, _PHONE, codes)
        dnc = bool(phone.dnc)
        index = _store_contact(
            conn,
            cipher,
            lead_id,
            _PHONE,
            phone.number,
            provider=provider,
            codes=codes,
            verified=verified,
            dnc=dnc,
            phone_type=str(phone.type),
            score=phone.score,
        )
        if dnc:
            dnc_indexes.append(index)
            suppress_value(
                conn,
                cipher,
                str(_PHONE),
                phone.number,
                reason="dnc",
                source=f"skiptrace:{provider}",
                lead_id=lead_id,
            )
        rank = (int(verified and not dnc), int(phone.type == PhoneType.MOBILE), phone.score or 0)
        if best_phone is None or rank > best_phone[0]:
            best_phone = (rank, phone.number, index)
        any_phone_ok |= verified and not dnc
    best_email: tuple[int, str, bytes] | None = None
    any_email_ok = False
    email_codes: list[str] = []
    for email in result.emails:
        codes = list(email.codes) or ["returned"]
        email_codes.extend(codes)
        verified = is_verified(code_map, provider, _EMAIL, codes)
        index = _store_contact(
            conn,
            cipher,
            lead_id,
            _EMAIL,
            email.address,
            provider=provider,
            codes=codes,
            verified=verified,
            dnc=False,
            phone_type=None,
            score=None,
        )
        if best_email is None or int(verified) > best_email[0]:
            best_email = (int(verified), email.address, index)
        any_email_ok |= verified
    conn.execute(
        Q["apply_enrichment"],
        {
            "lead_id": lead_id,
            "mak": result.mak,
            "email_verified": any_email_ok,
            "phone_verified": any_phone_ok,
            "dnc_indexes": dnc_indexes,
            "email_is_better": best_email is not None and best_email[0] == 1,
            "phone_is_better": best_phone is not None and best_phone[0][0] == 1,
            "email_codes": sorted(set(email_codes)),
            "phone_codes": sorted(set(phone_codes)),
            "payload": Jsonb(
                {
                    provider: {
                        "matched": result.matched,
                        "result_codes": result.result_codes,
                        "phones": len(result.phones),
                        "emails": len(result.emails),
                        "at": now.isoformat(),
                    }
                }
            ),
            "email_ciphertext": None
            if best_email is None
            else cipher.encrypt(best_email[1], aad_for("leads", str(_EMAIL), lead_id)),
            "email_index": None if best_email is None else best_email[2],
            "phone_ciphertext": None
            if best_phone is None
            else cipher.encrypt(best_phone[1], aad_for("leads", str(_PHONE), lead_id)),
            "phone_index": None if best_phone is None else best_phone[2],
        },
    )
    return any_email_ok, any_phone_ok


def _stored_answers(
    pool: ConnectionPool[Conn],
    cipher: PiiCipher,
    provider: str,
    keys: dict[uuid.UUID, str],
    *,
    now: datetime,
    window_days: int,
) -> dict[uuid.UUID, SkipTraceResult]:
    """The answers already paid for: this window's keys, or the lead's within the window."""
    answers: dict[uuid.UUID, SkipTraceResult] = {}
    with pool.connection() as conn:
        for r in conn.execute(
            Q["stored_requests"],
            {
                "provider": provider,
                "keys": list(keys.values()),
                "lead_ids": list(keys),
                "now": now,
                "window_days": window_days,
            },
        ):
            if r["lead_id"] in answers:
                continue  # newest first: an older answer of the same lead is not used
            aad = aad_for("skiptrace_requests", "response", r["idempotency_key"])
            answers[r["lead_id"]] = _from_json(cipher.decrypt(r["response_ciphertext"], aad))
    return answers


def enrich_leads(
    pool: ConnectionPool[Conn],
    cipher: PiiCipher,
    providers: Sequence[SkipTraceProvider],
    lead_ids: Sequence[uuid.UUID],
    *,
    now: datetime,
    window_days: int = 30,
    buckets: dict[str, SharedTokenBucket] | None = None,
    correlation_id: str | None = None,
) -> EnrichStats:
    """Skip-trace ``lead_ids`` through ``providers`` in order (the next one only for leads
    the previous left unmatched), then verify and re-score them.

    A provider failure (``ProviderError``) propagates for the job's retry policy
    after every answer already received has been stored.
    """
    stats = EnrichStats()
    with pool.connection() as conn:
        leads = {
            r["id"]: r for r in conn.execute(Q["leads_for_lookup"], {"lead_ids": list(lead_ids)})
        }
    pending = sorted(leads)
    for provider in providers:
        if not pending:
            break
        keys = {
            lead_id: idempotency_key(
                provider.name, leads[lead_id], window_days=window_days, now=now
            )
            for lead_id in pending
        }
        answers = _stored_answers(
            pool, cipher, provider.name, keys, now=now, window_days=window_days
        )
        stats.cached += len(answers)
        to_ask = [_request_for(leads[i], cipher) for i in pending if i not in answers]
        for batch in split_batches(to_ask, provider.max_batch):
            if buckets and provider.name in buckets:
                buckets[provider.name].acquire()
            started = time.perf_counter()
            try:
                results = provider.lookup(batch)
            except ProviderError as exc:
                with pool.connection() as conn:
                    outcome = "rate_limited" if exc.status_code == 429 else "failed"
                    _event(
                        conn,
                        "skiptrace",
                        outcome,
                        len(batch),
                        provider=provider.name,
                        status_code=exc.status_code,
                        correlation_id=correlation_id,
                        duration_ms=(time.perf_counter() - started) * 1e3,
                        reason=exc.reason,
                    )
                raise
            ms = (time.perf_counter() - started) * 1e3
            with pool.connection() as conn:
                for result in results:
                    lead_id = uuid.UUID(result.lead_id)
                    key = keys[lead_id]
                    conn.execute(
                        Q["store_request"],
                        {
                            "provider": provider.name,
                            "key": key,
                            "lead_id": lead_id,
                            "matched": result.matched,
                            "response": cipher.encrypt(
                                _to_json(result), aad_for("skiptrace_requests", "response", key)
                            ),
                        },
                    )
                    answers[lead_id] = result
                matched = sum(r.matched for r in results)
                _event(
                    conn,
                    "skiptrace",
                    "requested",
                    len(batch),
                    provider=provider.name,
                    duration_ms=ms,
                    correlation_id=correlation_id,
                )
                _event(
                    conn,
                    "skiptrace",
                    "matched",
                    matched,
                    provider=provider.name,
                    correlation_id=correlation_id,
                )
                _event(
                    conn,
                    "skiptrace",
                    "unmatched",
                    len(results) - matched,
                    provider=provider.name,
                    correlation_id=correlation_id,
                )
            stats.requested[provider.name] = stats.requested.get(provider.name, 0) + len(batch)
        with pool.connection() as conn:
            code_map = load_code_map(conn)
            for result in answers.values():
                if result.matched:
                    email_ok, phone_ok = apply_result(conn, cipher, code_map, result, now=now)
                    stats.email_verified += email_ok
                    stats.phone_verified += phone_ok
            stats.matched[provider.name] = sum(r.matched for r in answers.values())
        pending = [i for i in pending if not (i in answers and answers[i].matched)]
    with pool.connection() as conn:
        if pending:
            conn.execute(Q["mark_attempted"], {"lead_ids": pending})
        stats.rescored = rescore(conn, sorted(leads), now=now)
        _event(conn, "verified", "email", stats.email_verified, correlation_id=correlation_id)
        _event(conn, "verified", "phone", stats.phone_verified, correlation_id=correlation_id)
    return stats
