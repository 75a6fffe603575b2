"""Time-ordered UUIDs."""

from __future__ import annotations

import time
import uuid

from hypothesis import example, given
from hypothesis import strategies as st

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


@given(
    block=st.integers(0, 2**20),
    first=st.integers(0, 2**32 - 1000),
    count=st.integers(1, 1000),
    seed=st.integers(0, 2**122 - 1),
)
@example(block=0, first=0, count=10, seed=(1 << 62) - 5)  # the tail wraps inside the run
@example(block=0, first=0, count=5, seed=(1 << 62) - 6)  # ...and just does not
def test_a_run_of_ids_is_a_prefix_and_a_counter(
    block: int, first: int, count: int, seed: int
) -> None:
    ids = Uuid7Sequence()
    ids._base = seed  # any base, the wrap of the random tail included
    run = ids.run_at(block, first, count)
    if run is None:  # only where the 62-bit tail wraps inside the run
        value = (seed + (block << 32) + first) & ((1 << 122) - 1)
        assert (value & ((1 << 62) - 1)) + count > (1 << 62) - 1
        return
    prefix, start = run
    for k in (0, count // 2, count - 1):
        v = start + k
        assert f"{prefix}{v >> 48:04x}-{v & (2**48 - 1):012x}" == ids.at(block, first + k)
