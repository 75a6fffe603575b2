"""Verification types."""

from __future__ import annotations

from enum import StrEnum


class ContactChannel(StrEnum):
    """Mirrors ``contact_channel``. Also the blind index's domain separator."""

    EMAIL = "email"
    PHONE = "phone"
