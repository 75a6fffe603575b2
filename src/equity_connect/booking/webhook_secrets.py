"""The Cal.com webhook secrets `calcom setup` stored, for the inbound verifier.

Read from the database (encrypted) and kept in memory for a short while, so a
delivery costs no query. A signature that matches none of the cached secrets
reloads them once (at most once a second), so a webhook created a moment ago
verifies at once, and a flood of forged requests costs at most a query a second.
"""

from __future__ import annotations

import threading
import time

from psycopg_pool import ConnectionPool

from equity_connect.booking.setup import stored_secrets
from equity_connect.db.pool import Conn
from equity_connect.security.crypto import Keyring, PiiCipher

_TTL_SECONDS = 60.0
_MIN_RELOAD_SECONDS = 1.0


class StoredSecrets:
    """One app's (one pool's) cache of the stored secrets."""

    def __init__(self, pool: ConnectionPool[Conn], keyring: Keyring) -> None:
        self.pool = pool
        self._keyring = keyring
        self._secrets: list[bytes] = []
        self._loaded_at = float("-inf")
        self._lock = threading.Lock()

    def _age(self) -> float:
        return time.monotonic() - self._loaded_at

    def _load(self) -> list[bytes]:
        with self.pool.connection() as conn:
            loaded = stored_secrets(conn, PiiCipher(self._keyring))
        with self._lock:
            self._secrets, self._loaded_at = loaded, time.monotonic()
        return list(loaded)

    def current(self) -> list[bytes]:
        """The secrets, reloaded when older than the time limit."""
        with self._lock:
            if self._age() < _TTL_SECONDS:
                return list(self._secrets)
        return self._load()

    def reloaded(self) -> list[bytes] | None:
        """Fresh secrets from the database; None when they were loaded under a second ago."""
        with self._lock:
            if self._age() < _MIN_RELOAD_SECONDS:
                return None
        return self._load()


_caches: dict[int, StoredSecrets] = {}


def for_pool(pool: ConnectionPool[Conn], keyring: Keyring) -> StoredSecrets:
    """The cache of the app using ``pool`` (made on first use)."""
    found = _caches.get(id(pool))
    if found is None or found.pool is not pool:
        if len(_caches) > 16:  # tests build many apps; keep it bounded
            _caches.clear()
        found = _caches[id(pool)] = StoredSecrets(pool, keyring)
    return found
