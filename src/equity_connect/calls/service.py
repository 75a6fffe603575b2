"""VAPI call events: count the attempt, read the outcome, route it, record voice consent."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from equity_connect.calls.ended import ended_outcome
from equity_connect.calls.message import (
    CONSENT_TOKEN_KEY,
    LEAD_ID_KEY,
    CallContext,
    call_context,
    homeowner_turns,
    outcome_data,
    says_opt_out,
    summary,
)
from equity_connect.campaign.suppression import suppress_value
from equity_connect.config import Settings
from equity_connect.consent import service as consent
from equity_connect.db import queries
from equity_connect.db.pool import Conn
from equity_connect.errors import DomainError
from equity_connect.normalize.phone import to_e164
from equity_connect.replies.classify import classify_reply
from equity_connect.replies.routing import Q, event, route
from equity_connect.replies.schemas import Classification, ConsentMethod, ReplyIntent
from equity_connect.security.crypto import PiiCipher
from equity_connect.security.pii import lead_contact
from equity_connect.sms import service as texts

CALLS_Q = queries.load("equity_connect.calls")


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


@dataclass(frozen=True)
class PreparedCall:
    """VAPI's ``CreateCallDto`` for one lead, and the consent token it carries."""

    body: dict[str, Any]
    token_id: uuid.UUID

    def __repr__(self) -> str:  # the body holds a phone number and a consent nonce
        return f"PreparedCall(token_id={self.token_id})"


def prepare_call(
    conn: Conn, cipher: PiiCipher, settings: Settings, lead_id: uuid.UUID
) -> PreparedCall:
    """The body of VAPI's ``POST /call`` for calling this lead, with a new consent token.

    VAPI's ``Call`` has no metadata of its own: the lead id and the consent nonce go
    in ``assistantOverrides.metadata`` (VapiAI/server-sdk-python ``AssistantOverrides``),
    which VAPI echoes on the call in every server message, and which
    ``calls.message`` reads back. Refused (409) when the lead may not be called.
    """
    row = conn.execute(CALLS_Q["call_target"], {"id": lead_id}).fetchone()
    if row is None:
        raise DomainError(404, "lead_not_found", "no lead has this id")
    if row["forbidden"]:
        raise DomainError(
            409, "lead_not_callable", "this lead opted out or is on a do-not-call list"
        )
    phone = lead_contact(cipher, row, "phone")
    if phone is None:
        raise DomainError(409, "lead_has_no_phone", "this lead has no phone number to call")
    if not settings.vapi_assistant_id or not settings.vapi_phone_number_id:
        raise DomainError(
            409,
            "vapi_not_configured",
            "set EC_VAPI_ASSISTANT_ID and EC_VAPI_PHONE_NUMBER_ID to start VAPI calls",
        )
    token = consent.issue(
        conn, lead_id, row["assigned_broker_id"], ttl_hours=settings.consent_ttl_hours
    )
    body = {
        "assistantId": settings.vapi_assistant_id,
        "phoneNumberId": settings.vapi_phone_number_id,
        "customer": {"number": phone},
        "assistantOverrides": {
            "metadata": {LEAD_ID_KEY: str(lead_id), CONSENT_TOKEN_KEY: token.nonce}
        },
    }
    return PreparedCall(body, token.token_id)


def _customer_phone(message: dict[str, Any]) -> str | None:
    """The homeowner's number in E.164: ``message.customer``, else ``call.customer``."""
    customer = _dict(message.get("customer")) or _dict(_dict(message.get("call")).get("customer"))
    number = customer.get("number")
    return to_e164(number) if isinstance(number, str) else None


def _leads_by_phone(conn: Conn, cipher: PiiCipher, phone: str | None) -> list[dict[str, Any]]:
    if phone is None:
        return []
    return conn.execute(
        Q["leads_by_phone"], {"index": cipher.blind_index("phone", phone)}
    ).fetchall()


def _find_lead(
    conn: Conn, cipher: PiiCipher, message: dict[str, Any], context: CallContext
) -> list[dict[str, Any]]:
    """The lead the call was about: the id we put on the call, else the customer's number."""
    if context.lead_id is not None:
        try:
            row = conn.execute(Q["lead_by_id"], {"id": uuid.UUID(context.lead_id)}).fetchone()
        except ValueError:
            row = None
        if row is not None:
            return [row]
    return _leads_by_phone(conn, cipher, _customer_phone(message))


def outcome_of(message: dict[str, Any]) -> Classification:
    """The call's outcome.

    Sources, all read from where VAPI puts them (see ``calls.message``):
    ``analysis.structuredData`` and ``artifact.structuredOutputs`` (our assistant's
    keys: ``do_not_call``, ``wrong_person``, ``interested``), the summary, and the
    homeowner's own turns of the conversation. An opt-out anywhere wins; the
    homeowner's turns are always checked for one, because a summary can leave it out.
    Then an ``endedReason`` that says nobody answered (``calls.ended``) decides
    before the call's content is read.
    """
    data = outcome_data(message)
    text = summary(message)
    from_summary = classify_reply(text, channel="call") if text.strip() else None
    said = homeowner_turns(message)
    from_turns = classify_reply(said, channel="call") if said.strip() else None

    def labelled(intent: ReplyIntent, why: str) -> Classification:
        return Classification(intent=intent, confidence=1.0, reasons=[why], backend="provider")

    if says_opt_out(message):
        return labelled(ReplyIntent.UNSUBSCRIBE, "vapi:structured:do_not_call")
    for verdict in (from_summary, from_turns):
        if verdict is not None and verdict.intent is ReplyIntent.UNSUBSCRIBE:
            return verdict
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
    if from_turns is not None:
        return from_turns
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
    context = call_context(message)
    leads = _find_lead(conn, cipher, message, context)
    result = outcome_of(message) if event_type == "end-of-call-report" else None
    opted_out = result is not None and result.intent is ReplyIntent.UNSUBSCRIBE
    phone = _customer_phone(message)
    if opted_out and phone is not None:
        # An opt-out is the person's, for the number they were called on: every
        # lead with that number opts out, and the number itself is suppressed
        # even when it matches no lead (an inbound call from an unknown number).
        known = {lead["id"] for lead in leads}
        leads += [r for r in _leads_by_phone(conn, cipher, phone) if r["id"] not in known]
        suppress_value(
            conn,
            cipher,
            "phone",
            phone,
            reason="unsubscribed",
            source="vapi:call",
            lead_id=leads[0]["id"] if leads else None,
        )
    if not leads:
        if opted_out and phone is not None:
            event(
                conn,
                "replied",
                "unsubscribe",
                provider="vapi",
                lead_id=None,
                broker_id=None,
                correlation_id=str(event_id),
            )
            return "processed", None
        return "ignored", None
    lead = leads[0]
    call_id = context.call_id
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
    assert result is not None  # an end-of-call report
    if phone is not None and result.intent in (ReplyIntent.INTERESTED, ReplyIntent.QUESTION):
        # They took the call on this number and want to hear more: a number they confirmed
        # (no-answer and voicemail outcomes are auto replies, never here).
        texts.confirm_number(conn, cipher, lead["id"], phone, source="call_answered")
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
    data = outcome_data(message)
    token = context.consent_token
    # Consent counts only from the homeowner who wants the call (not from a
    # wrong person, nor alongside an opt-out).
    if data.get("consent") is True and result.intent in (
        ReplyIntent.INTERESTED,
        ReplyIntent.QUESTION,
    ):
        if token is None:
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
