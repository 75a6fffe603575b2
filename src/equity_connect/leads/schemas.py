"""What the lead list and the lead page show, in and out."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from equity_connect.campaign.schemas import CampaignStatus


class LeadSort(StrEnum):
    """The lead list's orders (each served by an index: migration 0020)."""

    SCORE = "score"
    NEWEST = "newest"
    NAME = "name"
    CITY = "city"


class LeadFilters(BaseModel):
    """A lead search: free text plus filters; None means "any"."""

    q: str | None = Field(None, max_length=200)
    status: CampaignStatus | None = None
    min_score: int | None = Field(None, ge=0, le=100)
    max_score: int | None = Field(None, ge=0, le=100)
    has_consent: bool | None = None
    callable_now: bool = False
    upload: uuid.UUID | None = None
    sort: LeadSort = LeadSort.SCORE
    page: int = Field(1, ge=1, le=100_000)
    size: int = Field(50, ge=1, le=200)


class SearchTerms(BaseModel):
    """How the free text is matched: the kind it was read as and the bound values."""

    kind: str  # "none", "text", "zip", "phone", "email" or "invalid"
    prefix: str | None = None
    first: str | None = None
    last: str | None = None
    zip: str | None = None
    phone_index: bytes | None = None
    email_index: bytes | None = None
    problem: str | None = None  # why the text matches nothing (e.g. not a valid phone)


class LeadRow(BaseModel):
    """One row of the lead list."""

    id: uuid.UUID
    owner: str
    property: str
    score: int
    status: str
    phone: str | None
    email: str | None
    callable_now: bool
    next_call_window: datetime | None


class LeadPage(BaseModel):
    """A page of the lead list with the total that matched."""

    items: list[LeadRow]
    total: int
    page: int
    size: int
    terms: SearchTerms


class Contact(BaseModel):
    """A phone or email found for a lead, with its verification and provenance."""

    channel: str
    value: str
    provider: str
    codes: list[str]
    code_meanings: list[str]
    verified: bool
    dnc: bool
    phone_type: str | None
    found_at: datetime
    primary: bool


class ScoreFactor(BaseModel):
    """One line of the score's explanation."""

    factor: str
    points: int
    why: str


class TimelineEntry(BaseModel):
    """One thing that happened to a lead."""

    at: datetime
    # lead, upload, skiptrace, campaign, reply, call, consent, booking, note, suppression, audit
    kind: str
    title: str
    detail: str = ""
    source: str | None = None  # the provider or upload it came from


class MatchReason(BaseModel):
    """Why one upload row is part of this lead: the exact key it matched by, or the
    probabilistic match's score and which fields agreed and differed."""

    upload: str  # the file name (or "an upload")
    row_number: int
    status: str  # inserted (the row made the lead) or merged
    key: str | None  # mak, apn, addr_hash, probabilistic, or None for the row that made it
    why: str
    score: float | None = None
    agreed: list[str] = Field(default_factory=list)
    differed: list[str] = Field(default_factory=list)
    levels: list[tuple[str, str]] = Field(default_factory=list)  # (field, level)
    weights_version: str | None = None
    matched: str | None = None  # what it was matched against: a lead, or a line of the file


class HomeItem(BaseModel):
    """A lead on the broker's home page, with the reason it is there."""

    lead_id: uuid.UUID
    owner: str
    place: str
    at: datetime | None
    note: str
