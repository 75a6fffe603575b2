"""Webhook receivers over HTTP: verify, store once, 2xx; refuse what doesn't verify."""

from __future__ import annotations

import json
import time
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from equity_connect.security import signatures
from tests.inbound.conftest import CALCOM_SECRET, INSTANTLY_SECRET, VAPI_SECRET


def count(url: str, sql: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(sql).fetchone()
    assert row is not None
    return int(row[0])


def instantly(client: TestClient, payload: dict[str, Any], secret: str = INSTANTLY_SECRET) -> Any:
    return client.post(
        "/v1/webhooks/instantly",
        content=json.dumps(payload),
        headers={"X-Webhook-Secret": secret, "content-type": "application/json"},
    )


REPLY = {
    "timestamp": "2026-11-26T10:00:00.000Z",
    "event_type": "reply_received",
    "lead_email": "nobody@example.com",
    "email_id": "e-1",
    "reply_text": "Yes please call me",
}


def test_instantly_valid_secret_stores_one_event(
    client: TestClient, fresh_database_url: str
) -> None:
    response = instantly(client, REPLY)
    assert response.status_code == 200 and response.json()["status"] == "stored"
    assert count(fresh_database_url, "select count(*) from inbound_events") == 1
    assert (
        count(fresh_database_url, "select count(*) from jobs where task = 'inbound.process_event'")
        == 1
    )


def test_instantly_wrong_secret_is_401_and_nothing_stored(
    client: TestClient, fresh_database_url: str
) -> None:
    assert instantly(client, REPLY, secret="guess").status_code == 401
    missing = client.post("/v1/webhooks/instantly", content=json.dumps(REPLY))
    assert missing.status_code in (400, 401)
    assert count(fresh_database_url, "select count(*) from inbound_events") == 0
    assert count(fresh_database_url, "select count(*) from security_events") == 2


def test_duplicate_delivery_is_acknowledged_once(
    client: TestClient, fresh_database_url: str
) -> None:
    first, again = instantly(client, REPLY), instantly(client, REPLY)
    assert first.json()["status"] == "stored" and again.json()["status"] == "duplicate"
    assert first.json()["event_id"] == again.json()["event_id"]
    assert count(fresh_database_url, "select count(*) from inbound_events") == 1
    assert count(fresh_database_url, "select count(*) from jobs") == 1


def test_rotated_old_secret_still_works(client: TestClient) -> None:
    assert instantly(client, REPLY, secret="old-secret").status_code == 200


@pytest.mark.parametrize(
    ("body", "status"), [(b"{not json", 400), (b"[1,2]", 400), (b'{"lead_email": "x"}', 400)]
)
def test_malformed_bodies_are_400_with_reason(
    client: TestClient, fresh_database_url: str, body: bytes, status: int
) -> None:
    response = client.post(
        "/v1/webhooks/instantly", content=body, headers={"X-Webhook-Secret": INSTANTLY_SECRET}
    )
    assert response.status_code == status
    assert response.json()["detail"]
    assert count(fresh_database_url, "select count(*) from inbound_events") == 0


def test_oversize_is_413(client: TestClient) -> None:
    big = {**REPLY, "reply_text": "x" * 40_000}
    assert instantly(client, big).status_code == 413


def test_unknown_event_type_is_stored_and_ignored(
    client: TestClient, fresh_database_url: str, run_jobs: Any
) -> None:
    assert (
        instantly(client, {**REPLY, "event_type": "supersearch_enrichment_completed"}).status_code
        == 200
    )
    run_jobs()
    assert (
        count(fresh_database_url, "select count(*) from inbound_events where status = 'ignored'")
        == 1
    )


def test_calcom_published_vector_verifies_at_the_route(client: TestClient) -> None:
    # provider-formats.md §5: secret test-secret over this exact body.
    body = b'{"triggerEvent":"BOOKING_CREATED","payload":{"uid":"abc"}}'
    sig = "50a02525bcf4afd35857116d833cade5a3686a5f2b73d1977ace8522d2d648a3"
    assert signatures.sign_calcom(b"test-secret", body) == sig
    ok = client.post("/v1/webhooks/calcom", content=body, headers={"X-Cal-Signature-256": sig})
    # Our configured secret is not test-secret: the vector's signature must fail here…
    assert ok.status_code == 401
    # …and our own signature over the same bytes must pass.
    mine = signatures.sign_calcom(CALCOM_SECRET.encode(), body)
    good = client.post("/v1/webhooks/calcom", content=body, headers={"X-Cal-Signature-256": mine})
    assert good.status_code == 200


def test_calcom_tampered_byte_and_no_secret_sentinel_are_401(client: TestClient) -> None:
    body = b'{"triggerEvent":"BOOKING_CREATED","payload":{"uid":"abc"}}'
    sig = signatures.sign_calcom(CALCOM_SECRET.encode(), body)
    tampered = body.replace(b"abc", b"abd")
    assert (
        client.post(
            "/v1/webhooks/calcom", content=tampered, headers={"X-Cal-Signature-256": sig}
        ).status_code
        == 401
    )
    sentinel = client.post(
        "/v1/webhooks/calcom", content=body, headers={"X-Cal-Signature-256": "no-secret-provided"}
    )
    assert sentinel.status_code == 401
    assert sentinel.json()["error"] == "no_secret_provided"


def test_vapi_secret_header(client: TestClient, fresh_database_url: str) -> None:
    body = json.dumps(
        {
            "message": {
                "type": "end-of-call-report",
                "endedReason": "customer-ended-call",
                "call": {"id": "call_1"},
                "artifact": {},
                "analysis": {},
            }
        }
    )
    ok = client.post("/v1/webhooks/vapi", content=body, headers={"X-Vapi-Secret": VAPI_SECRET})
    bad = client.post(
        "/v1/webhooks/vapi",
        content=body.replace("call_1", "call_2"),
        headers={"X-Vapi-Secret": "nope"},
    )
    again = client.post("/v1/webhooks/vapi", content=body, headers={"X-Vapi-Secret": VAPI_SECRET})
    assert ok.status_code == 200 and bad.status_code == 401
    assert again.json()["status"] == "duplicate"
    assert count(fresh_database_url, "select count(*) from inbound_events") == 1


def test_payloads_are_stored_encrypted(client: TestClient, fresh_database_url: str) -> None:
    instantly(client, {**REPLY, "lead_email": "canary-owner@example.com"})
    with psycopg.connect(fresh_database_url) as conn:
        row = conn.execute("select payload_ciphertext from inbound_events").fetchone()
    assert row is not None and b"canary-owner" not in bytes(row[0])


def test_vapi_hmac_mode(settings: Any, fresh_database_url: str) -> None:
    from equity_connect.web.app import create_app

    hmac_settings = settings.model_copy(update={"vapi_auth": "hmac"})
    body = json.dumps(
        {"message": {"type": "status-update", "status": "ringing", "call": {"id": "c9"}}}
    ).encode()
    hmac_conf = signatures.VapiHmacSettings()
    headers = signatures.sign_vapi_hmac(
        VAPI_SECRET.encode(), hmac_conf, body, timestamp=str(int(time.time()))
    )
    with TestClient(create_app(hmac_settings, conninfo=fresh_database_url)) as c:
        assert c.post("/v1/webhooks/vapi", content=body, headers=headers).status_code == 200
        tampered = body.replace(b"ringing", b"ended!!")
        assert c.post("/v1/webhooks/vapi", content=tampered, headers=headers).status_code == 401
