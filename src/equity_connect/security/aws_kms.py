"""AWS KMS as the key-encryption-key provider (``EC_KMS_PROVIDER=aws``).

The KEK is a KMS key and never leaves KMS. New values get a data key from
``GenerateDataKey`` (plaintext for this process, ciphertext blob stored in
every value's header); reading a value sends its blob to ``Decrypt``.

Calls are bounded by the shared data-key cache (``dek_cache.py``, also used by
Vault transit): one ``GenerateDataKey`` per time window per process, and one
``Decrypt`` per data key however many values it wrote.

Each blob is bound to its purpose and key id by KMS encryption context (the
values themselves stay bound to table, column and row by the cipher's
associated data). An unreachable KMS, a refused call or a missing key raises
:class:`KeyServiceError` with one sentence: there is no fallback to anything
weaker, and nothing is written unencrypted.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from equity_connect.security.dek_cache import DEFAULT_MAX_REUSE, DataKeyCache
from equity_connect.security.kek import KEY_BYTES, DecryptionError, KeyServiceError

if TYPE_CHECKING:
    from mypy_boto3_kms import KMSClient

_CONTEXT_PURPOSE = "equity-connect/dek/v1"


class AwsKmsKeks:
    """One KMS key, known to our ciphertexts by the key id ``kid``."""

    label = "aws kms"  # how `keys status` names the holder

    def __init__(
        self,
        *,
        kid: str,
        key_id: str,
        region: str | None = None,
        endpoint_url: str | None = None,
        cache_max_keys: int = 1000,
        cache_ttl_seconds: float = 300.0,
        max_reuse: int = DEFAULT_MAX_REUSE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.kid = kid
        self.key_id = key_id
        self.region = region
        self.endpoint_url = endpoint_url
        self.cache_max_keys = max(1, cache_max_keys)
        self.cache_ttl_seconds = cache_ttl_seconds
        self.max_reuse = max(1, max_reuse)
        self._clock = clock
        self._reset()

    def _reset(self) -> None:
        self._client: KMSClient | None = None
        self.cache = DataKeyCache(
            max_keys=self.cache_max_keys,
            ttl_seconds=self.cache_ttl_seconds,
            max_reuse=self.max_reuse,
            clock=self._clock,
        )
        self.calls = 0  # KMS API calls made by this process (the benchmark prints it)

    def __repr__(self) -> str:
        return f"AwsKmsKeks(kid={self.kid!r}, key_id={self.key_id!r})"

    # A process pool gets the configuration, never the cached plaintext keys or
    # the client (each process makes its own, as boto3 clients are per process).
    def __getstate__(self) -> dict[str, Any]:
        keep = ("kid", "key_id", "region", "endpoint_url", "cache_max_keys")
        state = {name: getattr(self, name) for name in keep}
        state |= {"cache_ttl_seconds": self.cache_ttl_seconds, "max_reuse": self.max_reuse}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._clock = time.monotonic
        self._reset()

    def _kms(self) -> KMSClient:
        if self._client is None:
            # Few retries and short timeouts: an outage should fail in seconds,
            # with our sentence, rather than hang a request or an ingest.
            config = Config(
                retries={"max_attempts": 3, "mode": "standard"},
                connect_timeout=3,
                read_timeout=10,
            )
            self._client = boto3.client(
                "kms", region_name=self.region, endpoint_url=self.endpoint_url, config=config
            )
        return self._client

    def _context(self, kid: str) -> dict[str, str]:
        return {"purpose": _CONTEXT_PURPOSE, "kid": kid}

    def _call(self, what: str, fn: Callable[[], Any]) -> Any:
        self.calls += 1
        try:
            return fn()
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "error")
            if code in {"InvalidCiphertextException", "IncorrectKeyException"}:
                raise DecryptionError(
                    f"data key does not unwrap under KMS key {self.kid!r} ({code})"
                ) from None
            raise KeyServiceError(
                f"AWS KMS refused {what} with key {self.key_id} ({code}): check the key exists, "
                "is enabled and this process may use it; PII stays unreadable and unwritable "
                "until then"
            ) from None
        except BotoCoreError as exc:
            raise KeyServiceError(
                f"AWS KMS cannot be used for {what} ({type(exc).__name__}: {exc}): check "
                "EC_AWS_KMS_ENDPOINT_URL / EC_AWS_REGION, the network and the AWS credentials; "
                "PII stays unreadable and unwritable until then"
            ) from None

    def holds(self, kid: str) -> bool:
        """Whether ``kid`` is this KMS key's id in our ciphertexts."""
        return kid == self.kid

    def generate(self, kid: str) -> tuple[bytes, bytes]:
        """The current data key, or a new one from ``GenerateDataKey`` once it is too old."""

        def fetch() -> tuple[bytes, bytes]:
            answer = self._call(
                "GenerateDataKey",
                lambda: self._kms().generate_data_key(
                    KeyId=self.key_id, KeySpec="AES_256", EncryptionContext=self._context(kid)
                ),
            )
            return answer["Plaintext"], answer["CiphertextBlob"]

        return self.cache.current(fetch)

    def wrap(self, kid: str, dek: bytes) -> bytes:
        """An existing data key (rotation onto KMS) wrapped by KMS ``Encrypt``."""
        answer = self._call(
            "Encrypt",
            lambda: self._kms().encrypt(
                KeyId=self.key_id, Plaintext=dek, EncryptionContext=self._context(kid)
            ),
        )
        blob: bytes = answer["CiphertextBlob"]
        self.cache.remember(blob, dek)
        return blob

    def unwrap(self, kid: str, wrapped: bytes) -> bytes:
        """The data key of a blob, from the cache or ``Decrypt``."""
        hit = self.cache.unwrapped(wrapped)
        if hit is not None:
            return hit
        answer = self._call(
            "Decrypt",
            lambda: self._kms().decrypt(
                CiphertextBlob=wrapped, KeyId=self.key_id, EncryptionContext=self._context(kid)
            ),
        )
        dek: bytes = answer["Plaintext"]
        if len(dek) != KEY_BYTES:
            raise DecryptionError(f"KMS key {self.kid!r} unwrapped a {len(dek)}-byte data key")
        self.cache.remember(wrapped, dek)
        return dek
