"""Database trouble inside a request is a 503 the client can retry, never a 500."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg import errors

from equity_connect.config import Settings
from equity_connect.security.crypto import generate_key
from equity_connect.web.app import create_app

RAISED: dict[str, Exception] = {
    "closed": psycopg.InterfaceError("the connection is closed"),
    "terminated": errors.AdminShutdown("terminating connection due to administrator command"),
    "timeout": errors.QueryCanceled("canceling statement due to statement timeout"),
}


@pytest.fixture
def client(fresh_database_url: str) -> Iterator[TestClient]:
    settings = Settings(encryption_keys=f"k1:{generate_key()}", index_key=generate_key())
    app = create_app(settings, conninfo=fresh_database_url)

    @app.get("/test/raise/{what}")
    def raise_it(what: str) -> None:
        raise RAISED[what]

    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.mark.parametrize(
    ("what", "code"),
    [
        ("closed", "database_unavailable"),
        ("terminated", "database_unavailable"),
        ("timeout", "database_busy"),
    ],
)
def test_database_errors_are_503_with_retry_after(client: TestClient, what: str, code: str) -> None:
    answer = client.get(f"/test/raise/{what}")
    assert answer.status_code == 503
    assert answer.json()["error"] == code
    assert answer.headers["retry-after"] == "5"
