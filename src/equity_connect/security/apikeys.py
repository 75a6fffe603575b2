"""Server-to-server API keys for the ops team: stored hashed, scoped, revocable.

A key looks like ``ec_3f9a1c0b7d2e_<43 base64url chars>``:

- ``ec`` is a prefix naming the issuer, so a leaked key is recognisable by
  secret scanners and by humans;
- ``3f9a1c0b7d2e`` (`NewApiKey.key_id`) is public: it is the row's lookup key,
  shows in logs and in the ops UI, and lets a key be revoked by name;
- the tail is 32 bytes from `secrets`, i.e. 256 bits of entropy.

Only SHA-256 of the *whole* token is stored. A slow password hash (argon2,
bcrypt) exists to make guessing low-entropy human passwords expensive; a
256-bit random token cannot be guessed, so a fast hash loses nothing and keeps
each authenticated request cheap. Hashing the whole token (not just the tail)
means any single-character change, prefix and id included, changes the hash.

Verification: `parse_api_key` → look the row up by ``key_id`` (not by hash,
so the database index is never a timing oracle on the secret) → refuse if
revoked or expired → `check_api_key` compares hashes in constant time → check
`has_scope`. Revocation and expiry live in the database row; this module is
pure.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

__all__ = [
    "DEFAULT_PREFIX",
    "NewApiKey",
    "Scope",
    "check_api_key",
    "generate_api_key",
    "has_scope",
    "hash_api_key",
    "parse_api_key",
]

DEFAULT_PREFIX: Final = "ec"
_KEY_ID_BYTES: Final = 6  # 12 hex characters
_SECRET_BYTES: Final = 32
# A prefix may not contain "_" (the separator); lower-case keeps keys unambiguous.
_PREFIX_RE: Final = re.compile(r"[a-z][a-z0-9]{0,15}")
# 32 bytes in unpadded base64url is exactly 43 characters.
_TOKEN_RE: Final = re.compile(
    r"(?P<prefix>[a-z][a-z0-9]{0,15})_(?P<key_id>[0-9a-f]{12})_[A-Za-z0-9_-]{43}"
)


class Scope(StrEnum):
    """What an API key may do. `ADMIN` implies every other scope."""

    UPLOADS_WRITE = "uploads:write"
    LEADS_READ = "leads:read"
    LEADS_WRITE = "leads:write"
    DLQ_REPLAY = "dlq:replay"
    EXPORTS_READ = "exports:read"
    EVENTS_MANAGE = "events:manage"  # outbound event endpoints and their delivery log
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class NewApiKey:
    """A freshly generated key.

    `secret` is shown to the operator once and never stored; store `key_id`
    and `secret_hash`. `secret` is left out of ``repr`` so a stray log line
    or traceback does not print it.
    """

    key_id: str
    secret: str = field(repr=False)
    secret_hash: bytes = field(repr=False)


def hash_api_key(token: str) -> bytes:
    """SHA-256 of the full token (see the module docstring for why not a slow hash)."""
    return hashlib.sha256(token.encode("utf-8")).digest()


def generate_api_key(prefix: str = DEFAULT_PREFIX) -> NewApiKey:
    """Create a new random key: ``{prefix}_{key_id}_{32 random bytes, base64url}``."""
    if not _PREFIX_RE.fullmatch(prefix):
        raise ValueError("prefix must be 1-16 lower-case letters/digits, starting with a letter")
    key_id = secrets.token_hex(_KEY_ID_BYTES)
    # token_urlsafe(n) is unpadded base64url of n random bytes.
    tail = secrets.token_urlsafe(_SECRET_BYTES)
    token = f"{prefix}_{key_id}_{tail}"
    return NewApiKey(key_id=key_id, secret=token, secret_hash=hash_api_key(token))


def parse_api_key(token: str) -> tuple[str, bytes] | None:
    """Return ``(key_id, sha256 of token)`` for a well-formed token, else None.

    Well-formed means the exact shape `generate_api_key` produces; this says
    nothing about whether the key exists or is valid (see `check_api_key`).
    """
    if not isinstance(token, str):
        return None
    match = _TOKEN_RE.fullmatch(token)
    if match is None:
        return None
    tail = token[match.end("key_id") + 1 :]
    # Reject the non-canonical spellings of the last character (its 2 low
    # bits are unused) so each key has exactly one accepted form.
    raw = base64.urlsafe_b64decode(tail + "=")
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii") != tail:
        return None
    return match.group("key_id"), hash_api_key(token)


def check_api_key(token_hash: bytes, stored_hash: bytes) -> bool:
    """Compare a presented token's hash with the stored one in constant time."""
    return hmac.compare_digest(token_hash, stored_hash)


def has_scope(granted: Iterable[str], needed: Scope) -> bool:
    """True if `granted` includes `needed` or ``admin``.

    Matching is exact and case-sensitive; unknown strings in `granted` (e.g.
    a scope since removed from `Scope`) are ignored rather than rejected so an
    old row cannot break authentication.
    """
    if isinstance(granted, str):
        # A bare string iterates as characters: "admin" would look like
        # {"a", "d", ...} and silently grant nothing, or worse, match by luck.
        raise TypeError("granted must be an iterable of scope names, not a string")
    scopes = set(granted)
    return Scope.ADMIN.value in scopes or needed.value in scopes
