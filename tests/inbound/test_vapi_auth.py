"""VAPI's documented credential settings, several at once (a rotation overlaps them).

Signatures here are computed with ``hmac`` from VAPI's description of the HMAC
credential (``HMACAuthenticationPlan``: payloadFormat ``{timestamp}.{body}``,
algorithm, encoding, prefix, secretIsBase64), not with our own signer.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from equity_connect.config import Settings
from equity_connect.web.app import create_app
from tests.calls.vapi_fixtures import FIXTURES, body

REPORT = body("status_update.json", lead_id="00000000-0000-4000-8000-000000000000")
ROTATION = (FIXTURES / "credentials_rotation.json").read_text()
HMAC_KEY = b"signing-key-for-tests-only-32-bytes"  # the fixture's base64 secretKey, decoded


def app(settings: Settings, url: str, **update: object) -> TestClient:
    return TestClient(create_app(settings.model_copy(update=update), conninfo=url))


@pytest.fixture
def rotating(settings: Settings, fresh_database_url: str) -> Iterator[TestClient]:
    """The legacy secret, its Bearer replacement and an HMAC credential, all accepted."""
    with app(settings, fresh_database_url, vapi_secrets=None, vapi_credentials=ROTATION) as c:
        yield c


def post(c: TestClient, headers: dict[str, str], content: bytes = REPORT) -> tuple[int, str]:
    r = c.post("/v1/webhooks/vapi", content=content, headers=headers)
    return r.status_code, r.json().get("error", "")


def sha512_b64(ts: str, content: bytes) -> str:
    digest = hmac.new(HMAC_KEY, ts.encode() + b"." + content, hashlib.sha512).digest()
    return "sha512=" + base64.b64encode(digest).decode()


def test_every_credential_of_a_rotation_is_accepted(rotating: TestClient) -> None:
    ts = str(int(time.time() * 1000))
    assert post(rotating, {"X-Vapi-Secret": "old-inline-secret"})[0] == 200
    other = REPORT.replace(b"ringing", b"queued")  # another event, not a duplicate
    assert post(rotating, {"Authorization": "Bearer new-bearer-token"}, other)[0] == 200
    third = REPORT.replace(b"ringing", b"in-progress")
    signed = {"x-vapi-signature": sha512_b64(ts, third), "x-vapi-timestamp": ts}
    assert post(rotating, signed, third)[0] == 200


def test_a_rotation_still_refuses_what_no_credential_verifies(rotating: TestClient) -> None:
    ts = str(int(time.time()))
    assert post(rotating, {"X-Vapi-Secret": "new-bearer-token"}) == (401, "bad_secret")
    assert post(rotating, {"Authorization": "Bearer old-inline-secret"}) == (401, "bad_secret")
    tampered = {"x-vapi-signature": sha512_b64(ts, b"{}"), "x-vapi-timestamp": ts}
    assert post(rotating, tampered) == (401, "bad_signature")
    status, code = post(rotating, {})
    assert (status, code) == (400, "missing_header")
    detail = rotating.post("/v1/webhooks/vapi", content=REPORT).json()["detail"]
    assert "X-Vapi-Secret" in detail and "Authorization" in detail and "x-vapi-signature" in detail


def test_legacy_secret_to_bearer_rotation_with_the_older_variables(
    settings: Settings, fresh_database_url: str
) -> None:
    # The case: switching EC_VAPI_AUTH from secret to bearer refused the old header.
    with app(settings, fresh_database_url, vapi_auth="secret,bearer") as c:
        assert post(c, {"X-Vapi-Secret": "vapi-secret"})[0] == 200
        other = REPORT.replace(b"ringing", b"queued")
        assert post(c, {"Authorization": "Bearer vapi-secret"}, other)[0] == 200


def test_bearer_header_name_and_prefix_are_configurable(
    settings: Settings, fresh_database_url: str
) -> None:
    with app(
        settings,
        fresh_database_url,
        vapi_auth="bearer",
        vapi_bearer_header="X-Equity-Token",
        vapi_bearer_prefix_enabled=False,
    ) as c:
        assert post(c, {"X-Equity-Token": "vapi-secret"})[0] == 200
        assert post(c, {"Authorization": "Bearer vapi-secret"}) == (400, "missing_header")


def test_hmac_algorithm_encoding_base64_secret_and_no_timestamp(
    settings: Settings, fresh_database_url: str
) -> None:
    key = b"\x00\xffraw key bytes"
    with app(
        settings,
        fresh_database_url,
        vapi_auth="hmac",
        vapi_secrets=base64.b64encode(key).decode(),
        vapi_hmac_secret_is_base64=True,
        vapi_hmac_algorithm="sha1",
        vapi_hmac_signature_encoding="base64",
        vapi_hmac_include_timestamp=False,
    ) as c:
        sig = base64.b64encode(hmac.new(key, REPORT, hashlib.sha1).digest()).decode()
        assert post(c, {"x-signature": sig})[0] == 200
        wrong = base64.b64encode(hmac.new(b"other", REPORT, hashlib.sha1).digest()).decode()
        assert post(c, {"x-signature": wrong}) == (401, "bad_signature")


def test_hmac_svix_id_and_url_placeholders(settings: Settings, fresh_database_url: str) -> None:
    creds = (
        '[{"type": "hmac", "secretKey": "k", "payloadFormat": "{svix-id}.{method}.{url}.{body}",'
        ' "includeTimestamp": false, "messageIdHeader": "webhook-id"}]'
    )
    with app(settings, fresh_database_url, vapi_secrets=None, vapi_credentials=creds) as c:
        url = "http://testserver/v1/webhooks/vapi"  # public_base_url + the route
        msg = b"msg_1.POST." + url.encode() + b"." + REPORT
        sig = hmac.new(b"k", msg, hashlib.sha256).hexdigest()
        assert post(c, {"x-signature": sig, "webhook-id": "msg_1"})[0] == 200
        assert post(c, {"x-signature": sig, "webhook-id": "msg_2"}) == (401, "bad_signature")


def test_a_malformed_credential_list_stops_start_up(
    settings: Settings, fresh_database_url: str
) -> None:
    bad = '[{"type": "hmac", "secretKey": "s3cr3t-value", "algorithm": "md5"}]'
    with pytest.raises(ValueError, match="EC_VAPI_CREDENTIALS") as err:
        create_app(settings.model_copy(update={"vapi_credentials": bad}))
    assert "s3cr3t-value" not in str(err.value)
