"""The data-key cache every remote KEK provider (AWS KMS, Vault transit) shares.

A remote key service is asked as little as possible, with two caches in
memory, both bounded in size and time (``EC_KMS_CACHE_MAX_KEYS``,
``EC_KMS_CACHE_TTL_SECONDS``):

* the *current* data key is handed out again to every cipher of this process
  until it is ``ttl`` old or has been handed out ``max_reuse`` times, so an
  ingest of any size asks the service for one data key per time window;
* unwrapped data keys are kept (LRU) so the values written under one data key
  cost one unwrap call however many are read.

The cache never calls the service itself: the provider passes the call in, so
each provider keeps its own wire protocol and errors. Nothing here is pickled:
a process pool rebuilds an empty cache (see the providers' ``__getstate__``).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

# AWS's own advice for random-nonce AES-GCM is far below 2^32 messages per key;
# each hand-out lets one cipher encrypt up to its data_key_uses values.
DEFAULT_MAX_REUSE = 4096


class DataKeyCache:
    """The current data key and the unwrapped ones, bounded by count and age."""

    def __init__(
        self,
        *,
        max_keys: int = 1000,
        ttl_seconds: float = 300.0,
        max_reuse: int = DEFAULT_MAX_REUSE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_keys = max(1, max_keys)
        self.ttl_seconds = ttl_seconds
        self.max_reuse = max(1, max_reuse)
        self._clock = clock
        self._lock = threading.Lock()
        self._current: tuple[bytes, bytes, float] | None = None  # plaintext, wrapped, since
        self._handed_out = 0
        self._unwrapped: OrderedDict[bytes, tuple[bytes, float]] = OrderedDict()

    def is_empty(self) -> bool:
        """Whether no data key is held (a fresh process, or after a pickle)."""
        return self._current is None and not self._unwrapped

    def _fresh(self, since: float) -> bool:
        return self._clock() - since < self.ttl_seconds

    def current(self, fetch: Callable[[], tuple[bytes, bytes]]) -> tuple[bytes, bytes]:
        """The current (plaintext, wrapped) data key; ``fetch`` a new one once it is used up."""
        # Held across fetch on purpose: concurrent ciphers wait for one new key
        # instead of each asking the service for its own.
        with self._lock:
            current = self._current
            if current is None or not self._fresh(current[2]) or self._handed_out >= self.max_reuse:
                plaintext, wrapped = fetch()
                current = (plaintext, wrapped, self._clock())
                self._current, self._handed_out = current, 0
                self._remember(wrapped, plaintext)
            self._handed_out += 1
            return current[0], current[1]

    def unwrapped(self, wrapped: bytes) -> bytes | None:
        """The cached plaintext of ``wrapped``, if it is still fresh."""
        with self._lock:
            hit = self._unwrapped.get(wrapped)
            if hit is None or not self._fresh(hit[1]):
                return None
            self._unwrapped.move_to_end(wrapped)
            return hit[0]

    def remember(self, wrapped: bytes, dek: bytes) -> None:
        """Keep ``dek`` as the plaintext of ``wrapped`` (after an unwrap or a wrap)."""
        with self._lock:
            self._remember(wrapped, dek)

    def _remember(self, wrapped: bytes, dek: bytes) -> None:
        self._unwrapped[wrapped] = (dek, self._clock())
        self._unwrapped.move_to_end(wrapped)
        while len(self._unwrapped) > self.max_keys:
            self._unwrapped.popitem(last=False)
