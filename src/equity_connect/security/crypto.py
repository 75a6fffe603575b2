"""PII encryption: AES-256-GCM envelope encryption and HMAC blind indexes.

Why not pgcrypto (the plan's choice): ``pgp_sym_encrypt(:email, :key)`` sends
the key to the server inside SQL text, where ``log_statement``,
``pg_stat_statements`` and ``pg_stat_activity`` can keep it. Here keys never
leave the process; the database only ever sees ciphertext and blind indexes.

Envelope: a random data key (DEK) encrypts values; the DEK is wrapped by a
key-encryption key (KEK) named by a key id, held by a provider (``kek.py``):
the environment/key files, or AWS KMS (``aws_kms.py``). Every
ciphertext carries its wrapped DEK and the KEK's id, so it is self-contained
and rotating the KEK means re-wrapping 60 bytes per value, never touching the
data. One DEK serves a bounded batch of values (``data_key_uses``), not one
value each: wrapping costs an AES-GCM operation, and a per-value DEK doubled
the cost of a million-row ingest for no gain in safety (random 96-bit nonces
stay far below the 2^32-messages-per-key bound).

Format: v1 (env keys) ``01 | kid length | kid | wrapped DEK (60 bytes) | nonce
| ciphertext+tag``; v2 (a provider whose wrapped DEK has its own length, KMS)
``02 | kid length | kid | wrapped length (2 bytes) | wrapped DEK | nonce |
ciphertext+tag``. Both start with the kid at the same place, which is what
rotation's SQL reads.

Associated data binds a ciphertext to its place (table, column, row id): a
ciphertext moved to another row or column fails to decrypt.

Blind index: HMAC-SHA256 under a separate key of the *normalized* value, for
equality lookups and dedupe. A plain SHA-256 of a phone number is not enough:
the ~10^10 US numbers enumerate in seconds.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import secrets
import uuid
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from equity_connect.security.kek import (
    KEY_BYTES,
    DecryptionError,
    EnvKeks,
    KekProvider,
    KeyConfigError,
    KeyServiceError,
)

__all__ = [
    "KEY_BYTES",
    "DecryptionError",
    "KeyConfigError",
    "KeyServiceError",
    "Keyring",
    "PiiCipher",
    "aad_for",
    "generate_key",
    "parse_encryption_keys",
]

_NONCE_BYTES = 12
_TAG_BYTES = 16
_WRAPPED_DEK_BYTES = _NONCE_BYTES + KEY_BYTES + _TAG_BYTES
_FORMAT_V1 = 1
_FORMAT_V2 = 2
_KID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_DATA_AAD = b"equity-connect/pii/v1|"
_INDEX_DOMAIN = b"equity-connect/blind-index/v1|"
_SHA256_BLOCK = 64


def _b64decode(value: str, what: str) -> bytes:
    try:
        return base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise KeyConfigError(f"{what} is not valid base64") from exc


def parse_encryption_keys(spec: str, source: str = "EC_ENCRYPTION_KEYS") -> dict[str, bytes]:
    """Parse ``kid:base64key,kid:base64key`` (first is active) into an ordered dict."""
    keys: dict[str, bytes] = {}
    for entry in (e.strip() for e in spec.split(",")):
        if not entry:
            continue
        kid, sep, encoded = entry.partition(":")
        if not sep or not _KID.match(kid):
            raise KeyConfigError(
                f"{source}: each entry must be 'kid:base64' with a kid of 1-32 letters, "
                "digits, '_' or '-'"
            )
        key = _b64decode(encoded, f"{source} key {kid!r}")
        if len(key) != KEY_BYTES:
            raise KeyConfigError(f"{source} key {kid!r} must be {KEY_BYTES} bytes, not {len(key)}")
        if kid in keys:
            raise KeyConfigError(f"{source}: key id {kid!r} appears twice")
        keys[kid] = key
    if not keys:
        raise KeyConfigError(f"{source} holds no key")
    return keys


@dataclass(frozen=True)
class Keyring:
    """The KEKs and the blind-index key.

    ``keys`` are the env/file KEKs; ``kms`` an optional provider (AWS KMS)
    whose KEKs never enter this process. ``active_kid`` names the KEK new
    values are wrapped under: the first env key, or the KMS key when one is
    configured (the env keys then only read what they wrapped, until
    ``keys rotate`` has re-wrapped it under KMS).
    """

    keys: Mapping[str, bytes]
    active_kid: str
    index_key: bytes = field(repr=False)
    kms: KekProvider | None = None

    def __repr__(self) -> str:  # never print key bytes, even by accident in a traceback
        return f"Keyring(kids={list(self.keys)}, active={self.active_kid!r}, kms={self.kms!r})"

    def with_kms(self, kms: KekProvider, kid: str) -> Keyring:
        """This keyring with ``kms`` as the active KEK provider (under key id ``kid``)."""
        if not _KID.match(kid):
            raise KeyConfigError(
                "EC_AWS_KMS_KID / EC_VAULT_KID must be 1-32 letters, digits, '_' or '-'"
            )
        if kid in self.keys:
            raise KeyConfigError(f"the KMS key id {kid!r} is also an EC_ENCRYPTION_KEYS id")
        return Keyring(keys=self.keys, active_kid=kid, index_key=self.index_key, kms=kms)

    @classmethod
    def from_values(
        cls, encryption_keys: str, index_key: str, *, keys_optional: bool = False
    ) -> Keyring:
        """Build from the env-var formats: ``kid:b64,...`` and a base64 index key.

        ``keys_optional`` allows an empty ``encryption_keys``, for a keyring that
        will get a KMS provider (``with_kms``); its ``active_kid`` is then empty.
        """
        empty = keys_optional and not encryption_keys.strip()
        keys = {} if empty else parse_encryption_keys(encryption_keys)
        idx = _b64decode(index_key, "EC_INDEX_KEY")
        if len(idx) < KEY_BYTES:
            raise KeyConfigError(f"EC_INDEX_KEY must be at least {KEY_BYTES} bytes")
        if any(hmac.compare_digest(idx, k) for k in keys.values()):
            raise KeyConfigError("EC_INDEX_KEY must differ from every encryption key")
        return cls(keys=keys, active_kid=next(iter(keys), ""), index_key=idx)

    @classmethod
    def from_sources(
        cls,
        *,
        encryption_keys: str | None,
        encryption_keys_file: Path | None,
        index_key: str | None,
        index_key_file: Path | None,
        encryption_keys_optional: bool = False,
    ) -> Keyring:
        """Keys from values or files (the settings' four fields); a clear error if absent.

        ``encryption_keys_optional``: a KMS holds the active KEK, so env keys are
        needed only to read what they wrapped before.
        """
        if encryption_keys_optional and not (encryption_keys or encryption_keys_file):
            enc = ""
        else:
            enc = _value_or_file(encryption_keys, encryption_keys_file, "EC_ENCRYPTION_KEYS")
        idx = _value_or_file(index_key, index_key_file, "EC_INDEX_KEY")
        return cls.from_values(enc, idx, keys_optional=encryption_keys_optional)


def _value_or_file(value: str | None, path: Path | None, name: str) -> str:
    if value:
        return value
    if path is not None:
        try:
            return path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise KeyConfigError(f"{name}_FILE ({path}) cannot be read: {exc.strerror}") from exc
    raise KeyConfigError(
        f"no PII key configured: set {name} or {name}_FILE "
        "(the demo creates local development keys in .data/keys)"
    )


def generate_key() -> str:
    """A new random 32-byte key, base64-encoded for the env vars."""
    return base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()


def aad_for(table: str, column: str, row_id: uuid.UUID | str) -> bytes:
    """Associated data naming a value's place: table, column and row."""
    return f"{table}.{column}.{row_id}".encode()


class PiiCipher:
    """Encrypts, decrypts and indexes PII with one keyring.

    Not thread-safe for encryption (it rotates its batch data key); give each
    thread or task its own instance. Decryption keeps a small cache of
    unwrapped data keys, since rows written together share one.
    """

    def __init__(self, keyring: Keyring, *, data_key_uses: int = 100_000) -> None:
        if not keyring.active_kid:
            raise KeyConfigError("no active PII key: set EC_ENCRYPTION_KEYS or EC_KMS_PROVIDER")
        self._keyring = keyring
        self._env = EnvKeks(keyring.keys)
        self._data_key_uses = data_key_uses
        self._uses_left = 0
        self._header = b""
        self._dek: AESGCM | None = None
        self._unwrapped: OrderedDict[bytes, AESGCM] = OrderedDict()
        self._rewrapped: OrderedDict[bytes, bytes] = OrderedDict()

    @property
    def keyring(self) -> Keyring:
        """The keys this cipher uses (for a worker process to make its own cipher)."""
        return self._keyring

    @property
    def active_kid(self) -> str:
        """The key id new ciphertexts are wrapped under."""
        return self._keyring.active_kid

    def _provider(self, kid: str) -> KekProvider:
        kms = self._keyring.kms
        if kms is not None and kms.holds(kid):
            return kms
        if self._env.holds(kid):
            return self._env
        raise DecryptionError(f"key {kid!r} is not configured (revoked or never known)")

    def _header_for(self, wrapped: bytes) -> bytes:
        """Format byte, active key id and the data key ``wrapped`` under that key."""
        kid = self._keyring.active_kid.encode()
        if self._keyring.kms is None or not self._keyring.kms.holds(self._keyring.active_kid):
            return bytes([_FORMAT_V1, len(kid)]) + kid + wrapped
        return bytes([_FORMAT_V2, len(kid)]) + kid + len(wrapped).to_bytes(2, "big") + wrapped

    def _raw_data_key(self, kid: str, wrapped: bytes) -> bytes:
        return self._provider(kid).unwrap(kid, wrapped)

    def _new_data_key(self) -> AESGCM:
        active = self._keyring.active_kid
        dek, wrapped = self._provider(active).generate(active)
        self._header = self._header_for(wrapped)
        self._dek = AESGCM(dek)
        self._uses_left = self._data_key_uses
        return self._dek

    def encrypt(self, plaintext: str, aad: bytes) -> bytes:
        """Encrypt ``plaintext`` for the place named by ``aad`` (see ``aad_for``)."""
        return self.encrypt_bytes(plaintext.encode(), aad)

    def encrypt_bytes(self, plaintext: bytes, aad: bytes) -> bytes:
        """Encrypt raw bytes (an upload body's chunk) as ``encrypt`` does text."""
        dek = self._dek
        if dek is None or self._uses_left <= 0:
            dek = self._new_data_key()
        self._uses_left -= 1
        nonce = os.urandom(_NONCE_BYTES)
        return self._header + nonce + dek.encrypt(nonce, plaintext, _DATA_AAD + aad)

    def encrypt_many(
        self, plaintexts: Sequence[bytes | None], aads: Sequence[bytes]
    ) -> list[bytes | None]:
        """``encrypt_bytes`` over many values (None stays None): the columnar staging's loop.

        Same format and the same data-key budget as one call per value,
        without the per-call overhead: nonces come from one ``urandom``
        call and the data key changes only when its uses run out.
        """
        out: list[bytes | None] = []
        append = out.append
        nonces = os.urandom(_NONCE_BYTES * len(plaintexts))
        prefix = _DATA_AAD
        at = 0
        for plaintext, aad in zip(plaintexts, aads, strict=True):
            if plaintext is None:
                append(None)
                continue
            dek = self._dek
            if dek is None or self._uses_left <= 0:
                dek = self._new_data_key()
            self._uses_left -= 1
            nonce = nonces[at : at + _NONCE_BYTES]
            at += _NONCE_BYTES
            append(self._header + nonce + dek.encrypt(nonce, plaintext, prefix + aad))
        return out

    def blind_indexes(self, channel: str, normalized: Sequence[bytes | None]) -> list[bytes | None]:
        """``blind_index`` over many UTF-8 values (None stays None).

        The same HMAC-SHA256 (RFC 2104), with the keyed inner and outer
        SHA-256 states (and the constant message prefix) computed once and
        copied per value: less than half the cost of ``hmac.digest`` a value.
        """
        key = self._keyring.index_key
        if len(key) > _SHA256_BLOCK:
            key = hashlib.sha256(key).digest()
        key = key.ljust(_SHA256_BLOCK, b"\0")
        inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
        inner.update(_INDEX_DOMAIN + channel.encode() + b"|")
        outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))
        out: list[bytes | None] = []
        append = out.append
        for value in normalized:
            if value is None:
                append(None)
                continue
            h = inner.copy()
            h.update(value)
            o = outer.copy()
            o.update(h.digest())
            append(o.digest())
        return out

    @staticmethod
    def _split(blob: bytes) -> tuple[str, bytes, bytes, bytes]:
        """(kid, wrapped DEK, nonce, ciphertext) of a v1 or v2 blob."""
        if len(blob) < 2 or blob[0] not in (_FORMAT_V1, _FORMAT_V2):
            raise DecryptionError("not an Equity Connect v1/v2 ciphertext")
        kid_end = 2 + blob[1]
        if blob[0] == _FORMAT_V1:
            dek_start, dek_end = kid_end, kid_end + _WRAPPED_DEK_BYTES
        else:
            if len(blob) < kid_end + 2:
                raise DecryptionError("ciphertext is truncated")
            dek_start = kid_end + 2
            dek_end = dek_start + int.from_bytes(blob[kid_end:dek_start], "big")
        body = dek_end + _NONCE_BYTES
        if len(blob) < body + _TAG_BYTES:
            raise DecryptionError("ciphertext is truncated")
        kid = blob[2:kid_end].decode("ascii", errors="replace")
        return kid, blob[dek_start:dek_end], blob[dek_end:body], blob[body:]

    def _unwrap(self, kid: str, wrapped: bytes) -> AESGCM:
        cache_key = kid.encode() + wrapped
        cached = self._unwrapped.get(cache_key)
        if cached is not None:
            self._unwrapped.move_to_end(cache_key)
            return cached
        aes = AESGCM(self._raw_data_key(kid, wrapped))
        self._unwrapped[cache_key] = aes
        if len(self._unwrapped) > 256:
            self._unwrapped.popitem(last=False)
        return aes

    def decrypt(self, blob: bytes, aad: bytes) -> str:
        """Decrypt a value stored at the place named by ``aad``; fail closed otherwise."""
        return self.decrypt_bytes(blob, aad).decode()

    def decrypt_bytes(self, blob: bytes, aad: bytes) -> bytes:
        """Decrypt what ``encrypt_bytes`` made, for the same place; fail closed otherwise."""
        kid, wrapped, nonce, ciphertext = self._split(blob)
        dek = self._unwrap(kid, wrapped)
        try:
            return dek.decrypt(nonce, ciphertext, _DATA_AAD + aad)
        except InvalidTag as exc:
            raise DecryptionError(
                "ciphertext does not belong here (moved, tampered or wrong associated data)"
            ) from exc

    def key_id_of(self, blob: bytes) -> str:
        """The id of the key a ciphertext's data key is wrapped under."""
        return self._split(blob)[0]

    def rewrap(self, blob: bytes) -> bytes:
        """The same ciphertext with its data key re-wrapped under the active key.

        Key rotation: the data itself is not re-encrypted, so no associated
        data is needed and the value never appears in clear. Values written
        together share a data key, so each distinct one is re-wrapped once
        (one KMS ``Encrypt`` when rotating onto KMS), not once per value.
        """
        kid, wrapped, nonce, ciphertext = self._split(blob)
        active = self._keyring.active_kid
        if kid == active:
            return blob
        cache_key = kid.encode() + b"|" + wrapped
        header = self._rewrapped.get(cache_key)
        if header is None:
            dek = self._raw_data_key(kid, wrapped)
            header = self._header_for(self._provider(active).wrap(active, dek))
            self._rewrapped[cache_key] = header
            if len(self._rewrapped) > 256:
                self._rewrapped.popitem(last=False)
        return header + nonce + ciphertext

    def blind_index(self, channel: str, normalized: str) -> bytes:
        """HMAC-SHA256 of a normalized value; ``channel`` keeps emails and phones apart."""
        message = _INDEX_DOMAIN + channel.encode() + b"|" + normalized.encode()
        return hmac.new(self._keyring.index_key, message, hashlib.sha256).digest()
