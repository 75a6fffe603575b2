"""Event types, delivery states and the ops API's models."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field


class EventType(StrEnum):
    """What an endpoint can subscribe to (the migration's check constraint lists the same)."""

    UPLOAD_COMPLETED = "upload.completed"
    LEAD_REPLIED = "lead.replied"
    LEAD_INTERESTED = "lead.interested"
    LEAD_UNSUBSCRIBED = "lead.unsubscribed"
    CONSENT_RECORDED = "consent.recorded"
    LEAD_BOOKED = "lead.booked"
    BOOKING_CANCELLED = "booking.cancelled"
    DLQ_ADDED = "dlq.added"


class DeliveryStatus(StrEnum):
    """Mirrors ``event_delivery_status``."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class SubscribeIn(BaseModel):
    """A new endpoint: where to send which events."""

    url: str = Field(max_length=2000, description="https URL (http only to loopback)")
    event_types: list[EventType] = Field(min_length=1)
    description: str | None = Field(default=None, max_length=200)
    allow_pii: bool = Field(
        default=False, description="add the lead's decrypted contact details to payloads"
    )


class EndpointOut(BaseModel):
    """An endpoint as ops see it (never its secret)."""

    id: uuid.UUID
    url: str
    description: str | None
    event_types: list[str]
    allow_pii: bool
    enabled: bool
    consecutive_failures: int
    breaker_open_until: datetime | None
    created_at: datetime


class EndpointCreated(EndpointOut):
    """The new endpoint with its signing secret, shown this once."""

    secret: str = Field(description="whsec_… Standard Webhooks key: store it now")


class DeliveryOut(BaseModel):
    """One event's delivery to one endpoint."""

    id: int
    event_id: uuid.UUID
    webhook_id: str
    event_type: str
    endpoint_id: uuid.UUID
    status: DeliveryStatus
    attempts: int
    last_status_code: int | None
    last_error: str | None
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    replays: int
    created_at: datetime


class AttemptOut(BaseModel):
    """One line of the delivery log (``round`` counts replays: 0 is the first sending)."""

    round: int
    attempt: int
    outcome: str
    status_code: int | None
    error: str | None
    duration_ms: float | None
    attempted_at: datetime


class DeliveryDetail(DeliveryOut):
    """A delivery with its log."""

    log: list[AttemptOut]


def webhook_id(event_id: uuid.UUID) -> str:
    """The ``webhook-id`` of an event: stable across retries, replays and endpoints."""
    return f"evt_{event_id.hex}"
