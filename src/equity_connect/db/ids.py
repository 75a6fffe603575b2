"""Time-ordered ids for rows written in bulk."""

from __future__ import annotations

import os
import time


class Uuid7Sequence:
    """Many RFC 9562 version-7 UUIDs from one timestamp and one random seed.

    RFC 9562's "monotonic random" method: the 74 random bits of the first
    id are drawn once, and id ``n`` adds ``n`` to them. Rows inserted
    together get neighbouring keys, so a million-row ingest appends to the
    right edge of the primary-key index instead of touching a random page
    per row (fewer page reads, splits and full-page WAL images). Ids cost a few integer
    operations instead of a system call each, and ``at(block, n)`` lets
    worker processes name ids without talking to each other: blocks of up
    to 2**32 ids each, up to 2**42 blocks.
    """

    __slots__ = ("_base",)

    def __init__(self) -> None:
        millis = time.time_ns() // 1_000_000
        seed = int.from_bytes(os.urandom(10), "big") >> 6  # 74 bits
        self._base = (millis << 74) | seed

    def run_at(self, block: int, first: int, count: int) -> tuple[str, int] | None:
        """Ids ``first .. first + count - 1`` of ``block`` as (the text every one
        starts with, the integer value of the first one's last 64 bits), when
        those ids differ only there (else None: the caller uses ``at``).

        Id ``n + 1``'s last 64 bits are id ``n``'s plus one unless the 62-bit
        random tail wraps, so a run of ids is one prefix and a counter:
        ``f"{prefix}{v >> 48:04x}-{v & (2**48 - 1):012x}"`` is ``at(block, first + k)``
        for ``v = start + k``.
        """
        value = (self._base + (block << 32) + first) & _MASK_122
        if (value & _MASK_62) + count > _MASK_62 or count < 1:
            return None
        text = self.at(block, first)
        low = int(text[19:].replace("-", ""), 16)
        return text[:19], low

    def at(self, block: int, n: int) -> str:
        """The canonical text of id ``n`` of ``block``."""
        value = (self._base + (block << 32) + n) & _MASK_122
        rand = value & _MASK_74
        full = (
            ((value >> 74) << 80)
            | (0x7 << 76)
            | ((rand >> 62) << 64)
            | (0b10 << 62)
            | (rand & _MASK_62)
        )
        h = f"{full:032x}"
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_MASK_62 = (1 << 62) - 1
_MASK_74 = (1 << 74) - 1
_MASK_122 = (1 << 122) - 1
