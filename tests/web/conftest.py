"""A seeded database and app for the dashboard tests, a live server and the browser.

Browser tests: ``browser`` is one Chromium (Debian's /usr/bin/chromium driven
by Playwright) per test module; ``live_server(app)`` serves an app on a free
port in a thread; ``screenshot(page, name)`` writes to
test-artifacts/screenshots/ (git-ignored) for a reviewer to look at.
Login helpers: ``broker_token``, ``login_client`` (TestClient) and
``login_page`` (Playwright).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from psycopg.types.json import Jsonb

from equity_connect.campaign.service import feed
from equity_connect.config import Settings
from equity_connect.db import migrate
from equity_connect.db.pool import connect
from equity_connect.ingest.schemas import SignatureScheme
from equity_connect.ingest.service import UploadMeta, ingest
from equity_connect.security.apikeys import generate_api_key
from equity_connect.security.crypto import Keyring, PiiCipher, generate_key
from equity_connect.security.jwt import issue_jwt
from equity_connect.web.app import create_app
from tests.factories import make_broker
from tests.ingest.helpers import csv_bytes, row

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

JWT_SECRET = "dashboard-test-jwt-secret-32-bytes-long!"
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
SCREENSHOTS = ARTIFACTS / "screenshots"


def broker_token(broker_id: uuid.UUID | str, secret: str = JWT_SECRET) -> str:
    """A broker's HS256 JWT, as Supabase would mint it (signed with EC_JWT_SECRET)."""
    return issue_jwt(secret=secret.encode(), sub=uuid.UUID(str(broker_id)))


def login_client(client: TestClient, credential: str) -> Any:
    """Log a TestClient in with an ops API key or a broker JWT; the cookie stays on it."""
    response = client.post(
        "/dashboard/login", data={"credential": credential}, follow_redirects=False
    )
    assert response.status_code == 303, response.text
    return response


def login_page(page: Page, base_url: str, credential: str, next_path: str = "") -> None:
    """Log a browser page in through the login form (lands on ``next_path`` or home)."""
    target = f"{base_url}/dashboard/login" + (f"?next={next_path}" if next_path else "")
    page.goto(target)
    page.fill("input[name=credential]", credential)
    page.click("form button[type=submit]")
    page.wait_for_url(re.compile(r".*/dashboard(?!/login).*"))


def screenshot(page: Page, name: str) -> Path:
    """A full-page screenshot in test-artifacts/screenshots/<name>.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def chromium_or_skip() -> None:
    """Skip (or in CI fail) when Debian's Chromium is missing."""
    if shutil.which(CHROMIUM) is None:
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is required in CI (.ci/run installs Debian's chromium)")
        pytest.skip(f"no browser at {CHROMIUM}: install Debian's chromium to run this test")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One headless Chromium for the whole test module (launching is the slow part)."""
    chromium_or_skip()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking"],
        )
        yield launched
        launched.close()


@contextmanager
def live_server(app: FastAPI) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free 127.0.0.1 port; yields its base URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture(scope="module")
def module_database_url(server_url: str) -> Iterator[str]:
    """A migrated database for one test module (browser modules seed it once)."""
    from tests.conftest import create_database, drop_database

    name = f"ec_mod_{uuid.uuid4().hex[:12]}"
    url = create_database(server_url, name)
    migrate.migrate(url)
    yield url
    drop_database(server_url, name)


def make_settings() -> Settings:
    """Fresh keys and the test JWT secret."""
    return Settings(
        encryption_keys=f"k1:{generate_key()}", index_key=generate_key(), jwt_secret=JWT_SECRET
    )


@pytest.fixture
def settings() -> Settings:
    return make_settings()


@pytest.fixture
def seeded(settings: Settings, fresh_database_url: str) -> dict[str, Any]:
    cipher = PiiCipher(Keyring.from_values(str(settings.encryption_keys), str(settings.index_key)))
    body = csv_bytes(
        [
            row(
                mak=f"55{i:08d}",
                property_address=f"{i + 1} Dash St",
                email=f"dash{i}@example.com",
                phone=f"(213) 555-{i:04d}",
            )
            for i in range(30)
        ]
        + [row(property_state="QQ")]
    )
    admin, reader = generate_api_key(), generate_api_key()
    with connect(fresh_database_url) as conn:
        broker = make_broker(conn, "Dana Broker")
        report = ingest(
            conn,
            cipher,
            [body],
            UploadMeta(hashlib.sha256(body).digest(), len(body), SignatureScheme.LOCAL, "vendor-x"),
        )
        conn.execute(
            "update leads set email_verified = true, phone_verified = true, "
            "campaign_status = 'queued' where mak < '5500000010'"
        )
        feed(conn, business_date=date(2026, 11, 30), cap=250, default_campaign="c")
        conn.execute("update leads set campaign_status = 'active' where feed_batch_id is not null")
        conn.execute(
            "insert into pipeline_dlq (source, payload, reason) values "
            "('skiptrace.enrich_batch', %s, 'melissa: out of credits (GE14)')",
            [Jsonb({"task": "skiptrace.enrich_batch", "args": {"lead_ids": []}})],
        )
        for key, scopes in ((admin, ["admin"]), (reader, ["leads:read"])):
            conn.execute(
                "insert into api_keys (key_id, name, secret_hash, scopes) values (%s, 'k', %s, %s)",
                [key.key_id, key.secret_hash, scopes],
            )
        conn.commit()
    return {
        "admin": admin.secret,
        "reader": reader.secret,
        "broker": broker,
        "upload": report.upload_id,
    }


@pytest.fixture
def client(
    settings: Settings, fresh_database_url: str, seeded: dict[str, Any]
) -> Iterator[TestClient]:
    with TestClient(create_app(settings, conninfo=fresh_database_url)) as c:
        yield c


@pytest.fixture
def live_url(settings: Settings, fresh_database_url: str, seeded: dict[str, Any]) -> Iterator[str]:
    """The seeded app served for a browser."""
    with live_server(create_app(settings, conninfo=fresh_database_url)) as url:
        yield url
