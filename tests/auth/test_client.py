"""The JWKS cache against a real HTTP server on loopback serving Supabase's key set."""

from __future__ import annotations

import socket
import threading
import uuid
from collections.abc import Iterator

import pytest

from equity_connect.auth.client import MAX_JWKS_BYTES, JwksClient
from equity_connect.security.jwks import KeysUnavailable
from equity_connect.security.jwt import verify_jwt
from tests.fixtures.providers.supabase.jwks import (
    SigningKey,
    SimulatedSupabaseAuth,
    access_token_claims,
    serve_jwks,
)

CURRENT = SigningKey.es256()
STANDBY = SigningKey.rs256()
BROKER = uuid.uuid4()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def auth() -> Iterator[SimulatedSupabaseAuth]:
    with serve_jwks(SimulatedSupabaseAuth(keys=[CURRENT])) as running:
        yield running


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def client(auth: SimulatedSupabaseAuth, clock: Clock) -> Iterator[JwksClient]:
    jwks = JwksClient(auth.jwks_url, ttl_seconds=600, refetch_seconds=30, clock=clock)
    yield jwks
    jwks.close()


def test_tokens_verify_against_the_served_key_set(
    auth: SimulatedSupabaseAuth, client: JwksClient
) -> None:
    auth.keys.append(STANDBY)
    for key in (CURRENT, STANDBY):
        token = key.token(access_token_claims(auth.issuer, BROKER))
        assert verify_jwt(token, keys=client, issuer=auth.issuer).sub == BROKER


def test_keys_are_cached_for_the_ttl(
    auth: SimulatedSupabaseAuth, client: JwksClient, clock: Clock
) -> None:
    for _ in range(5):
        assert client.key_for(CURRENT.kid) is not None
    clock.now += 599
    assert client.key_for(CURRENT.kid) is not None
    assert auth.requests == 1
    clock.now += 1
    assert client.key_for(CURRENT.kid) is not None
    assert auth.requests == 2


def test_standby_key_is_picked_up_on_first_sight_of_its_kid(
    auth: SimulatedSupabaseAuth, client: JwksClient, clock: Clock
) -> None:
    assert client.key_for(CURRENT.kid) is not None
    auth.keys.append(STANDBY)  # published, then rotated to, within the cache lifetime
    clock.now += 31
    key = client.key_for(STANDBY.kid)
    assert key is not None and key.algorithm == "RS256"
    assert auth.requests == 2


def test_a_flood_of_unknown_kids_costs_one_request_per_interval(
    auth: SimulatedSupabaseAuth, client: JwksClient, clock: Clock
) -> None:
    assert client.key_for(CURRENT.kid) is not None
    clock.now += 30
    for _ in range(200):
        assert client.key_for(str(uuid.uuid4())) is None
    assert auth.requests == 2  # the first fetch and one refetch
    clock.now += 29
    assert client.key_for(str(uuid.uuid4())) is None
    assert auth.requests == 2
    clock.now += 1
    assert client.key_for(str(uuid.uuid4())) is None
    assert auth.requests == 3
    # Known keys keep working all along without a request.
    assert client.key_for(CURRENT.kid) is not None
    assert auth.requests == 3


def test_revoked_key_stops_verifying_at_the_next_refresh(
    auth: SimulatedSupabaseAuth, client: JwksClient, clock: Clock
) -> None:
    auth.keys.append(STANDBY)
    assert client.key_for(STANDBY.kid) is not None
    auth.keys.remove(STANDBY)
    clock.now += 600
    assert client.key_for(STANDBY.kid) is None
    assert client.key_for(CURRENT.kid) is not None


@pytest.mark.parametrize("status", [500, 503, 404, 302])
def test_error_answers_fail_closed(
    auth: SimulatedSupabaseAuth, client: JwksClient, status: int
) -> None:
    auth.status = status
    with pytest.raises(KeysUnavailable, match=f"HTTP {status}"):
        client.key_for(CURRENT.kid)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"<html>maintenance</html>", "not valid JSON"),
        (b'{"keys": "none"}', '"keys" list'),
        (b" " * (MAX_JWKS_BYTES + 1), "larger than"),
    ],
)
def test_nonsense_answers_fail_closed(
    auth: SimulatedSupabaseAuth, client: JwksClient, body: bytes, reason: str
) -> None:
    auth.body = body
    with pytest.raises(KeysUnavailable, match=reason):
        client.key_for(CURRENT.kid)


def test_stale_keys_are_not_used_when_the_refresh_fails(
    auth: SimulatedSupabaseAuth, client: JwksClient, clock: Clock
) -> None:
    assert client.key_for(CURRENT.kid) is not None
    auth.status = 503
    clock.now += 600
    with pytest.raises(KeysUnavailable):
        client.key_for(CURRENT.kid)
    # While it stays down, it is asked at most once per refetch interval.
    for _ in range(50):
        with pytest.raises(KeysUnavailable):
            client.key_for(CURRENT.kid)
    assert auth.requests == 2
    # Back up: the next attempt after the interval recovers.
    auth.status = 200
    clock.now += 30
    assert client.key_for(CURRENT.kid) is not None
    assert auth.requests == 3


def test_slow_endpoint_times_out(auth: SimulatedSupabaseAuth) -> None:
    auth.delay = 1.0
    jwks = JwksClient(auth.jwks_url, timeout_seconds=0.2)
    try:
        with pytest.raises(KeysUnavailable, match="in time"):
            jwks.key_for(CURRENT.kid)
    finally:
        jwks.close()


def test_unreachable_endpoint() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    jwks = JwksClient(f"http://127.0.0.1:{port}/auth/v1/.well-known/jwks.json")
    try:
        with pytest.raises(KeysUnavailable, match="could not be reached"):
            jwks.key_for(CURRENT.kid)
    finally:
        jwks.close()


def test_bad_keys_in_the_set_are_skipped(
    auth: SimulatedSupabaseAuth, client: JwksClient, caplog: pytest.LogCaptureFixture
) -> None:
    small = SigningKey.rs256(bits=1024)
    auth.keys.append(small)
    assert client.key_for(small.kid) is None
    assert client.key_for(CURRENT.kid) is not None
    assert any(r.getMessage() == "jwks key skipped" for r in caplog.records)


def test_arguments() -> None:
    with pytest.raises(ValueError, match="refetch"):
        JwksClient(
            "https://x.supabase.co/auth/v1/.well-known/jwks.json",
            ttl_seconds=10,
            refetch_seconds=20,
        )
    with pytest.raises(ValueError, match="positive"):
        JwksClient("https://x.supabase.co/auth/v1/.well-known/jwks.json", timeout_seconds=0)


def test_concurrent_cold_start_fetches_once(auth: SimulatedSupabaseAuth) -> None:
    # Twenty requests arrive before the keys are known: one fetch serves them all.
    auth.delay = 0.2
    jwks = JwksClient(auth.jwks_url)
    barrier = threading.Barrier(20)
    found: list[bool] = []

    def request() -> None:
        barrier.wait()
        found.append(jwks.key_for(CURRENT.kid) is not None)

    threads = [threading.Thread(target=request) for _ in range(20)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        jwks.close()
    assert found == [True] * 20
    assert auth.requests == 1
