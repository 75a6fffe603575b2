"""Inbound webhook types and reply classification results."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class InboundProvider(StrEnum):
    """Mirrors ``inbound_provider``."""

    INSTANTLY = "instantly"
    VAPI = "vapi"
    CALCOM = "calcom"
    SIGNALWIRE = "signalwire"


class InboundStatus(StrEnum):
    """Mirrors ``inbound_status``."""

    RECEIVED = "received"
    PROCESSED = "processed"
    IGNORED = "ignored"
    FAILED = "failed"


class ReplyIntent(StrEnum):
    """What a homeowner's email reply asks for; decides how the reply is routed."""

    INTERESTED = "interested"
    NOT_INTERESTED = "not_interested"
    UNSUBSCRIBE = "unsubscribe"
    WRONG_CONTACT = "wrong_contact"
    AUTO_REPLY = "auto_reply"
    QUESTION = "question"


class Classification(BaseModel):
    """The classifier's verdict on one reply.

    ``reasons`` names the rules and fallbacks that decided (never reply text or PII), so a
    routing decision can be explained from the stored event alone.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    intent: ReplyIntent
    confidence: float = Field(ge=0.0, le=1.0, allow_inf_nan=False)
    phone: str | None = Field(default=None, pattern=r"^\+[1-9][0-9]{1,14}$")
    consent: bool = False
    reasons: list[str] = Field(default_factory=list)
    # "provider": the provider labelled the event itself (e.g. Instantly lead_unsubscribed)
    backend: Literal["local", "llm", "provider"] = "local"


class ConsentMethod(StrEnum):
    """Mirrors ``consent_method``: how the homeowner gave consent."""

    WEB_CLICK = "web_click"
    VOICE_CALL = "voice_call"
    EMAIL_REPLY = "email_reply"


class BookingStatus(StrEnum):
    """Mirrors ``booking_status``."""

    ACCEPTED = "accepted"
    RESCHEDULED = "rescheduled"
    CANCELLED = "cancelled"


class NotificationStatus(StrEnum):
    """Mirrors ``notification_status``."""

    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
