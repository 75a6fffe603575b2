"""Helpers of the event tests: fast settings, subscribing, emitting, running the worker."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from psycopg_pool import ConnectionPool

from equity_connect.config import Settings
from equity_connect.db.pool import Conn
from equity_connect.events import service
from equity_connect.events.schemas import EventType
from equity_connect.jobs.catalog import registry
from equity_connect.jobs.worker import run_pending
from equity_connect.replies.classify import LocalClassifier
from equity_connect.replies.routing import Q, route
from equity_connect.security.crypto import Keyring, PiiCipher
from tests.factories import make_broker
from tests.factories import make_lead as factories_make_lead

# Small backoff and breaker settings keep the suite fast; the rules are the same.
FAST = Settings(
    pool_min_size=1,
    pool_max_size=8,
    events_timeout_seconds=0.5,
    events_max_attempts=4,
    events_backoff_base_seconds=0.05,
    events_backoff_cap_seconds=3.0,
    events_breaker_threshold=2,
    events_breaker_cooldown_seconds=30.0,
)


def subscribe(
    pool: ConnectionPool[Conn],
    keyring: Keyring,
    url: str,
    types: list[EventType],
    *,
    allow_pii: bool = False,
    settings: Settings = FAST,
) -> service.NewEndpoint:
    with pool.connection() as conn:
        return service.subscribe(
            conn, PiiCipher(keyring), settings, url, types, allow_pii=allow_pii
        )


def add_dead_letter(pool: ConnectionPool[Conn], source: str = "skiptrace.enrich_batch") -> int:
    """A dead letter, as jobs.service files one: its insert is what emits dlq.added."""
    with pool.connection() as conn:
        row = conn.execute(
            "insert into pipeline_dlq (source, payload, reason, attempts) "
            "values (%s, '{}'::jsonb, 'provider unavailable (HTTP 503)', 8) returning id",
            [source],
        ).fetchone()
    assert row is not None
    return int(row["id"])


def run_worker(
    pool: ConnectionPool[Conn],
    keyring: Keyring,
    *,
    settings: Settings = FAST,
    idle_horizon: float = 0.0,
    concurrency: int = 2,
) -> int:
    return run_pending(
        pool,
        registry,
        settings=settings,
        keyring=keyring,
        concurrency=concurrency,
        idle_horizon=idle_horizon,
    )


def rows(pool: ConnectionPool[Conn], sql: Any, params: Any = None) -> list[dict[str, Any]]:
    with pool.connection() as conn:
        return conn.execute(sql, params).fetchall()


def make_lead(pool: ConnectionPool[Conn], keyring: Keyring, *, email: str, phone: str) -> uuid.UUID:
    """A lead with encrypted contact details and a broker, committed."""
    with pool.connection() as conn:
        broker = make_broker(conn)
        return factories_make_lead(
            conn,
            broker,
            cipher=PiiCipher(keyring),
            email=email,
            phone=phone,
            owner_first_name="Ana",
            owner_last_name="Lopez",
            property_address="12 Main St",
            campaign_status="active",
        )


INTERESTED_TEXT = "Yes, I'm interested. Please call me tomorrow afternoon."


def route_reply(conn: Conn, keyring: Keyring, lead_id: uuid.UUID, text: str) -> None:
    """Classify ``text`` with the local rules and route it for the lead, as a reply would be."""
    lead = conn.execute(Q["lead_by_id"], {"id": lead_id}).fetchall()
    route(
        conn,
        PiiCipher(keyring),
        FAST,
        lead,
        LocalClassifier().classify(text),
        provider="instantly",
        at=datetime.now(UTC),
        correlation_id=str(uuid.uuid4()),
    )


def reply_interested(pool: ConnectionPool[Conn], keyring: Keyring, lead_id: uuid.UUID) -> None:
    with pool.connection() as conn:
        route_reply(conn, keyring, lead_id, INTERESTED_TEXT)
