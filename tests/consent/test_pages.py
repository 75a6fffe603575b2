"""The homeowner's consent page and its error pages: branded HTML, the right status,
JSON only for a client that asks for it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from html.parser import HTMLParser

import psycopg
import pytest
from fastapi.testclient import TestClient

from equity_connect.config import Settings
from equity_connect.consent import service
from equity_connect.db import migrate
from equity_connect.db.pool import connect
from equity_connect.security.crypto import generate_key
from equity_connect.web.app import create_app
from tests.conftest import create_database, drop_database
from tests.factories import make_broker, make_lead

BRAND = {
    "brand_name": "Sunrise Home Equity",
    "brand_nmls_id": "1234567",
    "privacy_policy_url": "https://sunrise.example/privacy",
    "brand_support_phone": "+1 213 555 0100",
    "brand_support_email": "help@sunrise.example",
}


@pytest.fixture(scope="module")
def db_url(server_url: str) -> Iterator[str]:
    name = f"ec_consent_{uuid.uuid4().hex[:12]}"
    url = create_database(server_url, name)
    migrate.migrate(url)
    yield url
    drop_database(server_url, name)


@pytest.fixture(scope="module")
def client(db_url: str) -> Iterator[TestClient]:
    settings = Settings(encryption_keys=f"k1:{generate_key()}", index_key=generate_key(), **BRAND)
    with TestClient(create_app(settings, conninfo=db_url)) as c:
        yield c


def _link(db_url: str, *, ttl_hours: int = 24, booking: bool = False) -> str:
    with connect(db_url) as conn:
        broker = make_broker(conn, "Lena Loan-Officer")
        if booking:
            conn.execute(
                "update brokers set calcom_event_url = 'https://cal.example.test/lena' "
                "where id = %s",
                [broker],
            )
        lead = make_lead(conn, broker)
        token = service.issue(conn, lead, broker, ttl_hours=ttl_hours)
        conn.commit()
    return token.nonce


class _Landmarks(HTMLParser):
    """The tags and attributes a screen reader leans on."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def test_the_consent_page_is_branded_and_accessible(client: TestClient, db_url: str) -> None:
    nonce = _link(db_url)
    page = client.get(f"/v1/consent/{nonce}")
    assert page.status_code == 200
    text = page.text
    assert "Sunrise Home Equity" in text and "NMLS ID 1234567" in text
    assert "Lena Loan-Officer" in text
    assert 'href="https://sunrise.example/privacy"' in text
    assert "Disclosure version 2026-11-tcpa-v1" in text
    assert "Sunrise Home Equity and its licensed loan officers may call" in text
    assert "<script" not in text and "style=" not in text
    parsed = _Landmarks()
    parsed.feed(text)
    tags = [t for t, _ in parsed.tags]
    assert {"header", "main", "footer", "h1"} <= set(tags)
    assert ("html", {"lang": "en"}) in parsed.tags
    assert any(t == "meta" and a.get("name") == "viewport" for t, a in parsed.tags)
    assert any(t == "a" and a.get("class") == "skip" for t, a in parsed.tags)
    assert "unsafe-inline" not in page.headers["content-security-policy"]


def test_forged_used_and_expired_links_say_so_in_a_page(client: TestClient, db_url: str) -> None:
    forged = client.get("/v1/consent/not-a-real-link")
    assert forged.status_code == 404 and forged.headers["content-type"].startswith("text/html")
    assert "This link is not valid" in forged.text and "Sunrise Home Equity" in forged.text

    nonce = _link(db_url)
    thanks = client.post(f"/v1/consent/{nonce}")
    assert thanks.status_code == 200 and "Your consent is recorded." in thanks.text
    assert "Lena Loan-Officer" in thanks.text
    again = client.post(f"/v1/consent/{nonce}")
    assert again.status_code == 409 and "This link was already used" in again.text
    viewed = client.get(f"/v1/consent/{nonce}")
    assert viewed.status_code == 409 and "I agree" not in viewed.text

    expired = _link(db_url)
    with psycopg.connect(db_url) as conn:
        conn.execute(
            "update consent_tokens set created_at = now() - interval '3 days', "
            "expires_at = now() - interval '1 day' where nonce_hash = %s",
            [service.nonce_hash(expired)],
        )
    gone = client.get(f"/v1/consent/{expired}")
    assert gone.status_code == 410 and "This link has expired" in gone.text
    assert client.post(f"/v1/consent/{expired}").status_code == 410


def test_an_api_client_asking_for_json_gets_json(client: TestClient, db_url: str) -> None:
    refused = client.post("/v1/consent/forged", headers={"accept": "application/json"})
    assert refused.status_code == 404 and refused.json()["error"] == "unknown_token"


def test_agreeing_goes_on_to_the_booking_page(client: TestClient, db_url: str) -> None:
    nonce = _link(db_url, booking=True)
    agreed = client.post(f"/v1/consent/{nonce}", follow_redirects=False)
    assert agreed.status_code == 303
    assert agreed.headers["location"].startswith("https://cal.example.test/lena?metadata")
