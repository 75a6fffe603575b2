"""Time-ordered UUIDs."""

from __future__ import annotations

import time
import uuid

from equity_connect.db.ids import Uuid7Sequence


def test_uuid7_layout_and_order() -> None:
    ids = Uuid7Sequence()
    first = uuid.UUID(ids.at(0, 1))
    later = [uuid.UUID(ids.at(block, n)) for block in range(3) for n in range(2, 400)]
    assert first.version == 7
    assert first.variant == "specified in RFC 4122"
    assert all(first < u for u in later)
    assert later == sorted(later)
    assert len(set(later)) == len(later)
    millis = first.int >> 80
    assert abs(millis - time.time() * 1000) < 5_000


def test_two_sequences_do_not_collide() -> None:
    a, b = Uuid7Sequence(), Uuid7Sequence()
    assert {a.at(0, n) for n in range(1000)}.isdisjoint({b.at(0, n) for n in range(1000)})
