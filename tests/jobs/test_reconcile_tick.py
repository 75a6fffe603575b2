"""The worker's suppression-flag reconcile tick: it repairs a stale flag, at most once
per interval (a simulated clock stands in for time.monotonic)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from psycopg_pool import ConnectionPool

from equity_connect.campaign.suppression import suppress_value
from equity_connect.config import Settings
from equity_connect.db.pool import Conn, connect, open_pool
from equity_connect.jobs.commands import reconcile_ticker
from equity_connect.security.crypto import PiiCipher
from tests.factories import make_broker, make_lead


@pytest.fixture
def pool(fresh_database_url: str) -> Iterator[ConnectionPool[Conn]]:
    p = open_pool(Settings(), conninfo=fresh_database_url)
    yield p
    p.close()


def stale_lead(url: str, cipher: PiiCipher, phone: str) -> uuid.UUID:
    """A lead whose number is suppressed but whose flag is false, as the race of a lead
    and its suppression committed concurrently leaves it (made here by two connections)."""
    with connect(url) as a, connect(url) as b:
        lead = make_lead(a, make_broker(a), cipher=cipher, phone=phone, property_state="CA")
        suppress_value(b, cipher, "phone", phone, reason="opt_out", source="tick-test")
        b.commit()
        a.commit()
    return lead


def flag(url: str, lead: uuid.UUID) -> bool:
    with connect(url) as conn:
        row = conn.execute("select contact_suppressed from leads where id = %s", [lead]).fetchone()
    assert row is not None
    return bool(row["contact_suppressed"])


def test_the_tick_repairs_a_stale_flag_once_per_interval(
    pool: ConnectionPool[Conn], fresh_database_url: str, cipher: PiiCipher
) -> None:
    simulated_now = [1000.0]
    tick = reconcile_ticker(pool, every_seconds=60, clock=lambda: simulated_now[0])
    first = stale_lead(fresh_database_url, cipher, "+16265550301")
    assert flag(fresh_database_url, first) is False
    tick()
    assert flag(fresh_database_url, first) is True
    second = stale_lead(fresh_database_url, cipher, "+16265550302")
    simulated_now[0] += 30  # within the interval: no run
    tick()
    assert flag(fresh_database_url, second) is False
    simulated_now[0] += 31
    tick()
    assert flag(fresh_database_url, second) is True
