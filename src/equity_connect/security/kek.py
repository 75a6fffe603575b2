"""Key-encryption-key (KEK) providers: who wraps and unwraps the data keys.

A provider holds one or more KEKs, each named by a key id (``kid``) that is
written into every ciphertext. Two implementations:

* :class:`EnvKeks`: the keys from ``EC_ENCRYPTION_KEYS`` / its file, used in
  this process with AES-256-GCM (wrapped data key: 12-byte nonce + 32 + 16).
* :class:`~equity_connect.security.aws_kms.AwsKmsKeks`: AWS KMS, where the KEK
  never leaves the service; data keys come from ``GenerateDataKey`` and are
  unwrapped by ``Decrypt``, with a bounded, time-limited cache in memory.

Both answer the same four questions, so the cipher, rotation and the CLI do
not care which one a value's kid belongs to, and a value wrapped by one can be
re-wrapped by the other (rotation from env keys to KMS).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
NONCE_BYTES = 12
_DEK_AAD = b"equity-connect/dek/v1|"


class KeyConfigError(Exception):
    """The key configuration is missing or malformed. Never carries key material."""


class DecryptionError(Exception):
    """A ciphertext could not be decrypted: wrong place, tampered, or its key is gone."""


class KeyServiceError(Exception):
    """The key service (KMS) could not be used: nothing is encrypted or decrypted without it.

    Not a :class:`DecryptionError`: a caller that treats an undecryptable value
    as bad data must not treat an outage that way. The message is one sentence
    naming the service and what to check; it never carries key material.
    """


class KekProvider(Protocol):
    """Wraps and unwraps data keys under the KEKs it holds."""

    def holds(self, kid: str) -> bool:
        """Whether ``kid`` names one of this provider's KEKs."""
        ...

    def generate(self, kid: str) -> tuple[bytes, bytes]:
        """A data key for new values: (plaintext, wrapped under ``kid``).

        A provider may hand out the same data key again for a while (KMS does,
        to bound its calls); the cipher's random nonces make that safe.
        """
        ...

    def wrap(self, kid: str, dek: bytes) -> bytes:
        """``dek`` (an existing data key, for rotation) wrapped under ``kid``."""
        ...

    def unwrap(self, kid: str, wrapped: bytes) -> bytes:
        """The plaintext data key; :class:`DecryptionError` if it is not ``kid``'s."""
        ...


class EnvKeks:
    """KEKs held in this process (from the environment or key files)."""

    def __init__(self, keys: Mapping[str, bytes]) -> None:
        self._aes = {kid: AESGCM(key) for kid, key in keys.items()}

    def __repr__(self) -> str:  # never print key bytes
        return f"EnvKeks(kids={list(self._aes)})"

    def holds(self, kid: str) -> bool:
        """Whether ``kid`` is one of the configured keys."""
        return kid in self._aes

    def generate(self, kid: str) -> tuple[bytes, bytes]:
        """A fresh random data key, wrapped locally (no service to spare)."""
        dek = AESGCM.generate_key(bit_length=256)
        return dek, self.wrap(kid, dek)

    def wrap(self, kid: str, dek: bytes) -> bytes:
        """AES-256-GCM under ``kid``, the key id as associated data."""
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aes[kid].encrypt(nonce, dek, _DEK_AAD + kid.encode())

    def unwrap(self, kid: str, wrapped: bytes) -> bytes:
        """The data key, or :class:`DecryptionError`."""
        aes = self._aes.get(kid)
        if aes is None:
            raise DecryptionError(f"key {kid!r} is not configured (revoked or never known)")
        try:
            return aes.decrypt(
                wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], _DEK_AAD + kid.encode()
            )
        except InvalidTag as exc:
            raise DecryptionError(f"data key does not unwrap under key {kid!r}") from exc
