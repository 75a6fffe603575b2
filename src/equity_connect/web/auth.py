"""Who is calling: a broker (Supabase JWT) or the ops team (API key), by header or cookie.

A broker's requests then run in a transaction as that broker
(``as_broker``), so Postgres row-level security decides what they see.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import time

from fastapi import Request

from equity_connect.auth.principal import Principal
from equity_connect.db import queries
from equity_connect.db.pool import Conn
from equity_connect.errors import DomainError
from equity_connect.security.apikeys import Scope, check_api_key, has_scope, parse_api_key
from equity_connect.security.jwks import KeysUnavailable
from equity_connect.security.jwt import JwtError, verify_jwt
from equity_connect.web.state import AppState, state_of

Q = queries.load("equity_connect.web")
SESSION_COOKIE = "ec_session"
SESSION_TTL = 8 * 3600


def session_key(state: AppState) -> bytes:
    """The cookie-signing key: configured, or derived from the index key (a separate
    purpose string keeps the two uses apart)."""
    if state.settings.session_secret:
        return state.settings.session_secret.encode()
    return hmac.new(state.keyring.index_key, b"equity-connect/session/v1", hashlib.sha256).digest()


def sign_session(
    key: bytes, principal: Principal, *, now: float | None = None, expires: float | None = None
) -> str:
    """A tamper-proof session value, expiring after SESSION_TTL or at ``expires`` if sooner
    (a broker's session ends with the token that opened it)."""
    until = (now or time.time()) + SESSION_TTL
    if expires is not None:
        until = min(until, expires)
    body = json.dumps(
        {"k": principal.kind, "i": principal.id, "s": sorted(principal.scopes), "e": int(until)}
    ).encode()
    mac = hmac.new(key, body, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(body).decode() + "." + base64.urlsafe_b64encode(mac).decode()


def read_session(key: bytes, value: str, *, now: float | None = None) -> Principal | None:
    """The principal a valid, unexpired session names; None otherwise."""
    try:
        body_b64, mac_b64 = value.split(".", 1)
        body = base64.urlsafe_b64decode(body_b64)
        mac = base64.urlsafe_b64decode(mac_b64)
    except (ValueError, TypeError):
        return None
    if not hmac.compare_digest(mac, hmac.new(key, body, hashlib.sha256).digest()):
        return None
    data = json.loads(body)
    if data["e"] < (now or time.time()) or data["k"] not in ("ops", "broker"):
        return None
    return Principal(data["k"], data["i"], frozenset(data["s"]))


def principal_from_api_key(conn: Conn, token: str) -> Principal | None:
    """An ops principal for a valid, unrevoked API key."""
    parsed = parse_api_key(token)
    if parsed is None:
        return None
    key_id, digest = parsed
    row = conn.execute(Q["api_key"], {"key_id": key_id}).fetchone()
    if row is None or not check_api_key(digest, bytes(row["secret_hash"])):
        return None
    conn.execute(Q["touch_api_key"], {"key_id": key_id})
    return Principal("ops", key_id, frozenset(row["scopes"]))


def principal_from_jwt(state: AppState, token: str) -> Principal:
    """A broker principal for a valid Supabase JWT; 401 with the failed check otherwise."""
    return broker_session(state, token)[0]


def broker_session(state: AppState, token: str) -> tuple[Principal, int]:
    """A broker principal and the token's expiry (a session must not outlive it).

    HS256 tokens are checked with EC_JWT_SECRET, ES256/RS256 ones with the
    project's published signing keys; 401 names the failed check, 503 says
    the signing keys could not be fetched (the token may be fine: retry).
    """
    settings = state.settings
    secret = settings.jwt_secret
    if not secret and state.jwks is None:
        raise DomainError(
            401, "jwt_not_configured", "set EC_JWT_SECRET or EC_JWT_ISSUER/EC_JWT_JWKS_URL"
        )
    try:
        claims = verify_jwt(
            token,
            secret=secret.encode() if secret else None,
            keys=state.jwks,
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
        )
    except JwtError as exc:
        raise DomainError(401, f"jwt_{exc.code}", exc.reason) from exc
    except KeysUnavailable as exc:
        wait = max(1, math.ceil(settings.jwt_jwks_refetch_seconds))
        raise DomainError(
            503, "jwks_unavailable", f"{exc.reason}; retry shortly", retry_after=wait
        ) from exc
    return Principal("broker", str(claims.sub)), claims.exp


def authenticate(request: Request) -> Principal:
    """The caller, from ``Authorization: Bearer <jwt>``, ``X-API-Key`` or the session cookie."""
    state = state_of(request)
    auth = request.headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return principal_from_jwt(state, auth[7:].strip())
    api_key = request.headers.get("x-api-key")
    if api_key:
        with state.pool.connection() as conn:
            found = principal_from_api_key(conn, api_key)
        if found is None:
            raise DomainError(401, "bad_api_key", "the API key is unknown or revoked")
        return found
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        found = read_session(session_key(state), cookie)
        if found is not None and (found.kind == "broker" or key_still_valid(state, found.id)):
            return found
    raise DomainError(401, "unauthenticated", "send a broker JWT (Bearer) or an ops X-API-Key")


def session_principal(request: Request) -> Principal | None:
    """The principal of the dashboard session cookie, or None (no, bad, expired session,
    or an ops session whose API key was revoked since the login)."""
    cookie = request.cookies.get(SESSION_COOKIE)
    state = state_of(request)
    found = read_session(session_key(state), cookie) if cookie else None
    if found is not None and found.kind == "ops" and not key_still_valid(state, found.id):
        return None
    return found


def key_still_valid(state: AppState, key_id: str) -> bool:
    """A session opened with an API key ends when the key is revoked."""
    with state.pool.connection() as conn:
        return conn.execute(Q["api_key"], {"key_id": key_id}).fetchone() is not None


def require_ops(principal: Principal, scope: Scope) -> Principal:
    """403 unless an ops principal holding ``scope``."""
    if principal.kind != "ops" or not has_scope(principal.scopes, scope):
        raise DomainError(403, "forbidden", f"this needs an ops key with scope {scope}")
    return principal
