"""Refused requests, counted instead of written one row each.

An unauthenticated flood used to cost one ``security_events`` insert per
request (8,146 rows in 10 s at 809 requests/s). A process now writes, per
kind, code and remote address, the first refusal of a window at once (so a
new attack shows up immediately) and counts the rest in memory; the count
goes out as ``hits`` with the next write after the window, for that key or
any other, or when the process stops (``drain``). Rows stay bounded by keys
× windows × processes, whatever the request rate. Past ``max_keys``
addresses (a spread-out flood), refusals are counted per kind and code
without the address, so memory stays bounded too.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

Key = tuple[str, str, str | None]


@dataclass(frozen=True)
class RejectionRow:
    """One ``security_events`` row: ``hits`` refusals from ``first_at`` to ``last_at``."""

    kind: str
    code: str
    remote_addr: str | None
    detail: dict[str, Any]
    hits: int
    first_at: datetime
    last_at: datetime


@dataclass
class _Entry:
    written_at: float  # monotonic time of this key's last write
    pending: int = 0
    first_at: datetime | None = None
    last_at: datetime | None = None
    detail: dict[str, Any] = field(default_factory=dict)


def _now() -> datetime:
    return datetime.now(UTC)


class RejectionCounter:
    """Counts refusals per (kind, code, address) and says which rows to write when."""

    def __init__(
        self,
        *,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = _now,
    ) -> None:
        self._entries: dict[Key, _Entry] = {}
        self._lock = threading.Lock()  # request handlers run on a thread pool
        self._max_keys = max_keys
        self._clock = clock
        self._wall = wall

    def hit(
        self,
        kind: str,
        code: str,
        remote_addr: str | None,
        detail: dict[str, Any],
        *,
        window_seconds: float,
    ) -> list[RejectionRow]:
        """Count one refusal; return the rows to write now (often none)."""
        with self._lock:
            now, at = self._clock(), self._wall()
            key: Key = (kind, code, remote_addr)
            if key not in self._entries and len(self._entries) >= self._max_keys:
                self._evict_idle(now, window_seconds)
                if len(self._entries) >= self._max_keys:
                    key = (kind, code, None)
            entry = self._entries.get(key)
            if entry is not None and now - entry.written_at < window_seconds:
                entry.pending += 1
                entry.first_at = entry.first_at or at
                entry.last_at = at
                entry.detail = detail
                return []
            hits = 1 + (entry.pending if entry else 0)
            first = entry.first_at if entry and entry.first_at else at
            self._entries[key] = _Entry(written_at=now)
            due = [RejectionRow(kind, code, key[2], detail, hits, first, at)]
            due.extend(self._take_due(now, window_seconds))
            return due

    def drain(self) -> list[RejectionRow]:
        """Every count not yet written (at shutdown)."""
        with self._lock:
            return self._take_due(float("inf"), 0.0)

    def _take_due(self, now: float, window_seconds: float) -> list[RejectionRow]:
        due: list[RejectionRow] = []
        for (kind, code, addr), entry in self._entries.items():
            if entry.pending and now - entry.written_at >= window_seconds:
                assert entry.first_at is not None
                assert entry.last_at is not None
                due.append(
                    RejectionRow(
                        kind, code, addr, entry.detail, entry.pending, entry.first_at, entry.last_at
                    )
                )
                entry.pending, entry.first_at, entry.last_at = 0, None, None
                entry.written_at = min(now, self._clock())
        return due

    def _evict_idle(self, now: float, window_seconds: float) -> None:
        idle = [
            k
            for k, e in self._entries.items()
            if not e.pending and now - e.written_at >= window_seconds
        ]
        for k in idle:
            del self._entries[k]
