"""What the MCP tools return (their output schemas)."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field

from equity_connect.brokers.schemas import BookingOut, ConsentOut, LeadOut, NoteOut
from equity_connect.leads.schemas import TimelineEntry


class LeadTimeline(BaseModel):
    """A lead with everything that happened to it."""

    lead: LeadOut
    notes: list[NoteOut]
    consent: list[ConsentOut]
    bookings: list[BookingOut]
    timeline: list[TimelineEntry] = Field(
        description=(
            "everything that happened, newest first: upload rows, skip-trace lookups, "
            "campaign pushes, replies, calls, consent, bookings, notes, suppressions, audit"
        )
    )


class CallingWindow(BaseModel):
    """Whether the lead may be called now, and if not, when."""

    lead_id: uuid.UUID
    may_call_now: bool
    forbidden: bool = Field(description="an opt-out, DNC or suppression forbids calling at all")
    next_call_window: datetime | None = Field(description="next allowed instant (UTC), if any")


class FunnelStage(BaseModel):
    """One funnel stage and how many leads reached it."""

    stage: str
    leads: int


class Funnel(BaseModel):
    """upload → dedupe → verified → fed → replied → booked."""

    stages: list[FunnelStage]


class UploadOut(BaseModel):
    """An upload and its report counts."""

    id: uuid.UUID
    received_at: datetime
    source: str | None
    filename: str | None
    status: str
    row_count: int | None
    inserted_count: int | None
    merged_count: int | None
    rejected_count: int | None
    error: str | None


class RejectOut(BaseModel):
    """A rejected row: where and why (its cells stay out: they may hold PII)."""

    row_number: int
    line_number: int | None
    field: str | None
    reason: str


class DeadLetter(BaseModel):
    """A pending dead letter."""

    id: int
    source: str
    reason: str | None
    attempts: int
    created_at: datetime


class Replayed(BaseModel):
    """The dead letter that was put back on the queue."""

    replayed: int
