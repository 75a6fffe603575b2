"""The broker API's request and response models (they feed the OpenAPI document)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field


class LeadOut(BaseModel):
    """A lead as its broker sees it, contact details decrypted."""

    id: uuid.UUID
    owner_first_name: str | None
    owner_last_name: str | None
    property_address: str | None
    property_city: str | None
    property_state: str | None
    property_zip: str | None
    lead_score: int
    score_breakdown: dict[str, Any]
    campaign_status: str
    email: str | None
    phone: str | None
    email_verified: bool
    phone_verified: bool
    phone_dnc: bool
    consent: bool
    consented_at: datetime | None
    last_reply_at: datetime | None
    last_reply_intent: str | None
    created_at: datetime
    may_call_now: bool = Field(
        description="Inside 08:00-21:00 local time for every zone the homeowner may be in "
        "(47 CFR 64.1200(c)(1)); false also when the phone is on a DNC list"
    )
    next_call_window: datetime | None = Field(
        description="When calling next becomes allowed (UTC), if not now"
    )
    extra: dict[str, str] = Field(
        default_factory=dict,
        description="The vendor file's columns we do not map (notes, memo, ...), decrypted; "
        "on the lead detail only (stored encrypted: free text may hold contact details)",
    )


class LeadPage(BaseModel):
    """One page of leads; pass ``next_cursor`` as ``cursor`` for the next."""

    items: list[LeadOut]
    next_cursor: str | None


BrokerStatus = Literal["paused", "replied", "do_not_contact", "converted", "active"]


class StatusChange(BaseModel):
    """A broker's status change. Only these targets are theirs to set."""

    campaign_status: BrokerStatus


class NoteIn(BaseModel):
    """A note on a lead."""

    body: str = Field(min_length=1, max_length=10_000)


class NoteOut(BaseModel):
    """A stored note."""

    id: int
    body: str
    created_at: datetime


class ConsentOut(BaseModel):
    """A consent record (evidence of prior express written consent)."""

    method: str
    disclosure_version: str
    consented_at: datetime
    by_call: bool


class BookingOut(BaseModel):
    """A Cal.com booking."""

    calcom_uid: str
    status: str
    start_time: datetime | None
    end_time: datetime | None
    event_type: str | None


class Reassign(BaseModel):
    """Ops: move a lead to another broker."""

    broker_id: uuid.UUID
