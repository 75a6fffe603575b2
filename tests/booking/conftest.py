"""An API app and a real worker on a fresh database, with Cal.com's waits made short."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from psycopg_pool import ConnectionPool

from equity_connect.config import Settings
from equity_connect.db.pool import Conn, open_pool
from equity_connect.security.crypto import Keyring, PiiCipher, generate_key
from equity_connect.web.app import create_app
from tests.booking.calcom import SECRET
from tests.inbound.conftest import smtp  # noqa: F401 - a real SMTP server for broker mail


@pytest.fixture
def settings(smtp: tuple[object, int]) -> Settings:  # noqa: F811
    return Settings(
        encryption_keys=f"k1:{generate_key()}",
        index_key=generate_key(),
        calcom_secrets=SECRET,
        smtp_host="127.0.0.1",
        smtp_port=smtp[1],
        public_base_url="http://testserver",
        # Production waits 5 s, 10 s, … for a booking not received yet; tests
        # keep the same schedule shape at a scale that runs in milliseconds.
        calcom_wait_base_seconds=0.02,
        calcom_wait_cap_seconds=0.2,
    )


@pytest.fixture
def keyring(settings: Settings) -> Keyring:  # the app's keys, not the session's
    return Keyring.from_values(str(settings.encryption_keys), str(settings.index_key))


@pytest.fixture
def cipher(keyring: Keyring) -> PiiCipher:
    return PiiCipher(keyring)


@pytest.fixture
def client(settings: Settings, fresh_database_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(settings, conninfo=fresh_database_url)) as c:
        yield c


@pytest.fixture
def pool(settings: Settings, fresh_database_url: str) -> Iterator[ConnectionPool[Conn]]:
    # As `equity-connect worker` sizes it: one connection per slot, plus two.
    size = settings.worker_concurrency + 2
    p = open_pool(Settings(pool_max_size=size), conninfo=fresh_database_url)
    yield p
    p.close()
