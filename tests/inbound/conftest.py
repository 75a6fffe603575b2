"""An API app on a fresh database with every webhook secret set, and a real SMTP server."""

from __future__ import annotations

import email
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient
from psycopg_pool import ConnectionPool

from equity_connect.config import Settings
from equity_connect.db.pool import Conn, open_pool
from equity_connect.jobs.catalog import registry
from equity_connect.jobs.worker import run_pending
from equity_connect.security.crypto import Keyring, PiiCipher, generate_key
from equity_connect.web.app import create_app

INSTANTLY_SECRET = "instantly-shared-secret"
CALCOM_SECRET = "calcom-secret"
VAPI_SECRET = "vapi-secret"


@dataclass
class Inbox:
    """Messages the local SMTP server received."""

    messages: list[Message] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"

    def to(self, address: str) -> list[Message]:
        return [m for m in self.messages if m["To"] == address]


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    with socket.socket() as probe:  # aiosmtpd's readiness check needs a real port up front
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@pytest.fixture
def settings(smtp: tuple[Inbox, int]) -> Settings:
    return Settings(
        encryption_keys=f"k1:{generate_key()}",
        index_key=generate_key(),
        instantly_webhook_secrets=f"old-secret,{INSTANTLY_SECRET}",
        calcom_secrets=CALCOM_SECRET,
        vapi_secrets=VAPI_SECRET,
        smtp_host="127.0.0.1",
        smtp_port=smtp[1],
        public_base_url="http://testserver",
        max_webhook_bytes=32 * 1024,
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
def pool(fresh_database_url: str) -> Iterator[ConnectionPool[Conn]]:
    p = open_pool(Settings(pool_max_size=6), conninfo=fresh_database_url)
    yield p
    p.close()


@pytest.fixture
def run_jobs(pool: ConnectionPool[Conn], settings: Settings, keyring: Keyring) -> Any:
    def run() -> int:
        return run_pending(pool, registry, settings=settings, keyring=keyring, idle_horizon=2)

    return run
