"""Where the signing keys come from, and that the demo's local tokens carry the issuer."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from equity_connect.auth.client import jwks_client_for
from equity_connect.cli import app
from equity_connect.config import Settings, get_settings
from equity_connect.security.jwt import verify_jwt

ISSUER = "https://abcdefghijklmnopqrst.supabase.co/auth/v1"
SECRET = "a-supabase-project-legacy-jwt-secret-32+b"


def test_key_set_url_derives_from_the_issuer() -> None:
    assert Settings(jwt_issuer=ISSUER).jwks_url == f"{ISSUER}/.well-known/jwks.json"
    assert Settings(jwt_issuer=ISSUER + "/").jwks_url == f"{ISSUER}/.well-known/jwks.json"
    explicit = "https://keys.example.com/jwks.json"
    assert Settings(jwt_issuer=ISSUER, jwt_jwks_url=explicit).jwks_url == explicit
    assert Settings().jwks_url is None
    assert jwks_client_for(Settings()) is None


@pytest.mark.parametrize(
    "url",
    [
        "http://abcdefghijklmnopqrst.supabase.co/auth/v1/.well-known/jwks.json",
        "http://10.0.0.5:8000/auth/v1/.well-known/jwks.json",
        "ftp://example.com/jwks.json",
        "file:///etc/jwks.json",
    ],
)
def test_key_set_only_over_https_or_loopback(url: str) -> None:
    with pytest.raises(ValidationError, match="https"):
        Settings(jwt_jwks_url=url)


def test_plain_http_issuer_needs_an_explicit_key_set_url() -> None:
    with pytest.raises(ValidationError, match="https"):
        Settings(jwt_issuer="http://kong:8000/auth/v1")
    ok = Settings(jwt_issuer="http://kong:8000/auth/v1", jwt_jwks_url="https://k.example/j.json")
    assert ok.jwks_url == "https://k.example/j.json"


@pytest.mark.parametrize("host", ["127.0.0.1:54321", "localhost:54321", "[::1]:54321"])
def test_loopback_http_is_fine(host: str) -> None:
    # The Supabase CLI's local stack serves Auth on http://127.0.0.1:54321.
    assert Settings(jwt_issuer=f"http://{host}/auth/v1").jwks_url is not None


def test_refetch_interval_within_the_cache_lifetime() -> None:
    with pytest.raises(ValidationError, match="REFETCH"):
        Settings(jwt_jwks_ttl_seconds=10, jwt_jwks_refetch_seconds=20)
    with pytest.raises(ValidationError):
        Settings(jwt_jwks_timeout_seconds=0)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


def test_cli_token_carries_the_configured_issuer(env: pytest.MonkeyPatch) -> None:
    env.setenv("EC_JWT_SECRET", SECRET)
    env.setenv("EC_JWT_ISSUER", ISSUER)
    broker = uuid.uuid4()
    result = CliRunner().invoke(app, ["token", "--broker", str(broker)])
    assert result.exit_code == 0, result.output
    claims = verify_jwt(result.stdout.strip(), secret=SECRET.encode(), issuer=ISSUER)
    assert claims.sub == broker
