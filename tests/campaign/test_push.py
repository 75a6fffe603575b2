"""Pushing a feed batch to the campaign provider: retries, activation, failures."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from datetime import date
from typing import Any

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from equity_connect.campaign.instantly import (
    LEAD_KEYS,
    AddLeadsResult,
    InstantlyLead,
    SimulatedInstantly,
)
from equity_connect.campaign.service import feed
from equity_connect.config import Settings
from equity_connect.db.pool import Conn, connect, open_pool
from equity_connect.jobs.catalog import registry
from equity_connect.jobs.worker import RetryPolicy, Worker
from equity_connect.outbound.retry import ProviderRejected
from equity_connect.security.crypto import Keyring, PiiCipher, generate_key
from tests.factories import make_broker, make_lead

KEYRING = Keyring.from_values(f"k1:{generate_key()}", generate_key())
CIPHER = PiiCipher(KEYRING)
SETTINGS = Settings(pool_max_size=6, campaign_provider="simulator")


@pytest.fixture
def pool(fresh_database_url: str) -> Iterator[ConnectionPool[Conn]]:
    p = open_pool(SETTINGS, conninfo=fresh_database_url)
    yield p
    p.close()


def reserve(url: str, n: int) -> None:
    with connect(url) as conn:
        make_broker(conn)
        for i in range(n):
            make_lead(
                conn,
                cipher=CIPHER,
                email=f"o{i}@example.com",
                phone=f"+1213555{i:04d}",
                campaign_status="queued",
                phone_verified=True,
                email_verified=True,
                lead_score=50,
                owner_first_name="Ann",
            )
        feed(conn, business_date=date(2026, 11, 30), cap=250, default_campaign="camp-9")
        conn.commit()


def run(pool: ConnectionPool[Conn], importer: Any) -> None:
    Worker(
        pool,
        registry,
        settings=SETTINGS,
        keyring=KEYRING,
        poll_seconds=0.02,
        policy=RetryPolicy(base_seconds=0.01, cap_seconds=0.05),
        services={"campaign_importer": importer},
    ).run(threading.Event(), until_idle=True, idle_horizon=3)


def statuses(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        return dict(
            conn.execute("select campaign_status::text, count(*) from leads group by 1").fetchall()
        )


def test_rate_limited_then_success_feeds_once(
    pool: ConnectionPool[Conn], fresh_database_url: str
) -> None:
    reserve(fresh_database_url, 12)
    fake = SimulatedInstantly(fail_first=1, retry_after=0.01)
    run(pool, fake)
    assert statuses(fresh_database_url) == {"active": 12}
    accepted = [c for c in fake.calls if not c.rate_limited]
    assert len(accepted) == 1 and len(accepted[0].leads) == 12
    body = accepted[0].body
    assert set(body) == {
        "campaign_id",
        "skip_if_in_workspace",
        "skip_if_in_campaign",
        "verify_leads_on_import",
        "leads",
    }
    assert body["campaign_id"] == "camp-9" and body["skip_if_in_workspace"] is True
    assert all(set(lead) <= LEAD_KEYS for lead in body["leads"])
    assert {lead["email"] for lead in body["leads"]} == {f"o{i}@example.com" for i in range(12)}
    with psycopg.connect(fresh_database_url) as conn:
        stamped = conn.execute(
            "select count(*) from leads where added_to_campaign_at is not null"
        ).fetchone()
        fed = conn.execute("select sum(count) from pipeline_events where stage = 'fed'").fetchone()
    assert stamped == (12,) and fed == (12,)


class Refusing:
    """A provider that refuses for good (e.g. 402: no paid plan)."""

    def add_leads(
        self, campaign_id: str, leads: Sequence[InstantlyLead], **_: Any
    ) -> AddLeadsResult:
        raise ProviderRejected("instantly", "no paid plan", status_code=402)


def test_permanent_failure_leaves_leads_queued_and_files_a_dead_letter(
    pool: ConnectionPool[Conn], fresh_database_url: str
) -> None:
    reserve(fresh_database_url, 5)
    run(pool, Refusing())
    assert statuses(fresh_database_url) == {"queued": 5}
    with psycopg.connect(fresh_database_url) as conn:
        dlq = conn.execute("select source, reason from pipeline_dlq").fetchall()
        assert conn.execute(
            "select count(*) from leads where added_to_campaign_at is null"
        ).fetchone() == (5,)
    assert dlq == [("campaign.push_batch", "ProviderRejected: instantly: no paid plan (HTTP 402)")]


def test_a_suppression_added_after_the_reservation_stops_the_push(
    pool: ConnectionPool[Conn], fresh_database_url: str
) -> None:
    reserve(fresh_database_url, 4)
    with psycopg.connect(fresh_database_url) as conn:
        conn.execute(
            "insert into suppressions (channel, value_index, reason, source) "
            "select 'email', email_index, 'unsubscribed', 'late' from leads "
            "order by id limit 1"
        )
        conn.commit()
    fake = SimulatedInstantly()
    run(pool, fake)
    assert statuses(fresh_database_url) == {"active": 3, "queued": 1}
    assert sum(len(c.leads) for c in fake.calls) == 3


def test_the_scheduled_feed_uses_the_same_default_campaign_as_the_cli(
    pool: ConnectionPool[Conn], fresh_database_url: str
) -> None:
    # A simulator setup whose brokers have no campaign of their own: the 06:00
    # job must feed (into the simulated campaign), as `equity-connect feed` does.
    with connect(fresh_database_url) as conn:
        make_broker(conn)
        make_lead(
            conn,
            cipher=CIPHER,
            email="s@example.com",
            phone="+12135550000",
            campaign_status="queued",
            phone_verified=True,
            email_verified=True,
        )
        from equity_connect.jobs import service as jobs

        jobs.enqueue(conn, "campaign.feed_daily", {"business_date": "2026-11-30"})
        conn.commit()
    fake = SimulatedInstantly()
    run(pool, fake)
    assert statuses(fresh_database_url) == {"active": 1}
    assert [c.body["campaign_id"] for c in fake.calls] == ["simulated-campaign"]
