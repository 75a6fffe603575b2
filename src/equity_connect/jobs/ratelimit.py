"""A token bucket per provider, kept in Postgres so every worker shares it."""

from __future__ import annotations

import time
from collections.abc import Callable

from psycopg_pool import ConnectionPool

from equity_connect.db.pool import Conn
from equity_connect.jobs.service import Q


class RateLimitTimeout(Exception):
    """Tokens did not become available within the caller's deadline."""


class SharedTokenBucket:
    """``rate_per_sec`` tokens a second, at most ``burst`` at once, for all workers together."""

    def __init__(
        self,
        pool: ConnectionPool[Conn],
        provider: str,
        *,
        rate_per_sec: float,
        burst: float,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.pool = pool
        self.provider = provider
        self.sleep = sleep
        with pool.connection() as conn:
            conn.execute(
                Q["ensure_bucket"],
                {"provider": provider, "capacity": burst, "refill_per_sec": rate_per_sec},
            )

    def try_take(self, n: float = 1.0) -> float:
        """Take ``n`` tokens if available (returns 0), else the seconds to wait."""
        with self.pool.connection() as conn:
            row = conn.execute(Q["take_tokens"], {"provider": self.provider, "n": n}).fetchone()
        if row is None:
            raise RuntimeError(f"no rate-limit bucket for {self.provider!r}")
        return float(row["wait_seconds"])

    def acquire(self, n: float = 1.0, *, timeout: float = 300.0) -> None:
        """Block until ``n`` tokens are taken; ``RateLimitTimeout`` after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            wait = self.try_take(n)
            if wait <= 0:
                return
            if time.monotonic() + wait > deadline:
                raise RateLimitTimeout(f"{self.provider}: no tokens within {timeout:.0f}s")
            self.sleep(wait)
