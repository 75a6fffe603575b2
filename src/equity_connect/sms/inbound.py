"""Inbound texts: SignalWire's cXML messaging webhook, carrier keywords, then the classifier.

SignalWire posts an incoming message as a form (``MessageSid``, ``AccountSid``, ``From``,
``To``, ``Body``, ``NumMedia``…; its cXML "Messaging" reference) and reads our answer as a
cXML document: ``<Response><Message>…</Message></Response>`` texts the sender back in the
same exchange. That is how HELP, STOP and START are answered (a reply the homeowner asked
for: no job, no daily limit, no calling-hours deferral), and an empty ``<Response/>``
answers everything else.

The order, as for every webhook: verify, store once (``inbound_events`` unique per
``MessageSid``), answer; the classification and routing run in the ``inbound`` job. An
opt-out keyword is applied *at once* as well: the number is suppressed in the storing
transaction, so a 2xx means the STOP holds before any job runs.

Routing:

* **STOP & co.** (``sms.keywords``) → the number suppressed (every channel reads the one
  suppression set), the carrier-level opt-out recorded, and every lead with that number
  routed as ``unsubscribe``: all their contact values suppressed on every channel.
* **"Stop texting me but you can email"** is not a keyword; the classifier's opt-out guard
  reads it as an opt-out and it is routed the same way. Compliance first: we do not try to
  keep the e-mail channel open on the strength of a sentence (docs/providers.md).
* **HELP** → the brokerage's name and contact, and how to stop. Nothing else changes.
* **START/UNSTOP** → the carrier-level opt-out of the number is cleared (the carrier lets
  our messages through again) and nothing more: no suppression is lifted.
* Anything else → the reply classifier (channel ``sms``) and ``replies.routing.route``,
  exactly like an e-mail reply; the number is recorded as confirmed by the homeowner.
"""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from equity_connect.campaign.suppression import suppress_value
from equity_connect.config import Settings
from equity_connect.db.pool import Conn
from equity_connect.errors import DomainError
from equity_connect.inbound.decode import BodyError
from equity_connect.normalize.phone import to_e164
from equity_connect.replies.classify import classify_reply
from equity_connect.replies.routing import Q as REPLIES_Q
from equity_connect.replies.routing import event, route
from equity_connect.replies.schemas import Classification, ReplyIntent
from equity_connect.security.crypto import PiiCipher
from equity_connect.sms.keywords import Keyword, keyword_of
from equity_connect.sms.service import Q, confirm_number

MAX_FIELDS = 100  # a message has ~10 fields, plus two per media item (at most 10)
MESSAGE = "message"  # the event type of an inbound text


def decode_form(body: bytes) -> list[tuple[str, str]]:
    """The form's (name, value) pairs, in order; refused (400) unless UTF-8
    ``application/x-www-form-urlencoded`` with unique names."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BodyError(
            "body_not_utf8", f"body is not valid UTF-8 (byte {exc.start}): send a UTF-8 form"
        ) from exc
    if not text.strip():
        raise BodyError("empty_body", "body is empty: send the message as a form")
    try:
        pairs = parse_qsl(
            text,
            keep_blank_values=True,
            strict_parsing=True,
            encoding="utf-8",
            errors="strict",
            max_num_fields=MAX_FIELDS,
        )
    except (ValueError, UnicodeDecodeError) as exc:
        raise BodyError(
            "malformed_form", "body is not an application/x-www-form-urlencoded form"
        ) from exc
    names = [k for k, _ in pairs]
    if len(set(names)) != len(names):
        raise BodyError("duplicate_key", "body has the same field twice")
    if any("\x00" in k or "\x00" in v for k, v in pairs):
        raise BodyError("malformed_form", "body has a NUL character")
    return pairs


def message_sid(data: dict[str, str]) -> str:
    """The delivery id: ``MessageSid`` (``SmsSid`` on older numbers); a 400 without one."""
    sid = data.get("MessageSid") or data.get("SmsSid")
    if not sid:
        raise DomainError(400, "malformed_event", "MessageSid is missing")
    return sid


def reply_for(settings: Settings, data: dict[str, str]) -> str | None:
    """The text we answer with, in the webhook's cXML response; None for no answer."""
    keyword = keyword_of(data.get("Body"))
    name = settings.brand_name
    contact = f" {settings.brand_contact}." if settings.brand_contact else ""
    if keyword is Keyword.OPT_OUT:
        # The one confirmation the FCC's revocation rule allows; nothing else follows.
        return f"{name}: you are unsubscribed and will get no more messages from us."
    if keyword is Keyword.HELP:
        return (
            f"{name}: home equity reviews.{contact} Reply STOP to opt out. "
            "Msg&data rates may apply."
        )
    if keyword is Keyword.OPT_IN:
        return (
            f"{name}: noted. Because you opted out before, we will not text you unless you ask "
            f"a loan officer to contact you again.{contact}"
        )
    return None


def laml_response(message: str | None) -> bytes:
    """The cXML document SignalWire reads: ``<Response>`` with at most one ``<Message>``.

    Built by ElementTree, which escapes the text (a ``<`` or ``&`` in a name stays text).
    """
    root = ET.Element("Response")
    if message is not None:
        ET.SubElement(root, "Message").text = message
    document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return document


def on_receipt(conn: Conn, cipher: PiiCipher, data: dict[str, str]) -> None:
    """What is done in the storing transaction itself: an opt-out keyword suppresses its
    number at once (the lead-wide opt-out follows in the job)."""
    phone = to_e164(data.get("From"))
    if phone is None or keyword_of(data.get("Body")) is not Keyword.OPT_OUT:
        return
    suppress_value(conn, cipher, "phone", phone, reason="unsubscribed", source="signalwire:stop")
    _keyword_state(conn, cipher, phone, opted_out=True, keyword="stop")


def _keyword_state(
    conn: Conn, cipher: PiiCipher, phone: str, *, opted_out: bool, keyword: str
) -> None:
    conn.execute(
        Q["set_keyword_state"],
        {"index": cipher.blind_index("phone", phone), "opted_out": opted_out, "keyword": keyword},
    )


def handle_signalwire(
    conn: Conn,
    cipher: PiiCipher,
    settings: Settings,
    event_type: str,
    payload: dict[str, Any],
    *,
    event_id: uuid.UUID,
) -> tuple[str, uuid.UUID | None]:
    """Process one stored inbound text; returns (inbound status, lead id)."""
    data = {k: v for k, v in payload.items() if isinstance(v, str)}
    phone = to_e164(data.get("From"))
    if event_type != MESSAGE or phone is None:
        return "ignored", None
    index = cipher.blind_index("phone", phone)
    leads = conn.execute(REPLIES_Q["leads_by_phone"], {"index": index}).fetchall()
    known = {lead["id"] for lead in leads}
    # A number the homeowner gave us in a reply is theirs too, though no lead carries it.
    leads += [
        r
        for r in conn.execute(Q["leads_by_sms_number"], {"index": index}).fetchall()
        if r["id"] not in known
    ]
    text = data.get("Body", "")
    keyword = keyword_of(text)
    at = datetime.now(UTC)
    common = {"provider": "signalwire", "correlation_id": str(event_id)}
    if keyword is Keyword.OPT_OUT:
        on_receipt(conn, cipher, data)  # idempotent: the receiver did it already
        result = Classification(
            intent=ReplyIntent.UNSUBSCRIBE,
            confidence=1.0,
            reasons=["sms:keyword:opt_out"],
            backend="provider",
        )
    elif keyword is Keyword.HELP:
        lead = leads[0] if leads else None
        event(
            conn,
            "texted",
            "help_answered",
            lead_id=lead["id"] if lead else None,
            broker_id=lead["assigned_broker_id"] if lead else None,
            **common,
        )
        return "processed", lead["id"] if lead else None
    elif keyword is Keyword.OPT_IN:
        _keyword_state(conn, cipher, phone, opted_out=False, keyword="start")
        lead = leads[0] if leads else None
        event(
            conn,
            "texted",
            "opt_in_keyword",
            lead_id=lead["id"] if lead else None,
            broker_id=lead["assigned_broker_id"] if lead else None,
            **common,
        )
        return "processed", lead["id"] if lead else None
    else:
        result = classify_reply(text, None, channel="sms")
        if result.intent is ReplyIntent.UNSUBSCRIBE:
            # An opt-out in words counts for the number it came from, lead or not.
            suppress_value(
                conn,
                cipher,
                "phone",
                phone,
                reason="unsubscribed",
                source="signalwire:reply",
                lead_id=leads[0]["id"] if leads else None,
            )
    if not leads:
        if result.intent is ReplyIntent.UNSUBSCRIBE:
            event(conn, "replied", "unsubscribe", lead_id=None, broker_id=None, **common)
            return "processed", None
        return "ignored", None
    if result.intent not in (ReplyIntent.UNSUBSCRIBE, ReplyIntent.WRONG_CONTACT):
        # They texted us from this number: it is theirs to be answered on.
        confirm_number(conn, cipher, leads[0]["id"], phone, source="sms_inbound")
    route(
        conn,
        cipher,
        settings,
        leads,
        result,
        provider="signalwire",
        at=at,
        correlation_id=str(event_id),
    )
    return "processed", leads[0]["id"]
