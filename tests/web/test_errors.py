"""Database trouble inside a request is a 503 the client can retry, never a 500."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from fastapi import Request
from fastapi.testclient import TestClient
from psycopg import errors

from equity_connect.config import Settings
from equity_connect.security.crypto import generate_key
from equity_connect.web.app import create_app
from equity_connect.web.state import state_of

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

    # A route no edge check guards (simulated: the real ones refuse NUL first), sending
    # its text to the real database, under the API and under the dashboard.
    def store_text(request: Request, text: str) -> None:
        with state_of(request).pool.connection() as conn:
            conn.execute("select %s::text", [text])

    app.get("/test/unguarded-store")(store_text)
    app.get("/dashboard/test-unguarded-store")(store_text)

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


def test_a_value_the_database_cannot_hold_is_a_422_sentence(client: TestClient) -> None:
    assert client.get("/test/unguarded-store", params={"text": "fine"}).status_code == 200
    api = client.get("/test/unguarded-store", params={"text": "ab\x00c"})
    assert api.status_code == 422
    assert api.json()["error"] == "invalid_value"
    assert "NUL character" in api.json()["detail"]
    page = client.get(
        "/dashboard/test-unguarded-store",
        params={"text": "ab\x00c"},
        headers={"accept": "text/html"},
    )
    assert page.status_code == 422
    assert page.headers["content-type"].startswith("text/html")
    assert "NUL character" in page.text and "Traceback" not in page.text
