"""How long a Cal.com event waits for a booking it refers to, attempt by attempt."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from equity_connect.booking.service import BookingNotYetKnown, wait_delay
from equity_connect.config import Settings
from equity_connect.jobs.worker import RetryPolicy, _describe

DEFAULTS = Settings()


@given(st.integers(min_value=1, max_value=10_000), st.integers(min_value=0))
def test_each_wait_is_half_to_all_of_the_capped_nominal(attempt: int, seed: int) -> None:
    nominal = min(
        DEFAULTS.calcom_wait_cap_seconds,
        DEFAULTS.calcom_wait_base_seconds * 2.0 ** min(attempt - 1, 32),
    )
    delay = wait_delay(DEFAULTS, attempt, random.Random(seed))
    assert nominal / 2 <= delay <= nominal


def test_the_default_eight_attempts_wait_minutes_not_seconds() -> None:
    # Full jitter could draw ~0 s and spend an attempt at once; this never
    # waits less than half the nominal, so seven retries take at least ~5 min.
    low = sum(wait_delay(DEFAULTS, n, _Fixed(0.0)) for n in range(1, 8))
    high = sum(wait_delay(DEFAULTS, n, _Fixed(1.0)) for n in range(1, 8))
    assert (low, high) == (317.5, 635.0)


def test_the_worker_retries_after_the_wait_and_keeps_the_reason() -> None:
    exc = BookingNotYetKnown("BOOKING_CANCELLED for booking abc, which has not been", 12.5)
    assert RetryPolicy().delay(exc, attempt=3, rng=random.Random(1)) == 12.5
    assert _describe(exc) == (
        "BookingNotYetKnown: BOOKING_CANCELLED for booking abc, which has not been"
    )


class _Fixed(random.Random):
    """uniform(a, b) at a fixed fraction of the way from a to b."""

    def __init__(self, fraction: float) -> None:
        super().__init__(0)
        self.fraction = fraction

    def uniform(self, a: float, b: float) -> float:
        return a + (b - a) * self.fraction
