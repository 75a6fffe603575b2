"""One migrated database, brokers A and B with leads, ops keys, and a live API on loopback,
shared by the MCP server tests of a module (they only add rows they look up by id)."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import uvicorn

from equity_connect.config import Settings
from equity_connect.db import migrate
from equity_connect.db.pool import connect
from equity_connect.security.apikeys import generate_api_key
from equity_connect.security.crypto import Keyring, PiiCipher, generate_key
from equity_connect.security.jwt import issue_jwt
from equity_connect.web.app import create_app
from tests.conftest import create_database, drop_database
from tests.factories import make_broker, make_lead

JWT_SECRET = "a-supabase-project-jwt-secret-of-32+bytes"
ENCRYPTION_KEYS = f"k1:{generate_key()}"
INDEX_KEY = generate_key()


def settings() -> Settings:
    return Settings(
        encryption_keys=ENCRYPTION_KEYS,
        index_key=INDEX_KEY,
        jwt_secret=JWT_SECRET,
        mcp_rate_per_sec=50,
        mcp_burst=200,
    )


def jwt_for(broker: uuid.UUID, **kw: Any) -> str:
    return issue_jwt(secret=JWT_SECRET.encode(), sub=broker, **kw)


@pytest.fixture(scope="module")
def mcp_db(server_url: str) -> Iterator[str]:
    name = f"ec_mcp_{uuid.uuid4().hex[:12]}"
    url = create_database(server_url, name)
    migrate.migrate(url)
    yield url
    drop_database(server_url, name)


@pytest.fixture(scope="module")
def world(mcp_db: str) -> dict[str, Any]:
    cipher = PiiCipher(Keyring.from_values(ENCRYPTION_KEYS, INDEX_KEY))
    keys: dict[str, str] = {}
    with connect(mcp_db) as conn:
        a, b = make_broker(conn, "A"), make_broker(conn, "B")
        a_leads = [
            make_lead(
                conn,
                a,
                cipher=cipher,
                email=f"a{i}@example.com",
                phone=f"+1213555000{i}",
                lead_score=10 * i,
                property_state="CA",
                property_zip="90001",
            )
            for i in range(3)
        ]
        b_leads = [make_lead(conn, b, cipher=cipher, email=f"b{i}@example.com") for i in range(2)]
        for name, scopes in (
            ("admin", ["admin"]),
            ("reader", ["leads:read"]),
            ("dlq", ["dlq:replay"]),
        ):
            key = generate_api_key()
            conn.execute(
                "insert into api_keys (key_id, name, secret_hash, scopes) values (%s, %s, %s, %s)",
                [key.key_id, name, key.secret_hash, scopes],
            )
            keys[name] = key.secret
        conn.commit()
    return {"a": a, "b": b, "a_leads": a_leads, "b_leads": b_leads, **keys}


@contextmanager
def serve(config: Settings, db: str) -> Iterator[str]:
    """The real API (``create_app``) under uvicorn in a thread; its ``/mcp`` URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(config, conninfo=db), host="127.0.0.1", port=port, log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture(scope="module")
def live_url(mcp_db: str, world: dict[str, Any]) -> Iterator[str]:
    """The API with the MCP server, live on loopback for the module."""
    with serve(settings(), mcp_db) as url:
        yield url
