"""The Supabase project's JWT signing keys, fetched from its JWKS endpoint and cached.

Endpoint: ``GET https://<project>.supabase.co/auth/v1/.well-known/jwks.json``
(Supabase docs, guides/auth/signing-keys, "Public key discovery and caching";
served by supabase/auth ``internal/api/jwks.go`` with
``Cache-Control: public, max-age=600``). Its answer is ``{"keys": [...]}``;
`equity_connect.security.jwks.parse_jwks` reads it.

How keys change, and what follows for the cache (same doc, "Lifetime of a
signing key"): a new key is published as *standby* before Auth signs with it,
so a cache refreshed every ``ttl_seconds`` (default 600 s, the endpoint's own
``max-age``) normally knows a key before the first token made with it; a
*revoked* key disappears from the set, so it stops verifying at the next
refresh at the latest. A token naming a ``kid`` we do not hold triggers one
early refresh (the standby step may have been rushed), but at most one per
``refetch_seconds``: a flood of tokens with random ``kid`` values costs the
endpoint one request per interval, not one per token.

Failure is closed: keys older than ``ttl_seconds`` are never used, so when
the endpoint is unreachable, slow (``timeout_seconds``) or answers nonsense,
`key_for` raises `KeysUnavailable` (a 503 for the caller) instead of trusting
a set that may still hold a revoked key. While the endpoint stays down, it is
asked again at most once per ``refetch_seconds``; in between, requests fail
at once rather than each waiting for a timeout.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Final

import httpx

from equity_connect.config import Settings
from equity_connect.security.jwks import (
    JwksDocumentError,
    KeysUnavailable,
    VerificationKey,
    parse_jwks,
)

__all__ = ["MAX_JWKS_BYTES", "JwksClient", "jwks_client_for"]

MAX_JWKS_BYTES: Final = 64 * 1024
"""A key set is a few keys of a few hundred bytes; anything far larger is not one."""

log = logging.getLogger(__name__)


def jwks_client_for(settings: Settings) -> JwksClient | None:
    """The configured project's key set, or None when only the legacy secret is in use."""
    url = settings.jwks_url
    if url is None:
        return None
    return JwksClient(
        url,
        ttl_seconds=settings.jwt_jwks_ttl_seconds,
        refetch_seconds=settings.jwt_jwks_refetch_seconds,
        timeout_seconds=settings.jwt_jwks_timeout_seconds,
    )


class JwksClient:
    """A thread-safe, rate-limited cache of one JWKS endpoint (a `KeySource`)."""

    def __init__(
        self,
        url: str,
        *,
        ttl_seconds: float = 600.0,
        refetch_seconds: float = 30.0,
        timeout_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if ttl_seconds <= 0 or refetch_seconds < 0 or timeout_seconds <= 0:
            raise ValueError("ttl and timeout must be positive, refetch interval not negative")
        if refetch_seconds > ttl_seconds:
            raise ValueError("the refetch interval must not exceed the cache lifetime")
        self.url = url
        self._ttl = ttl_seconds
        self._refetch = refetch_seconds
        self._clock = clock
        # No redirects: the key set is fetched from exactly the configured URL.
        self._http = httpx.Client(
            timeout=timeout_seconds,
            follow_redirects=False,
            headers={"Accept": "application/json"},
            transport=transport,
        )
        self._lock = threading.Lock()
        self._keys: dict[str, VerificationKey] = {}
        self._fetched_at: float | None = None  # last successful fetch
        self._attempted_at: float | None = None  # last fetch, successful or not
        self._last_error = "the signing keys have not been fetched yet"
        self.fetches = 0
        """HTTP requests made so far (tests and diagnostics)."""

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._http.close()

    def key_for(self, kid: str) -> VerificationKey | None:
        """The key with this ``kid``; None if the (fresh) key set has none.

        Raises `KeysUnavailable` when no fresh key set can be had.
        """
        with self._lock:
            now = self._clock()
            if self._is_fresh(now) and kid in self._keys:
                return self._keys[kid]
            # Stale, never fetched, or an unknown kid: ask again, unless we
            # asked less than refetch_seconds ago.
            if self._attempted_at is None or now - self._attempted_at >= self._refetch:
                self._refresh(now)
            if not self._is_fresh(now):
                raise KeysUnavailable(self._last_error)
            return self._keys.get(kid)

    def _is_fresh(self, now: float) -> bool:
        return self._fetched_at is not None and now - self._fetched_at < self._ttl

    def _refresh(self, now: float) -> None:
        self._attempted_at = now
        self.fetches += 1
        try:
            document = self._download()
            keys, skipped = parse_jwks(document)
        except (httpx.HTTPError, JwksDocumentError, _BadAnswer) as exc:
            self._last_error = f"signing keys could not be fetched: {_describe(exc)}"
            log.warning("jwks fetch failed", extra={"url": self.url, "reason": _describe(exc)})
            return
        for reason in skipped:
            log.warning("jwks key skipped", extra={"url": self.url, "reason": reason})
        self._keys = keys
        self._fetched_at = now

    def _download(self) -> bytes:
        with self._http.stream("GET", self.url) as response:
            if response.status_code != httpx.codes.OK:
                raise _BadAnswer(f"the endpoint answered HTTP {response.status_code}")
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > MAX_JWKS_BYTES:
                    raise _BadAnswer(f"the answer is larger than {MAX_JWKS_BYTES} bytes")
            return bytes(body)


class _BadAnswer(Exception):
    """The endpoint answered, but not with a key set we will read."""


def _describe(exc: Exception) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return "the endpoint did not answer in time"
    if isinstance(exc, httpx.HTTPError):
        return f"the endpoint could not be reached ({type(exc).__name__})"
    return str(exc)
