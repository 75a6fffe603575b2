"""Time-ordered ids for rows written in bulk."""

from __future__ import annotations

import os
import time
import uuid


def uuid7() -> uuid.UUID:
    """An RFC 9562 version-7 UUID: 48-bit Unix milliseconds, then 74 random bits.

    Rows inserted together get neighbouring keys, so a million-row ingest
    appends to the right edge of the primary-key index instead of touching
    a random page per row (fewer page reads, splits and full-page WAL images).
    """
    millis = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    rand_a = rand >> 68  # 12 bits
    rand_b = rand & ((1 << 62) - 1)  # 62 bits
    value = (millis << 80) | (0x7 << 76) | (rand_a << 64) | (0b10 << 62) | rand_b
    return uuid.UUID(int=value)
