"""Inbound webhook types."""

from __future__ import annotations

from enum import StrEnum


class InboundProvider(StrEnum):
    """Mirrors ``inbound_provider``."""

    INSTANTLY = "instantly"
    VAPI = "vapi"
    CALCOM = "calcom"


class InboundStatus(StrEnum):
    """Mirrors ``inbound_status``."""

    RECEIVED = "received"
    PROCESSED = "processed"
    IGNORED = "ignored"
    FAILED = "failed"
