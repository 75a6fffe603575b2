"""What a homeowner's answer does to their lead, wherever it came from (email or call).

- unsubscribe → every contact value suppressed on every channel, status unsubscribed
- wrong_contact → do_not_contact, values suppressed as wrong contact
- auto_reply → an event, nothing else
- not_interested → paused
- question → replied, broker notified
- interested → replied, broker notified, consent token and booking link issued, and the
  consent link queued by text (sms/: sent only to a number the homeowner gave or confirmed)
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from equity_connect.campaign.suppression import suppress_leads
from equity_connect.config import Settings
from equity_connect.consent import service as consent
from equity_connect.db import queries
from equity_connect.db.pool import Conn
from equity_connect.notifications import service as notifications
from equity_connect.replies.schemas import Classification, ReplyIntent
from equity_connect.security.crypto import PiiCipher
from equity_connect.sms import service as texts

Q = queries.load("equity_connect.replies")


@dataclass(frozen=True)
class Routed:
    """The outcome of routing one answer."""

    intent: ReplyIntent
    lead_ids: list[uuid.UUID]
    consent_link: str | None = None
    booking_link: str | None = None


def event(
    conn: Conn,
    stage: str,
    outcome: str,
    *,
    provider: str | None,
    lead_id: uuid.UUID | None,
    broker_id: uuid.UUID | None,
    correlation_id: str | None,
    **detail: Any,
) -> None:
    """A pipeline event for one lead (no PII: ids and codes only)."""
    conn.execute(
        Q["record_event"],
        {
            "stage": stage,
            "outcome": outcome,
            "provider": provider,
            "lead_id": lead_id,
            "broker_id": broker_id,
            "correlation_id": correlation_id,
            "detail": Jsonb(detail),
        },
    )


def route(
    conn: Conn,
    cipher: PiiCipher,
    settings: Settings,
    leads: list[dict[str, Any]],
    result: Classification,
    *,
    provider: str,
    at: datetime,
    correlation_id: str,
) -> Routed:
    """Apply ``result`` to the lead(s) the answer came from.

    Opt-outs apply to every lead sharing the contact value (one owner may hold
    several properties); engagement applies to the most recently fed one.
    """
    intent = ReplyIntent(result.intent)
    all_ids = [lead["id"] for lead in leads]
    lead = leads[0]
    ids = (
        all_ids if intent in (ReplyIntent.UNSUBSCRIBE, ReplyIntent.WRONG_CONTACT) else [lead["id"]]
    )
    common = {"provider": provider, "correlation_id": correlation_id}
    links: dict[str, str | None] = {"consent_link": None, "booking_link": None}
    if intent is ReplyIntent.UNSUBSCRIBE:
        suppress_leads(conn, cipher, ids, reason="unsubscribed", source=f"{provider}:reply")
        _status(conn, ids, "unsubscribed", intent, at)
    elif intent is ReplyIntent.WRONG_CONTACT:
        suppress_leads(conn, cipher, ids, reason="wrong_contact", source=f"{provider}:reply")
        _status(conn, ids, "do_not_contact", intent, at)
    elif intent is ReplyIntent.AUTO_REPLY:
        conn.execute(Q["note_reply"], {"lead_ids": ids, "reply_at": None, "intent": str(intent)})
    elif intent is ReplyIntent.NOT_INTERESTED:
        _status(conn, ids, "paused", intent, at)
    elif _status(conn, ids, "replied", intent, at):
        # (an opted-out or converted lead is not moved, and gets no offer or alert)
        broker = lead["assigned_broker_id"]
        if broker is not None:
            kind = "reply_interested" if intent is ReplyIntent.INTERESTED else "reply_question"
            notifications.queue(conn, broker, lead["id"], kind, f"{kind}:{correlation_id}")
        if intent is ReplyIntent.INTERESTED:
            links = _offer_booking(conn, settings, lead["id"], broker)
            if result.phone:  # "call me at …": a number the homeowner gave
                texts.confirm_number(conn, cipher, lead["id"], result.phone, source="reply_text")
            # The consent link and the broker's name by text too (its job checks every guard).
            texts.queue_text(
                conn,
                settings,
                lead["id"],
                texts.CONSENT_LINK,
                texts.consent_text_key(lead["id"], at),
            )
    for lead_id in ids:
        event(
            conn,
            "replied",
            str(intent),
            lead_id=lead_id,
            broker_id=lead["assigned_broker_id"],
            confidence=result.confidence,
            backend=result.backend,
            **common,
        )
    return Routed(intent, ids, links["consent_link"], links["booking_link"])


def _status(
    conn: Conn, ids: list[uuid.UUID], status: str, intent: ReplyIntent, at: datetime
) -> int:
    """Move the leads to ``status``; returns how many moved (opt-outs never move back)."""
    return conn.execute(
        Q["set_status"],
        {"lead_ids": ids, "status": status, "reply_at": at, "intent": str(intent)},
    ).rowcount


def _offer_booking(
    conn: Conn, settings: Settings, lead_id: uuid.UUID, broker_id: uuid.UUID | None
) -> dict[str, str | None]:
    """Issue a consent token; its link leads, after consent, to the broker's booking page."""
    token = consent.issue(conn, lead_id, broker_id, ttl_hours=settings.consent_ttl_hours)
    url = None
    if broker_id is not None:
        row = conn.execute(Q["broker_calcom"], {"id": broker_id}).fetchone()
        url = row["calcom_event_url"] if row else None
    return {
        "consent_link": consent.consent_link(settings.public_base_url, token.nonce),
        "booking_link": consent.booking_link(url, token.token_id) if url else None,
    }
