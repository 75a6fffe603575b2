"""Outbound texts: who may be texted, when, how often, and the send itself.

A text is a row in ``sms_messages`` queued in the transaction of the event that wants it
(an interested reply or call, a booking) and sent by the job ``sms.send_text``. The job
checks every guard at send time, because what was true when the text was queued (no
opt-out yet, inside calling hours) may not be true when it runs:

1. **The lead may be texted at all:** not unsubscribed or do-not-contact, not DNC-flagged,
   neither its e-mail (for an opt-out) nor its phone in the suppression set.
2. **Only a number the homeowner gave or confirmed** (``sms_numbers``; see the migration
   0017 note): never a skip-traced number on its own, nor one that is suppressed or that
   sent STOP.
3. **Calling hours** (``campaign.compliance``) in every zone the homeowner may be in
   (the property's state and ZIP, and the number's area code). Outside them the text is
   *deferred*: a new job is queued at the next allowed instant; nothing is dropped.
4. **One text per lead per day** (the business day, America/Los_Angeles), enforced by the
   database: claiming the day sets ``send_day`` under a partial unique index, so two
   concurrent sends to one lead cannot both claim it. The second waits for the next day.

Sending is at most once. The claim commits before the request is made, and a send that
may have reached SignalWire without an answer (``SendUncertain``), or a job that died
mid-send, leaves the message ``uncertain``, never sent again. A failure that surely
sent nothing (connection refused, a 4xx/5xx answer) frees the day and is retried (or
fails, for a 4xx) by the queue.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from equity_connect.campaign.compliance import calling_allowed, next_allowed, zones_for
from equity_connect.campaign.schedule import BUSINESS_TZ
from equity_connect.config import Settings
from equity_connect.consent import service as consent
from equity_connect.db import queries
from equity_connect.db.pool import Conn
from equity_connect.jobs import service as jobs
from equity_connect.normalize.phone import to_e164
from equity_connect.outbound.retry import ProviderError
from equity_connect.security.crypto import PiiCipher, aad_for
from equity_connect.sms.client import SendUncertain, TextSender

Q = queries.load("equity_connect.sms")
SEND = "sms.send_text"
CONSENT_LINK = "consent_link"
BOOKING_CONFIRMATION = "booking_confirmation"
NUMBER_SOURCES = frozenset({"sms_inbound", "call_answered", "reply_text"})


def number_aad(lead_id: uuid.UUID) -> bytes:
    """Associated data of a confirmed number: bound to its lead."""
    return aad_for("sms_numbers", "phone", lead_id)


def confirm_number(
    conn: Conn, cipher: PiiCipher, lead_id: uuid.UUID, phone: str, *, source: str
) -> bool:
    """Record that the homeowner gave or confirmed ``phone`` (E.164 or any US form).

    ``source``: ``sms_inbound`` (they texted us from it), ``call_answered`` (they took our
    call on it and asked to hear more), ``reply_text`` (they wrote it in a reply). Returns
    False, recording nothing, for a value that is not a phone number.
    """
    if source not in NUMBER_SOURCES:
        raise ValueError(f"unknown number source {source!r}")
    e164 = to_e164(phone)
    if e164 is None:
        return False
    conn.execute(
        Q["confirm_number"],
        {
            "lead_id": lead_id,
            "index": cipher.blind_index("phone", e164),
            "ciphertext": cipher.encrypt(e164, number_aad(lead_id)),
            "source": source,
        },
    )
    return True


def consent_text_key(lead_id: uuid.UUID, at: datetime) -> str:
    """The dedupe key of a consent-link text: one per lead and business day, however many
    interested answers (a reply and a call) arrive that day."""
    return f"consent:{lead_id}:{at.astimezone(BUSINESS_TZ).date().isoformat()}"


def queue_text(
    conn: Conn,
    settings: Settings,
    lead_id: uuid.UUID,
    kind: str,
    dedupe_key: str,
    *,
    booking_uid: str | None = None,
) -> int | None:
    """Queue one text and its sending job (once per ``dedupe_key``); None when texts are
    not configured (``EC_SMS_PROVIDER`` unset) or it was queued before."""
    if not settings.sms_provider:
        return None
    row = conn.execute(
        Q["queue_message"],
        {"lead_id": lead_id, "kind": kind, "dedupe_key": dedupe_key, "booking_uid": booking_uid},
    ).fetchone()
    if row is None:
        return None
    message_id = int(row["id"])
    jobs.enqueue(conn, SEND, {"message_id": message_id}, idempotency_key=f"sms:{message_id}")
    return message_id


@dataclass(frozen=True)
class Outcome:
    """What one run of the send job did: ``sent``, ``deferred`` (to ``until``),
    ``skipped``, ``uncertain`` or ``done`` (nothing left to do)."""

    status: str
    reason: str | None = None
    until: datetime | None = None
    sid: str | None = None


@dataclass(frozen=True)
class _Prepared:
    to: str
    body: str


def send_text(
    pool: ConnectionPool[Conn],
    cipher: PiiCipher,
    settings: Settings,
    message_id: int,
    sender: TextSender,
    *,
    clock: Callable[[], datetime],
) -> Outcome:
    """Run every guard, claim the lead's day, send, record. See the module docstring.

    Raises the sender's retryable ``ProviderError`` (after freeing the day) so the queue
    retries with its backoff; a non-retryable one marks the message ``failed`` and raises.
    """
    now = clock()
    with pool.connection() as conn:
        decided = _prepare(conn, cipher, settings, message_id, provider=sender.name, now=now)
    if isinstance(decided, Outcome):
        return decided
    try:
        sent = sender.send_text(decided.to, decided.body)
    except SendUncertain as exc:
        with pool.connection() as conn:
            _finish(conn, message_id, "uncertain", exc.reason)
        return Outcome("uncertain", exc.reason)
    except ProviderError as exc:
        with pool.connection() as conn:
            if exc.retryable:
                conn.execute(Q["release_claim"], {"id": message_id, "reason": exc.reason})
            else:
                _finish(conn, message_id, "failed", exc.reason)
        raise
    # Anything else raised above (a bug, an interrupt) may have come after the request
    # left: the claim stays, and the next run marks the message uncertain.
    with pool.connection() as conn:
        conn.execute(Q["mark_sent"], {"id": message_id, "sid": sent.sid})
        _event(conn, message_id, "sent")
    return Outcome("sent", sid=sent.sid)


def _prepare(
    conn: Conn,
    cipher: PiiCipher,
    settings: Settings,
    message_id: int,
    *,
    provider: str,
    now: datetime,
) -> Outcome | _Prepared:
    """The guards and the claim, in one transaction; a text to send, or why not now."""
    m = conn.execute(Q["load_message"], {"id": message_id}).fetchone()
    if m is None or m["status"] not in ("queued", "sending"):
        return Outcome("done")
    if m["status"] == "sending":
        # A run claimed the day and died before recording the answer: the text may be out.
        _finish(conn, message_id, "uncertain", "a previous run ended mid-send")
        return Outcome("uncertain", "a previous run ended mid-send")
    if m["forbidden"]:
        return _skip(conn, message_id, "lead_opted_out_or_suppressed")
    if m["kind"] == BOOKING_CONFIRMATION:
        booking = conn.execute(Q["booking_for_text"], {"uid": m["booking_uid"]}).fetchone()
        if booking is None:
            return _skip(conn, message_id, "booking_not_found")
        if booking["start_time"] is not None and booking["start_time"] <= now:
            # Deferred past the appointment (calling hours, the daily limit): say nothing.
            return _skip(conn, message_id, "booking_already_started")
    number = conn.execute(Q["textable_number"], {"lead_id": m["lead_id"]}).fetchone()
    if number is None:
        return _skip(conn, message_id, "no_confirmed_number")
    to = cipher.decrypt(number["phone_ciphertext"], number_aad(m["lead_id"]))
    zones = zones_for(m["property_state"], m["property_zip"], to)
    if not calling_allowed(now, zones):
        return _defer(conn, message_id, next_allowed(now, zones), "outside_calling_hours")
    day = now.astimezone(BUSINESS_TZ).date()
    try:
        with conn.transaction():
            claimed = conn.execute(
                Q["claim_day"], {"id": message_id, "day": day, "provider": provider}
            ).rowcount
    except psycopg.errors.UniqueViolation:
        return _defer(conn, message_id, _next_day(day, zones), "daily_limit")
    if not claimed:
        return Outcome("done")
    body = _compose(conn, settings, m, zones)
    if body is None:
        _finish(conn, message_id, "skipped", "booking_not_found")
        return Outcome("skipped", "booking_not_found")
    return _Prepared(to, body)


def _next_day(day: date, zones: frozenset[ZoneInfo]) -> datetime | None:
    start = datetime.combine(day + timedelta(days=1), time.min, BUSINESS_TZ).astimezone(UTC)
    return next_allowed(start, zones)


def _skip(conn: Conn, message_id: int, reason: str) -> Outcome:
    _finish(conn, message_id, "skipped", reason)
    return Outcome("skipped", reason)


def _finish(conn: Conn, message_id: int, status: str, reason: str | None) -> None:
    conn.execute(Q["finish_message"], {"id": message_id, "status": status, "reason": reason})
    _event(conn, message_id, status, reason=reason)


def _defer(conn: Conn, message_id: int, until: datetime | None, reason: str) -> Outcome:
    """Queue the next attempt at ``until``; the zones never share an allowed hour: skip."""
    if until is None:
        return _skip(conn, message_id, "no_common_calling_hours")
    conn.execute(Q["defer_message"], {"id": message_id, "not_before": until, "reason": reason})
    jobs.enqueue(
        conn,
        SEND,
        {"message_id": message_id},
        run_at=until,
        idempotency_key=f"sms:{message_id}:{until.astimezone(UTC).isoformat()}",
    )
    _event(conn, message_id, "deferred", reason=reason, until=until.astimezone(UTC).isoformat())
    return Outcome("deferred", reason, until)


def _event(conn: Conn, message_id: int, outcome: str, **detail: Any) -> None:
    """A pipeline event for the message (ids, codes and times only: no number, no text)."""
    conn.execute(
        Q["record_event"],
        {
            "id": message_id,
            "outcome": outcome,
            "correlation_id": f"sms:{message_id}",
            "detail": Jsonb({k: v for k, v in detail.items() if v is not None}),
        },
    )


def _compose(
    conn: Conn, settings: Settings, m: dict[str, Any], zones: frozenset[ZoneInfo]
) -> str | None:
    """The text's body; None when a booking confirmation's booking is gone."""
    brokerage = settings.brand_name
    broker = m["broker_name"] or "a licensed loan officer"
    stop = "Reply STOP to opt out, HELP for help."
    if m["kind"] == CONSENT_LINK:
        # The nonce exists only here and in the text: the token is issued in the
        # claim's transaction, so a text that is never sent leaves an unused token.
        token = consent.issue(
            conn, m["lead_id"], m["assigned_broker_id"], ttl_hours=settings.consent_ttl_hours
        )
        link = consent.consent_link(settings.public_base_url, token.nonce)
        hello = f"Hi {m['owner_first_name']}, " if m["owner_first_name"] else ""
        return (
            f"{brokerage}: {hello}{broker} can review your home equity options with you. "
            f"Confirm we may call and pick a time: {link} {stop}"
        )
    booking = conn.execute(Q["booking_for_text"], {"uid": m["booking_uid"]}).fetchone()
    if booking is None:
        return None
    when = booking["start_time"]
    zone = next(iter(zones)) if len(zones) == 1 else BUSINESS_TZ
    at = f" on {when.astimezone(zone):%a %b %d at %I:%M %p %Z}" if when else ""
    name = booking["broker_name"] or broker
    return f"{brokerage}: you're booked with {name}{at}. {stop}"
