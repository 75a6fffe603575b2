"""HashiCorp Vault's transit engine as the KEK provider (``EC_KMS_PROVIDER=vault``).

The KEK is a transit key and never leaves Vault (OpenBao speaks the same API).
New values get a data key from ``POST /v1/<mount>/datakey/plaintext/<key>``
(plaintext for this process, ``vault:v<N>:…`` ciphertext stored in every
value's header); reading a value sends that ciphertext to
``POST /v1/<mount>/decrypt/<key>``; rotation onto Vault wraps an existing data
key with ``POST /v1/<mount>/encrypt/<key>``. Token auth (``X-Vault-Token``),
and ``X-Vault-Namespace`` where namespaces are used.

httpx rather than ``hvac``: three documented POSTs with JSON bodies, and httpx
is already how every provider here talks HTTP (timeouts, transports, errors),
so one more client library would add a dependency and its own error types for
no gain.

Each wrapped data key is bound to its purpose and key id by transit's
``associated_data`` (AES-GCM additional data; the key must be the default
``aes256-gcm96`` type). Calls are bounded by the shared data-key cache
(``dek_cache.py``, as for AWS KMS). Vault unreachable, sealed or refusing the
token raises :class:`KeyServiceError` with one sentence: there is no fallback
to anything weaker, and nothing is written unencrypted.
"""

from __future__ import annotations

import base64
import binascii
import time
import weakref
from collections.abc import Callable
from typing import Any

import httpx

from equity_connect.security.dek_cache import DEFAULT_MAX_REUSE, DataKeyCache
from equity_connect.security.kek import KEY_BYTES, DecryptionError, KeyServiceError

_AAD_PURPOSE = "equity-connect/dek/v1|"
_UNTIL = "PII stays unreadable and unwritable until then"
# Transit's answers (400) when a ciphertext is not this key's: bad data, not an outage.
_NOT_OURS = ("message authentication failed", "invalid ciphertext", "invalid version")


class VaultTransitKeks:
    """One transit key, known to our ciphertexts by the key id ``kid``."""

    label = "vault transit"

    def __init__(
        self,
        *,
        kid: str,
        addr: str,
        token: str,
        key_name: str,
        mount: str = "transit",
        namespace: str | None = None,
        cache_max_keys: int = 1000,
        cache_ttl_seconds: float = 300.0,
        max_reuse: int = DEFAULT_MAX_REUSE,
        clock: Callable[[], float] = time.monotonic,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.kid = kid
        self.addr = addr.rstrip("/")
        self._token = token
        self.key_name = key_name
        self.mount = mount.strip("/")
        self.namespace = namespace
        self.cache_max_keys = max(1, cache_max_keys)
        self.cache_ttl_seconds = cache_ttl_seconds
        self.max_reuse = max(1, max_reuse)
        self._clock = clock
        self._transport = transport
        self._reset()

    def _reset(self) -> None:
        self._client: httpx.Client | None = None
        self.cache = DataKeyCache(
            max_keys=self.cache_max_keys,
            ttl_seconds=self.cache_ttl_seconds,
            max_reuse=self.max_reuse,
            clock=self._clock,
        )
        self.calls = 0  # transit API calls made by this process

    def __repr__(self) -> str:  # never the token
        return f"VaultTransitKeks(kid={self.kid!r}, key={self.mount}/{self.key_name})"

    # A process pool gets the configuration (the token included: a worker must
    # authenticate too), never the cached plaintext keys or the client.
    def __getstate__(self) -> dict[str, Any]:
        keep = ("kid", "addr", "_token", "key_name", "mount", "namespace", "cache_max_keys")
        state = {name: getattr(self, name) for name in keep}
        state |= {"cache_ttl_seconds": self.cache_ttl_seconds, "max_reuse": self.max_reuse}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._clock = time.monotonic
        self._transport = None
        self._reset()

    def _http(self) -> httpx.Client:
        if self._client is None:
            headers = {"X-Vault-Token": self._token}
            if self.namespace:
                headers["X-Vault-Namespace"] = self.namespace
            # Short timeouts: an outage should fail in seconds, with our sentence.
            self._client = httpx.Client(
                base_url=self.addr,
                headers=headers,
                timeout=httpx.Timeout(10.0, connect=3.0),
                transport=self._transport,
            )
            # The provider lives as long as its keyring, which has no close():
            # the pooled connections are closed when the provider is collected.
            weakref.finalize(self, self._client.close)
        return self._client

    def _aad(self, kid: str) -> str:
        return base64.b64encode((_AAD_PURPOSE + kid).encode()).decode()

    def _post(self, op: str, body: dict[str, Any]) -> dict[str, Any]:
        path = f"/v1/{self.mount}/{op}/{self.key_name}"
        what = f"POST {path}"
        self.calls += 1
        try:
            answer = self._http().post(path, json=body)
        except httpx.HTTPError as exc:
            raise KeyServiceError(
                f"Vault transit cannot be used for {what} ({type(exc).__name__}): check "
                f"EC_VAULT_ADDR ({self.addr}), the network and that Vault is running; {_UNTIL}"
            ) from None
        if answer.status_code == httpx.codes.OK:
            data = answer.json().get("data")
            if isinstance(data, dict):
                return data
        reason = _first_error(answer)
        not_ours = any(text in reason.lower() for text in _NOT_OURS)
        if answer.status_code == httpx.codes.BAD_REQUEST and op == "decrypt" and not_ours:
            raise DecryptionError(
                f"data key does not unwrap under Vault transit key {self.kid!r} ({reason})"
            )
        if answer.status_code in {httpx.codes.UNAUTHORIZED, httpx.codes.FORBIDDEN}:
            hint = "check EC_VAULT_TOKEN is valid and its policy allows update on this path"
        elif answer.status_code == httpx.codes.SERVICE_UNAVAILABLE:
            hint = "Vault is sealed or in standby: unseal it or point EC_VAULT_ADDR at the leader"
        else:
            hint = "check the transit mount and key exist (EC_VAULT_TRANSIT_MOUNT, _KEY)"
        raise KeyServiceError(
            f"Vault refused {what} ({answer.status_code} {reason}): {hint}; {_UNTIL}"
        )

    def holds(self, kid: str) -> bool:
        """Whether ``kid`` is this transit key's id in our ciphertexts."""
        return kid == self.kid

    def generate(self, kid: str) -> tuple[bytes, bytes]:
        """The current data key, or a new one from ``datakey/plaintext`` once it is too old."""

        def fetch() -> tuple[bytes, bytes]:
            data = self._post("datakey/plaintext", {"bits": 256, "associated_data": self._aad(kid)})
            return self._data_key(data.get("plaintext")), _wrapped(data)

        return self.cache.current(fetch)

    def wrap(self, kid: str, dek: bytes) -> bytes:
        """An existing data key (rotation onto Vault) wrapped by transit ``encrypt``."""
        plaintext = base64.b64encode(dek).decode()
        wrapped = _wrapped(
            self._post("encrypt", {"plaintext": plaintext, "associated_data": self._aad(kid)})
        )
        self.cache.remember(wrapped, dek)
        return wrapped

    def unwrap(self, kid: str, wrapped: bytes) -> bytes:
        """The data key of a ``vault:v<N>:…`` ciphertext, from the cache or ``decrypt``."""
        hit = self.cache.unwrapped(wrapped)
        if hit is not None:
            return hit
        try:
            ciphertext = wrapped.decode("ascii")
        except UnicodeDecodeError:
            raise DecryptionError(f"not a Vault transit ciphertext for key {self.kid!r}") from None
        data = self._post("decrypt", {"ciphertext": ciphertext, "associated_data": self._aad(kid)})
        dek = self._data_key(data.get("plaintext"))
        self.cache.remember(wrapped, dek)
        return dek

    def _data_key(self, plaintext: object) -> bytes:
        try:
            dek = base64.b64decode(str(plaintext), validate=True)
        except (binascii.Error, ValueError):
            dek = b""
        if len(dek) != KEY_BYTES:
            raise DecryptionError(f"Vault transit key {self.kid!r} gave a {len(dek)}-byte data key")
        return dek


def _wrapped(data: dict[str, Any]) -> bytes:
    ciphertext = data.get("ciphertext")
    if not isinstance(ciphertext, str) or not ciphertext.startswith("vault:v"):
        raise KeyServiceError(
            f"Vault transit answered without a vault:v<N>: ciphertext: check EC_VAULT_ADDR "
            f"is Vault; {_UNTIL}"
        )
    return ciphertext.encode("ascii")


def _first_error(answer: httpx.Response) -> str:
    """Vault's first error text (``{"errors": [...]}``), on one line and short."""
    try:
        errors = answer.json().get("errors") or []
    except ValueError:
        errors = []
    text = str(errors[0]) if errors else answer.reason_phrase
    return " ".join(text.split())[:160]
