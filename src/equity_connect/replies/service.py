"""Instantly events: classify replies, apply the provider's own labels, route."""

from __future__ import annotations

import html
import re
import uuid
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

from equity_connect.campaign.suppression import suppress_value
from equity_connect.config import Settings
from equity_connect.db.pool import Conn
from equity_connect.normalize.email import normalize_email
from equity_connect.notifications.mailer import Mailer
from equity_connect.replies.classify import classify_reply
from equity_connect.replies.llm import LlmClassifier
from equity_connect.replies.routing import Q, Routed, route
from equity_connect.replies.schemas import Classification, ReplyIntent
from equity_connect.security.crypto import PiiCipher

# Instantly's own labels map straight to an intent; no classifier involved.
LABELS: dict[str, ReplyIntent] = {
    "lead_unsubscribed": ReplyIntent.UNSUBSCRIBE,
    "lead_wrong_person": ReplyIntent.WRONG_CONTACT,
    "lead_not_interested": ReplyIntent.NOT_INTERESTED,
    "lead_interested": ReplyIntent.INTERESTED,
    "lead_out_of_office": ReplyIntent.AUTO_REPLY,
}
_TAG = re.compile(r"<[^>]+>")


def _labelled(intent: ReplyIntent, event_type: str) -> Classification:
    return Classification(
        intent=intent, confidence=1.0, reasons=[f"instantly:{event_type}"], backend="provider"
    )


def _reply_text(payload: dict[str, Any]) -> str:
    for key in ("reply_text", "reply_text_snippet"):
        value = payload.get(key)
        if isinstance(value, str) and value.strip():
            return value
    value = payload.get("reply_html")
    return html.unescape(_TAG.sub(" ", value)) if isinstance(value, str) else ""


def _when(payload: dict[str, Any]) -> datetime:
    raw = payload.get("timestamp")
    if isinstance(raw, str):
        try:
            return datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            pass
    return datetime.now(UTC)


def consent_request(to: str, settings: Settings, routed: Routed) -> EmailMessage:
    """The email that gives an interested homeowner their consent (and booking) link."""
    msg = EmailMessage()
    msg["Subject"] = "Your equity review: confirm we may call you"
    msg["From"] = settings.smtp_from
    msg["To"] = to
    msg.set_content(
        "Thank you for your reply.\n\n"
        "To let a licensed loan officer call you and to pick a time, confirm here:\n"
        f"{routed.consent_link}\n\n"
        "You can opt out at any time by replying STOP.\n"
    )
    return msg


def handle_instantly(
    conn: Conn,
    cipher: PiiCipher,
    settings: Settings,
    event_type: str,
    payload: dict[str, Any],
    *,
    event_id: uuid.UUID,
    mailer: Mailer,
    llm: LlmClassifier | None = None,
) -> tuple[str, uuid.UUID | None]:
    """Process one stored Instantly event; returns (inbound status, lead id)."""
    email = normalize_email(
        payload.get("lead_email") if isinstance(payload.get("lead_email"), str) else None
    )
    if email is None:
        return "ignored", None
    index = cipher.blind_index("email", email)
    leads = conn.execute(Q["leads_by_email"], {"index": index}).fetchall()
    ours = payload.get("ec_lead_id")  # the custom variable we send with every lead
    if not leads and isinstance(ours, str):
        try:
            leads = conn.execute(Q["lead_by_id"], {"id": uuid.UUID(ours)}).fetchall()
        except ValueError:
            leads = []
    if event_type in ("lead_unsubscribed", "email_bounced"):
        # The address itself is suppressed even if no lead carries it any more.
        reason = "unsubscribed" if event_type == "lead_unsubscribed" else "bounced"
        suppress_value(
            conn, cipher, "email", email, reason=reason, source=f"instantly:{event_type}"
        )
    if not leads:
        if event_type in ("reply_received", "auto_reply_received"):
            # An opt-out from an address we no longer know is still an opt-out.
            result = classify_reply(_reply_text(payload), None, llm=None)
            if result.intent is ReplyIntent.UNSUBSCRIBE:
                suppress_value(
                    conn, cipher, "email", email, reason="unsubscribed", source="instantly:reply"
                )
                return "processed", None
        return "ignored", None
    lead_id: uuid.UUID = leads[0]["id"]
    at = _when(payload)
    if event_type in ("reply_received", "auto_reply_received"):
        subject = payload.get("reply_subject")
        result = classify_reply(
            _reply_text(payload), subject if isinstance(subject, str) else None, llm=llm
        )
        if event_type == "auto_reply_received" and result.intent is not ReplyIntent.UNSUBSCRIBE:
            result = result.model_copy(update={"intent": ReplyIntent.AUTO_REPLY})
        routed = route(
            conn,
            cipher,
            settings,
            leads,
            result,
            provider="instantly",
            at=at,
            correlation_id=str(event_id),
        )
        if routed.consent_link:
            # Sent inside the transaction: if sending fails, the token and the
            # routing roll back and the job retries with a fresh token, so no
            # nonce ever needs storing.
            mailer.send(consent_request(email, settings, routed))
        return "processed", lead_id
    if event_type == "email_bounced":
        # A bounce says this address cannot receive mail, nothing more: the address was
        # suppressed above (email channel only). The lead's phone and its other addresses
        # stay usable; suppressing them as "bounced" would stop calls to a good number.
        ids = [lead["id"] for lead in leads]
        conn.execute(
            Q["set_status"],
            {"lead_ids": ids, "status": "bounced", "reply_at": None, "intent": None},
        )
        return "processed", lead_id
    if event_type in LABELS:
        route(
            conn,
            cipher,
            settings,
            leads,
            _labelled(LABELS[event_type], event_type),
            provider="instantly",
            at=at,
            correlation_id=str(event_id),
        )
        return "processed", lead_id
    return "ignored", lead_id
