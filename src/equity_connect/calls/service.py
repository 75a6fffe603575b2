"""VAPI call events: count the attempt, read the outcome, route it, record voice consent."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from equity_connect.calls.ended import ended_outcome
from equity_connect.config import Settings
from equity_connect.consent import service as consent
from equity_connect.db.pool import Conn
from equity_connect.errors import DomainError
from equity_connect.normalize.phone import to_e164
from equity_connect.replies.classify import classify_reply
from equity_connect.replies.routing import Q, event, route
from equity_connect.replies.schemas import Classification, ConsentMethod, ReplyIntent
from equity_connect.security.crypto import PiiCipher


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _find_lead(conn: Conn, cipher: PiiCipher, message: dict[str, Any]) -> list[dict[str, Any]]:
    """The lead the call was about: the id we put in the call's metadata, else the number."""
    for holder in (
        _dict(_dict(message.get("call")).get("metadata")),
        _dict(message.get("metadata")),
    ):
        raw = holder.get("lead_id")
        if isinstance(raw, str):
            try:
                row = conn.execute(Q["lead_by_id"], {"id": uuid.UUID(raw)}).fetchone()
            except ValueError:
                row = None
            if row is not None:
                return [row]
    number = _dict(message.get("customer")).get("number")
    phone = to_e164(number) if isinstance(number, str) else None
    if phone is None:
        return []
    return conn.execute(
        Q["leads_by_phone"], {"index": cipher.blind_index("phone", phone)}
    ).fetchall()


def outcome_of(message: dict[str, Any]) -> Classification:
    """The call's outcome from ``analysis.structuredData`` (our assistant's schema:
    ``do_not_call``, ``wrong_person``, ``interested``), else the classifier on the summary.
    An opt-out anywhere wins; then an ``endedReason`` that says nobody answered
    (``calls.ended``) decides before the call's content is read."""
    analysis = _dict(message.get("analysis"))
    data = _dict(analysis.get("structuredData"))
    summary = analysis.get("summary") if isinstance(analysis.get("summary"), str) else ""
    from_summary = classify_reply(str(summary), channel="call") if summary else None

    def labelled(intent: ReplyIntent, why: str) -> Classification:
        return Classification(intent=intent, confidence=1.0, reasons=[why], backend="provider")

    if data.get("do_not_call") is True or data.get("unsubscribe") is True:
        return labelled(ReplyIntent.UNSUBSCRIBE, "vapi:structured:do_not_call")
    if from_summary is not None and from_summary.intent is ReplyIntent.UNSUBSCRIBE:
        return from_summary
    # After the opt-out checks, before anything reads the call's content.
    ended = ended_outcome(message.get("endedReason"))
    if ended is not None:
        return ended
    if data.get("wrong_person") is True:
        return labelled(ReplyIntent.WRONG_CONTACT, "vapi:structured:wrong_person")
    if data.get("interested") is True:
        return labelled(ReplyIntent.INTERESTED, "vapi:structured:interested")
    if data.get("interested") is False:
        return labelled(ReplyIntent.NOT_INTERESTED, "vapi:structured:not_interested")
    if from_summary is not None:
        return from_summary
    return labelled(ReplyIntent.AUTO_REPLY, f"vapi:ended:{message.get('endedReason')}")


def handle_vapi(
    conn: Conn,
    cipher: PiiCipher,
    settings: Settings,
    event_type: str,
    payload: dict[str, Any],
    *,
    event_id: uuid.UUID,
) -> tuple[str, uuid.UUID | None]:
    """Process one stored VAPI server message; returns (inbound status, lead id)."""
    message = _dict(payload.get("message"))
    leads = _find_lead(conn, cipher, message)
    if not leads:
        return "ignored", None
    lead = leads[0]
    call = _dict(message.get("call"))
    call_id = call.get("id") if isinstance(call.get("id"), str) else None
    common = {
        "provider": "vapi",
        "lead_id": lead["id"],
        "broker_id": lead["assigned_broker_id"],
        "correlation_id": str(event_id),
    }
    if event_type == "status-update":
        event(conn, "call", str(message.get("status")), **common)
        return "processed", lead["id"]
    if event_type != "end-of-call-report":
        return "ignored", lead["id"]
    # Counted once per call: the event is stored once per call id.
    conn.execute(Q["record_call"], {"lead_id": lead["id"], "call_id": call_id})
    event(conn, "call", "ended", ended_reason=str(message.get("endedReason")), **common)
    result = outcome_of(message)
    route(
        conn,
        cipher,
        settings,
        leads,
        result,
        provider="vapi",
        at=datetime.now(UTC),
        correlation_id=str(event_id),
    )
    data = _dict(_dict(message.get("analysis")).get("structuredData"))
    token = _dict(call.get("metadata")).get("consent_token")
    # Consent counts only from the homeowner who wants the call (not from a
    # wrong person, nor alongside an opt-out).
    if data.get("consent") is True and result.intent in (
        ReplyIntent.INTERESTED,
        ReplyIntent.QUESTION,
    ):
        if not isinstance(token, str):
            event(conn, "consent", "missing_token", **common)
        else:
            try:
                with conn.transaction():
                    consent.redeem(
                        conn,
                        token,
                        method=ConsentMethod.VOICE_CALL,
                        disclosure_version=settings.disclosure_version,
                        expected_lead_id=lead["id"],
                        call_id=call_id,
                    )
                event(conn, "consent", "recorded", method="voice_call", **common)
            except DomainError as exc:
                event(conn, "consent", "refused", code=exc.code, **common)
    return "processed", lead["id"]
