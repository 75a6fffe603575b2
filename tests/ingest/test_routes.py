"""POST /v1/uploads over HTTP: signatures, size caps, idempotency, concurrency."""

from __future__ import annotations

import base64
import hashlib
import math
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from equity_connect.config import Settings
from equity_connect.security import signatures
from equity_connect.security.crypto import generate_key
from equity_connect.web.app import create_app
from tests.ingest.helpers import csv_bytes, row

OLD_SECRET = "whsec_" + base64.b64encode(b"o" * 32).decode()
NEW_SECRET = "plain-text-upload-secret-2"
BODY = csv_bytes([row(mak="1100000001"), row(mak="1100000002", property_address="2 Elm St")])


@pytest.fixture
def settings() -> Settings:
    return Settings(
        upload_secrets=f"{NEW_SECRET},{OLD_SECRET}",
        encryption_keys=f"k1:{generate_key()}",
        index_key=generate_key(),
        max_upload_bytes=64 * 1024,
    )


@pytest.fixture
def client(settings: Settings, fresh_database_url: str) -> Iterator[TestClient]:
    app = create_app(settings, conninfo=fresh_database_url)
    with TestClient(app) as c:
        yield c


def standard_headers(secret: str, body: bytes, *, ts: int | None = None) -> dict[str, str]:
    ts = int(time.time()) if ts is None else ts
    sig = signatures.sign_standard(signatures.parse_secret(secret), "msg_1", ts, body)
    return {"webhook-id": "msg_1", "webhook-timestamp": str(ts), "webhook-signature": sig}


def plan_headers(secret: str, body: bytes, *, at: float | None = None) -> dict[str, str]:
    when = datetime.fromtimestamp(time.time() if at is None else at, UTC)
    stamp = when.isoformat(timespec="seconds").replace("+00:00", "Z")
    return signatures.sign_plan(signatures.parse_secret(secret), stamp, body)


def post(client: TestClient, body: bytes, headers: dict[str, str], *, wait: bool = True) -> Any:
    """POST an upload; ``wait`` asks for the synchronous answer (``?wait=true``)."""
    return client.post(
        "/v1/uploads",
        content=body,
        headers={**headers, "content-type": "text/csv"},
        params={"wait": "true"} if wait else {},
    )


def counts(url: str) -> tuple[int, int, int]:
    with psycopg.connect(url) as conn:
        row_ = conn.execute(
            "select (select count(*) from uploads), (select count(*) from leads), "
            "(select count(*) from security_events)"
        ).fetchone()
    assert row_ is not None
    return row_[0], row_[1], row_[2]


@pytest.mark.parametrize("scheme", ["standard", "plan"])
@pytest.mark.parametrize("secret", [NEW_SECRET, OLD_SECRET])
def test_valid_signature_ingests(
    client: TestClient, fresh_database_url: str, scheme: str, secret: str
) -> None:
    headers = standard_headers(secret, BODY) if scheme == "standard" else plan_headers(secret, BODY)
    response = post(client, BODY, headers)
    assert response.status_code == 201, response.text
    doc = response.json()
    assert (doc["status"], doc["phase"], doc["percent"]) == ("completed", "completed", 100.0)
    report = doc["report"]
    assert report["rows"] == 2 and report["inserted"] == 2
    assert report["sha256"] == hashlib.sha256(BODY).hexdigest()
    assert counts(fresh_database_url)[:2] == (1, 2)


def test_published_standard_webhooks_vector_verifies_through_the_route(settings: Settings) -> None:
    # The spec's own vector, checked with the same function the route calls.
    headers = {
        "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "webhook-timestamp": "1614265330",
        "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    }
    key = signatures.parse_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    assert signatures.verify_standard([key], headers, b'{"test": 2432232314}', now=1614265330)


@pytest.mark.parametrize("scheme", ["standard", "plan"])
def test_one_changed_byte_is_refused_and_stores_only_a_security_event(
    client: TestClient, fresh_database_url: str, scheme: str
) -> None:
    headers = (
        standard_headers(NEW_SECRET, BODY)
        if scheme == "standard"
        else plan_headers(NEW_SECRET, BODY)
    )
    tampered = BODY[:-3] + b"9" + BODY[-2:]
    response = post(client, tampered, headers)
    assert response.status_code == 401
    assert response.json()["error"] == "bad_signature"
    assert counts(fresh_database_url) == (0, 0, 1)


@pytest.mark.parametrize("offset", [-301, 301])
def test_stale_and_future_timestamps_are_refused(client: TestClient, offset: int) -> None:
    # Whole seconds, rounded away from now: int() alone would round a future
    # stamp back inside the window by up to a second.
    now = time.time()
    whole = math.ceil(now) if offset > 0 else math.floor(now)
    std = post(client, BODY, standard_headers(NEW_SECRET, BODY, ts=whole + offset))
    plan = post(client, BODY, plan_headers(NEW_SECRET, BODY, at=whole + offset))
    for response in (std, plan):
        assert response.status_code == 401
        assert response.json()["error"].startswith("timestamp_")


def test_revoked_secret_is_refused(client: TestClient) -> None:
    response = post(
        client, BODY, standard_headers("whsec_" + base64.b64encode(b"x" * 32).decode(), BODY)
    )
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"webhook-signature": "v1,abc"}, 400),
        ({"webhook-id": "a", "webhook-timestamp": "soon", "webhook-signature": "v1,abc"}, 400),
        ({"webhook-id": "a.b", "webhook-timestamp": "1", "webhook-signature": "v1,abc"}, 400),
        ({"X-Signature": "sha256=zz", "X-Content-SHA256": "00", "X-Signature-Timestamp": "x"}, 400),
    ],
)
def test_missing_or_malformed_headers_are_refused_before_parsing(
    client: TestClient, fresh_database_url: str, headers: dict[str, str], status: int
) -> None:
    response = post(client, BODY, headers)
    assert response.status_code == status, response.text
    assert response.json()["detail"]
    assert counts(fresh_database_url)[:2] == (0, 0)


def test_oversize_body_is_413(client: TestClient, fresh_database_url: str) -> None:
    big = BODY + b"x" * (64 * 1024)
    response = post(client, big, standard_headers(NEW_SECRET, big))
    assert response.status_code == 413

    def stream() -> Iterator[bytes]:  # no Content-Length: the cap holds while streaming
        yield big

    streamed = client.post(
        "/v1/uploads",
        content=stream(),
        headers={**standard_headers(NEW_SECRET, big), "content-type": "text/csv"},
    )
    assert streamed.status_code == 413
    assert counts(fresh_database_url)[:2] == (0, 0)


def test_non_csv_body_is_415(client: TestClient) -> None:
    response = client.post(
        "/v1/uploads",
        content=BODY,
        headers={**standard_headers(NEW_SECRET, BODY), "content-type": "application/json"},
    )
    assert response.status_code == 415


def test_same_body_again_returns_the_first_report(
    client: TestClient, fresh_database_url: str
) -> None:
    first = post(client, BODY, standard_headers(NEW_SECRET, BODY))
    again = post(client, BODY, plan_headers(OLD_SECRET, BODY))
    assert first.status_code == 201 and again.status_code == 200
    one, two = first.json(), again.json()
    assert two["duplicate_upload"] is True and one["duplicate_upload"] is False
    assert two["upload_id"] == one["upload_id"]
    assert counts(fresh_database_url)[:2] == (1, 2)


def test_ten_concurrent_identical_uploads_create_one(
    client: TestClient, fresh_database_url: str
) -> None:
    results: list[int] = []
    ids: set[str] = set()
    lock = threading.Lock()

    def send() -> None:
        response = post(client, BODY, standard_headers(NEW_SECRET, BODY), wait=False)
        with lock:
            results.append(response.status_code)
            ids.add(response.json()["upload_id"])

    threads = [threading.Thread(target=send) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [200] * 9 + [202]
    assert len(ids) == 1
    with psycopg.connect(fresh_database_url) as conn:
        stored = conn.execute(
            "select (select count(*) from uploads), (select count(*) from jobs "
            "where task = 'ingest.process_upload'), (select count(*) from upload_bodies)"
        ).fetchone()
    assert stored == (1, 1, 1)  # one upload, one job, one stored chunk


def test_unusable_file_is_422_with_reason(client: TestClient) -> None:
    body = b"colour\nblue\n"
    response = post(client, body, standard_headers(NEW_SECRET, body))
    assert response.status_code == 422
    assert "property_address" in response.json()["detail"]


def test_no_secret_configured_refuses_everything(fresh_database_url: str) -> None:
    app = create_app(
        Settings(
            upload_secrets=None, encryption_keys=f"k1:{generate_key()}", index_key=generate_key()
        ),
        conninfo=fresh_database_url,
    )
    with TestClient(app) as c:
        response = post(c, BODY, standard_headers(NEW_SECRET, BODY))
    assert response.status_code == 401
    assert response.json()["error"] == "no_secret_configured"


def test_healthz(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}


def test_the_upload_records_what_the_request_proves_of_its_sender(
    client: TestClient, fresh_database_url: str
) -> None:
    response = post(client, BODY, standard_headers(NEW_SECRET, BODY))
    assert response.status_code in (201, 202), response.text  # type: ignore[attr-defined]
    with psycopg.connect(fresh_database_url) as conn:
        sender = conn.execute("select uploaded_by from uploads").fetchone()
    assert sender == ("api (standard_webhooks) from testclient",)
