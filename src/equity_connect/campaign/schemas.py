"""Campaign types shared by the feeder, replies and the broker API."""

from __future__ import annotations

from enum import StrEnum


class CampaignStatus(StrEnum):
    """Mirrors the Postgres enum ``campaign_status``."""

    NEW = "new"
    QUEUED = "queued"
    ACTIVE = "active"
    REPLIED = "replied"
    PAUSED = "paused"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"
    DO_NOT_CONTACT = "do_not_contact"
    CONVERTED = "converted"


class SuppressionReason(StrEnum):
    """Mirrors ``suppression_reason``: why a contact value may never be used again."""

    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"
    DO_NOT_CONTACT = "do_not_contact"
    DNC = "dnc"
    WRONG_CONTACT = "wrong_contact"
    OPT_OUT = "opt_out"


class FeedBatchStatus(StrEnum):
    """Mirrors ``feed_batch_status``."""

    RESERVED = "reserved"
    PUSHED = "pushed"
    FAILED = "failed"
