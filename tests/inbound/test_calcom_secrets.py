"""Cal.com secrets at the route: the secret exactly as typed is the HMAC key.

Cal.com signs with ``createHmac("sha256", secret)`` over the body (cal.com
``packages/features/webhooks/lib/sendPayload.ts``): a secret that looks like a
Standard Webhooks ``whsec_`` key, or holds a comma, is still just text.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from equity_connect.config import Settings
from equity_connect.web.app import create_app

BODY = json.dumps({"triggerEvent": "PING", "createdAt": "2026-12-01T09:00:00.000Z"}).encode()


def calcom_signature(typed_secret: str, body: bytes) -> str:
    """What Cal.com's createWebhookSignature computes: hex HMAC-SHA256, key = the string."""
    return hmac.new(typed_secret.encode(), body, hashlib.sha256).hexdigest()


@pytest.fixture
def app_with(settings: Settings, fresh_database_url: str) -> Iterator[object]:
    clients: list[TestClient] = []

    def make(calcom_secrets: str) -> TestClient:
        client = TestClient(
            create_app(
                settings.model_copy(update={"calcom_secrets": calcom_secrets}),
                conninfo=fresh_database_url,
            )
        )
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for c in clients:
        c.__exit__(None, None, None)


def post(client: TestClient, signature: str) -> int:
    return client.post(
        "/v1/webhooks/calcom", content=BODY, headers={"X-Cal-Signature-256": signature}
    ).status_code


@pytest.mark.parametrize(
    "typed",
    [
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",  # looks like a Standard Webhooks key
        "first-half,second-half",  # a comma inside one secret
        "whsec_abc,def",
    ],
)
def test_secret_exactly_as_typed_verifies(app_with: object, typed: str) -> None:
    client = app_with(typed)  # type: ignore[operator]
    assert post(client, calcom_signature(typed, BODY)) == 200
    # Neither half of a comma secret is a key on its own.
    for part in typed.split(","):
        if part != typed:
            assert post(client, calcom_signature(part, BODY)) == 401


def test_json_array_holds_secrets_during_rotation(app_with: object) -> None:
    client = app_with(json.dumps(["new,secret", "whsec_old"]))  # type: ignore[operator]
    assert post(client, calcom_signature("new,secret", BODY)) == 200
    assert post(client, calcom_signature("whsec_old", BODY)) == 200
    assert post(client, calcom_signature("retired", BODY)) == 401


def test_a_broken_secret_list_fails_at_startup_without_echoing_it() -> None:
    with pytest.raises(ValidationError) as info:
        Settings(calcom_secrets='["s3cret-value", ')
    assert "EC_CALCOM_SECRETS" in str(info.value)
    assert "s3cret-value" not in str(info.value)
