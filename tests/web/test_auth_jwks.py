"""The broker API and dashboard with Supabase's asymmetric tokens, keys served on loopback.

The app fetches the key set from a real HTTP server (the simulated Supabase
Auth in tests/fixtures/providers/supabase) at ``<issuer>/.well-known/jwks.json``;
the locally minted HS256 tokens keep working beside them.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from equity_connect.config import Settings
from equity_connect.db.pool import connect
from equity_connect.security.crypto import Keyring, PiiCipher, generate_key
from equity_connect.security.jwt import issue_jwt
from equity_connect.web.app import create_app
from tests.factories import make_broker, make_lead
from tests.fixtures.providers.supabase.jwks import (
    SigningKey,
    SimulatedSupabaseAuth,
    access_token_claims,
    hs256_token,
    serve_jwks,
)

JWT_SECRET = "a-supabase-project-legacy-jwt-secret-32+b"
EC_KEY = SigningKey.es256()
RSA_KEY = SigningKey.rs256()


@pytest.fixture
def auth() -> Iterator[SimulatedSupabaseAuth]:
    with serve_jwks(SimulatedSupabaseAuth(keys=[EC_KEY, RSA_KEY])) as running:
        yield running


@pytest.fixture
def settings(auth: SimulatedSupabaseAuth) -> Settings:
    return Settings(
        encryption_keys=f"k1:{generate_key()}",
        index_key=generate_key(),
        jwt_secret=JWT_SECRET,
        jwt_issuer=auth.issuer,  # the key set is found at issuer + /.well-known/jwks.json
    )


@pytest.fixture
def world(settings: Settings, fresh_database_url: str) -> dict[str, Any]:
    cipher = PiiCipher(Keyring.from_values(str(settings.encryption_keys), str(settings.index_key)))
    with connect(fresh_database_url) as conn:
        a, b = make_broker(conn, "A"), make_broker(conn, "B")
        a_leads = [str(make_lead(conn, a, cipher=cipher, email=f"a{i}@x.com")) for i in range(3)]
        make_lead(conn, b, cipher=cipher, email="b@x.com")
        conn.commit()
    return {"a": a, "b": b, "a_leads": a_leads}


@pytest.fixture
def client(settings: Settings, fresh_database_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(settings, conninfo=fresh_database_url)) as c:
        yield c


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def lead_ids(client: TestClient, token: str) -> set[str]:
    response = client.get("/v1/leads", params={"limit": 100}, headers=bearer(token))
    assert response.status_code == 200, response.text
    return {item["id"] for item in response.json()["items"]}


@pytest.mark.parametrize("key", [EC_KEY, RSA_KEY], ids=["ES256", "RS256"])
def test_asymmetric_supabase_token_sees_own_leads(
    client: TestClient, world: dict[str, Any], auth: SimulatedSupabaseAuth, key: SigningKey
) -> None:
    token = key.token(access_token_claims(auth.issuer, world["a"]))
    assert lead_ids(client, token) == set(world["a_leads"])


def test_locally_minted_hs256_token_still_works(
    client: TestClient, world: dict[str, Any], settings: Settings
) -> None:
    # What `equity-connect token --broker ID` prints (it adds the configured issuer).
    token = issue_jwt(secret=JWT_SECRET.encode(), sub=world["a"], issuer=settings.jwt_issuer)
    assert lead_ids(client, token) == set(world["a_leads"])


def test_key_set_is_fetched_once_for_many_requests(
    client: TestClient, world: dict[str, Any], auth: SimulatedSupabaseAuth
) -> None:
    token = EC_KEY.token(access_token_claims(auth.issuer, world["a"]))
    for _ in range(5):
        lead_ids(client, token)
    assert auth.requests == 1


def test_refused_tokens_are_401(
    client: TestClient, world: dict[str, Any], auth: SimulatedSupabaseAuth
) -> None:
    def claims(**overrides: Any) -> dict[str, Any]:
        return access_token_claims(auth.issuer, world["a"], **overrides)

    # One app and database for all cases: each needs only the verifier.
    cases = {
        "alg-of-another-key": (RSA_KEY.token(claims(), kid=EC_KEY.kid), "bad_algorithm"),
        "alg-not-the-keys": (EC_KEY.token(claims(), alg="RS256"), "bad_algorithm"),
        "impostor-key": (SigningKey.es256(EC_KEY.kid).token(claims()), "bad_signature"),
        "unknown-kid": (SigningKey.es256().token(claims()), "unknown_key"),
        "wrong-issuer": (EC_KEY.token(claims(iss="https://evil.example/auth/v1")), "bad_issuer"),
        "no-exp": (EC_KEY.token(claims(exp=None)), "malformed"),
        "no-aud": (EC_KEY.token(claims(aud=None)), "bad_audience"),
        "sub-not-uuid": (EC_KEY.token(claims(sub="user-1")), "missing_sub"),
        "crit": (EC_KEY.token(claims(), crit=["exp"]), "bad_algorithm"),
        "alg-none": (EC_KEY.token(claims(), alg="none"), "bad_algorithm"),
        "hs256-under-the-public-key": (
            hs256_token(
                {"alg": "HS256", "kid": RSA_KEY.kid, "typ": "JWT"},
                claims(),
                json.dumps(RSA_KEY.public_jwk()).encode(),
            ),
            "bad_signature",
        ),
    }
    for name, (token, code) in cases.items():
        response = client.get("/v1/leads", headers=bearer(token))
        assert response.status_code == 401, (name, response.text)
        assert response.json()["error"] == f"jwt_{code}", name


def test_key_set_unreachable_is_503_not_500(
    client: TestClient, world: dict[str, Any], auth: SimulatedSupabaseAuth
) -> None:
    auth.status = 500
    token = EC_KEY.token(access_token_claims(auth.issuer, world["a"]))
    response = client.get("/v1/leads", headers=bearer(token))
    assert response.status_code == 503, response.text
    body = response.json()
    assert body["error"] == "jwks_unavailable"
    assert "HTTP 500" in body["detail"]
    assert body["retry_after"] == 30
    # Legacy tokens do not depend on the key set.
    legacy = issue_jwt(secret=JWT_SECRET.encode(), sub=world["a"], issuer=auth.issuer)
    assert lead_ids(client, legacy) == set(world["a_leads"])


def test_dashboard_login_with_an_es256_token(
    client: TestClient, world: dict[str, Any], auth: SimulatedSupabaseAuth
) -> None:
    token = EC_KEY.token(access_token_claims(auth.issuer, world["a"]))
    response = client.post("/dashboard/login", data={"credential": token}, follow_redirects=False)
    assert response.status_code == 303, response.text
    assert client.get("/dashboard").status_code == 200


def test_without_a_legacy_secret_hs256_is_refused(
    settings: Settings,
    auth: SimulatedSupabaseAuth,
    world: dict[str, Any],
    fresh_database_url: str,
) -> None:
    # A project that revoked its legacy secret: only the published keys are trusted.
    settings = settings.model_copy(
        update={"jwt_secret": None, "jwt_issuer": None, "jwt_jwks_url": auth.jwks_url}
    )
    legacy = issue_jwt(secret=JWT_SECRET.encode(), sub=world["a"])
    current = EC_KEY.token(access_token_claims(auth.issuer, world["a"]))
    with TestClient(create_app(settings, conninfo=fresh_database_url)) as c:
        response = c.get("/v1/leads", headers=bearer(legacy))
        assert response.status_code == 401
        assert response.json()["error"] == "jwt_bad_algorithm"
        assert lead_ids(c, current) == set(world["a_leads"])


def test_unrelated_uuid_broker_sees_nothing(
    client: TestClient, world: dict[str, Any], auth: SimulatedSupabaseAuth
) -> None:
    token = EC_KEY.token(access_token_claims(auth.issuer, uuid.uuid4()))
    assert lead_ids(client, token) == set()
