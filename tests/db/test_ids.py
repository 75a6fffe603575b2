"""Time-ordered UUIDs."""

from __future__ import annotations

import time

from equity_connect.db.ids import uuid7


def test_uuid7_layout_and_order() -> None:
    first = uuid7()
    time.sleep(0.002)
    later = [uuid7() for _ in range(1000)]
    assert first.version == 7
    assert first.variant == "specified in RFC 4122"
    assert all(first < u for u in later)
    assert len(set(later)) == 1000
    millis = first.int >> 80
    assert abs(millis - time.time() * 1000) < 5_000
