"""An API app with SignalWire configured (simulated sender) on a fresh database."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from psycopg_pool import ConnectionPool

from equity_connect.config import Settings
from equity_connect.db import migrate
from equity_connect.db.pool import Conn, connect, open_pool
from equity_connect.jobs.catalog import registry
from equity_connect.jobs.worker import run_pending
from equity_connect.security.crypto import Keyring, PiiCipher, generate_key
from equity_connect.security.signatures import sign_signalwire
from equity_connect.sms.client import SimulatedSignalWire
from tests.conftest import create_database, drop_database
from tests.factories import make_broker, make_lead

SIGNING_KEY = "PSKtest-signing-key-for-equity-connect"
PUBLIC = "https://ec.example.org"  # behind a proxy: not the host the app sees
HOOK = "/v1/webhooks/signalwire"
FIXTURES = Path(__file__).parents[1] / "fixtures" / "providers" / "signalwire"
OWNER_PHONE = "+12135550147"
# 10:00 in Los Angeles on a Tuesday: inside calling hours for a California homeowner.
IN_HOURS = datetime(2026, 12, 1, 18, 0, tzinfo=UTC)


def fixture_params(name: str, **replace: str) -> list[tuple[str, str]]:
    params = [tuple(p) for p in json.loads((FIXTURES / name).read_text())["params"]]
    return [(k, replace.get(k, v)) for k, v in params]  # type: ignore[misc]


def signed_post(
    client: TestClient,
    params: list[tuple[str, str]],
    *,
    url: str = PUBLIC + HOOK,
    key: str = SIGNING_KEY,
    header: str = "X-SignalWire-Signature",
) -> Any:
    body = urlencode(params)
    sig = sign_signalwire(key.encode(), url, params)
    return client.post(
        HOOK,
        content=body,
        headers={header: sig, "content-type": "application/x-www-form-urlencoded"},
    )


@pytest.fixture(scope="module")
def sms_database(server_url: str) -> Iterator[str]:
    """One migrated database per module (migrating one per test would dominate the run)."""
    name = f"ec_sms_{uuid.uuid4().hex[:12]}"
    url = create_database(server_url, name)
    migrate.migrate(url)
    yield url
    drop_database(server_url, name)


@pytest.fixture
def fresh_database_url(sms_database: str) -> str:
    """The module's database, emptied of everything a test here writes."""
    with connect(sms_database) as conn:
        conn.execute(
            "truncate leads, brokers, jobs, pipeline_dlq, inbound_events, suppressions, "
            "sms_numbers, sms_messages, sms_opt_outs, pipeline_events, consent_tokens, "
            "security_events, feed_days cascade"
        )
        conn.commit()
    return sms_database


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        encryption_keys=f"k1:{generate_key()}",
        index_key=generate_key(),
        signalwire_signing_keys=f"old-key,{SIGNING_KEY}",
        sms_provider="simulator",
        public_base_url=PUBLIC,
        brand_name="Sunrise Home Equity",
        brand_support_phone="(505) 555-0100",
        data_dir=tmp_path,
    )


@pytest.fixture
def keyring(settings: Settings) -> Keyring:
    return Keyring.from_values(str(settings.encryption_keys), str(settings.index_key))


@pytest.fixture
def cipher(keyring: Keyring) -> PiiCipher:
    return PiiCipher(keyring)


@pytest.fixture
def client(settings: Settings, fresh_database_url: str) -> Iterator[TestClient]:
    from equity_connect.web.app import create_app

    with TestClient(create_app(settings, conninfo=fresh_database_url)) as c:
        yield c


@pytest.fixture
def pool(fresh_database_url: str) -> Iterator[ConnectionPool[Conn]]:
    p = open_pool(Settings(pool_max_size=10), conninfo=fresh_database_url)
    yield p
    p.close()


@pytest.fixture
def outbox(tmp_path: Path) -> SimulatedSignalWire:
    return SimulatedSignalWire(tmp_path / "sms-outbox")


@pytest.fixture
def run_jobs(
    pool: ConnectionPool[Conn], settings: Settings, keyring: Keyring, outbox: SimulatedSignalWire
) -> Callable[..., int]:
    def run(clock: Callable[[], datetime] = lambda: IN_HOURS) -> int:
        return run_pending(
            pool,
            registry,
            settings=settings,
            keyring=keyring,
            idle_horizon=1,
            services={"sms_sender": outbox, "clock": clock},
        )

    return run


def seed_lead(
    url: str, cipher: PiiCipher, *, phone: str = OWNER_PHONE, **columns: Any
) -> uuid.UUID:
    """A queued, verified California lead with an assigned broker (committed)."""
    with connect(url) as conn:
        broker = conn.execute("select id from brokers order by created_at limit 1").fetchone()
        broker_id = broker["id"] if broker else make_broker(conn, "Alex Rivera")
        values: dict[str, Any] = {
            "campaign_status": "queued",
            "phone_verified": True,
            "email_verified": True,
            "property_state": "CA",
            "property_zip": "90012",
            "owner_first_name": "Ada",
            **columns,
        }
        lead = make_lead(
            conn,
            broker_id,
            cipher=cipher,
            email=f"owner{uuid.uuid4().hex[:8]}@example.com",
            phone=phone,
            **values,
        )
        conn.commit()
    return lead
