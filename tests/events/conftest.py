"""A database these tests may commit to (the worker commits), a pool, and fast settings."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from equity_connect.db import migrate
from equity_connect.db.pool import Conn, open_pool
from tests.conftest import create_database, drop_database
from tests.events.helpers import FAST


@pytest.fixture(scope="session")
def events_db(server_url: str) -> Iterator[str]:
    """One migrated database for the event tests that commit; each test empties it first."""
    name = f"ec_events_{uuid.uuid4().hex[:12]}"
    url = create_database(server_url, name)
    migrate.migrate(url)
    yield url
    drop_database(server_url, name)


@pytest.fixture
def pool(events_db: str) -> Iterator[ConnectionPool[Conn]]:
    with psycopg.connect(events_db, autocommit=True) as admin:
        admin.execute(
            "truncate event_endpoints, outbound_events, event_deliveries, "
            "event_delivery_attempts, jobs, pipeline_dlq, pipeline_events, "
            "consent_records, consent_tokens, bookings, leads, uploads, brokers cascade"
        )
    p = open_pool(FAST, conninfo=events_db)
    try:
        yield p
    finally:
        p.close()
