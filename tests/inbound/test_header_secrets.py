"""Instantly's and VAPI's header secrets are compared exactly as typed.

Instantly sends back the header value set on the webhook subscription
(``headers`` of ``POST /api/v2/webhooks``, Instantly v2 OpenAPI), and VAPI's
inline secret is sent as ``X-Vapi-Secret: <secret>`` (VapiAI/docs
``fern/server-url/server-authentication.mdx``): a value that looks like a
Standard Webhooks ``whsec_`` key is still just text, never base64-decoded.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from equity_connect.config import Settings
from equity_connect.security.signatures import parse_plain_secrets
from equity_connect.web.app import create_app

WHSEC_LOOKALIKE = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
INSTANTLY_BODY = json.dumps(
    {"event_type": "email_opened", "email_id": "e-1", "lead_email": "a@example.com"}
).encode()
VAPI_BODY = json.dumps(
    {"message": {"type": "status-update", "status": "ringing", "call": {"id": "call-1"}}}
).encode()


@pytest.fixture
def client(settings: Settings, fresh_database_url: str) -> Iterator[TestClient]:
    app = create_app(
        settings.model_copy(
            update={
                "instantly_webhook_secrets": f"{WHSEC_LOOKALIKE}, other-secret",
                "vapi_secrets": WHSEC_LOOKALIKE,
                "vapi_auth": "secret",
                "vapi_credentials": None,
            }
        ),
        conninfo=fresh_database_url,
    )
    with TestClient(app) as c:
        yield c


def test_plain_secrets_are_split_on_commas_and_never_decoded() -> None:
    assert parse_plain_secrets(f" {WHSEC_LOOKALIKE} , b,") == [WHSEC_LOOKALIKE.encode(), b"b"]
    assert parse_plain_secrets("") == []


@pytest.mark.parametrize("typed", [WHSEC_LOOKALIKE, "other-secret"])
def test_instantly_header_secret_is_the_typed_text(client: TestClient, typed: str) -> None:
    r = client.post(
        "/v1/webhooks/instantly", content=INSTANTLY_BODY, headers={"X-Webhook-Secret": typed}
    )
    assert r.status_code == 200, r.text
    wrong = client.post(
        "/v1/webhooks/instantly", content=INSTANTLY_BODY, headers={"X-Webhook-Secret": "nope"}
    )
    assert wrong.status_code == 401


def test_vapi_inline_secret_is_the_typed_text(client: TestClient) -> None:
    r = client.post(
        "/v1/webhooks/vapi", content=VAPI_BODY, headers={"X-Vapi-Secret": WHSEC_LOOKALIKE}
    )
    assert r.status_code == 200, r.text
