"""Public signing keys from a JSON Web Key Set, each pinned to one algorithm.

Supabase projects on the *JWT signing keys* system sign access tokens with an
asymmetric key (ES256 on NIST P-256, or RS256 on RSA 2048) and publish the
public halves at ``<project>/auth/v1/.well-known/jwks.json``. The shape comes
from supabase/auth: ``internal/api/jwks.go`` (``WellKnownJwks`` serves
``{"keys": [...]}``, never the HMAC keys) and ``internal/conf/jwk.go`` (every
public key gets ``use: "sig"`` and ``key_ops: ["verify"]``; its ``kid`` is the
one put in the token header).

This module is pure: it turns such a document into `VerificationKey` objects.
Fetching and caching live in `equity_connect.auth.client`.

Why the algorithm comes from the key and never from the token (RFC 8725
§3.1): a verifier that lets the token's ``alg`` choose how a key is used can
be made to run HMAC with a public key as the secret. So each key's algorithm
is fixed here, from ``kty``/``crv`` (EC P-256 → ES256, RSA → RS256); a JWK
``alg`` that says otherwise makes the key unusable rather than overriding us.
Only those two algorithms are accepted: they are the ones Supabase offers for
asymmetric keys (EdDSA is announced, not offered). Symmetric (``oct``) keys
are refused outright: an HMAC secret published at a URL is no secret, and the
legacy HS256 secret comes from our own configuration instead.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal, Protocol

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from jwt import PyJWK
from jwt.exceptions import PyJWTError

__all__ = [
    "ASYMMETRIC_ALGORITHMS",
    "MIN_RSA_BITS",
    "AsymmetricAlgorithm",
    "JwkError",
    "JwksDocumentError",
    "KeySource",
    "KeysUnavailable",
    "StaticKeys",
    "VerificationKey",
    "parse_jwk",
    "parse_jwks",
]

AsymmetricAlgorithm = Literal["ES256", "RS256"]
ASYMMETRIC_ALGORITHMS: Final[frozenset[str]] = frozenset({"ES256", "RS256"})
MIN_RSA_BITS: Final = 2048
"""RFC 7518 §3.3: RS256 keys must be at least 2048 bits."""

# Private-key members: a public key set that carries one is misconfigured.
_PRIVATE_MEMBERS: Final = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})


class JwkError(ValueError):
    """One JWK cannot be used for verification (the reason names the check)."""


class JwksDocumentError(ValueError):
    """The key set document as a whole is not a JWK Set."""


class KeysUnavailable(Exception):
    """The signing keys cannot be had right now (endpoint down, bad answer).

    A `KeySource` raises it; the HTTP layer turns it into a 503, because the
    caller's token may well be valid and a retry may succeed.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class VerificationKey:
    """A public key and the one algorithm it may verify."""

    kid: str
    algorithm: AsymmetricAlgorithm
    jwk: PyJWK = field(repr=False, compare=False)


class KeySource(Protocol):
    """Where `verify_jwt` gets the public key a token's ``kid`` names."""

    def key_for(self, kid: str) -> VerificationKey | None:
        """The key with this ``kid``, or None if there is none.

        Raises `KeysUnavailable` when the keys cannot be obtained at all.
        """
        ...


@dataclass(frozen=True)
class StaticKeys:
    """A fixed set of keys (tests, or keys given in configuration)."""

    keys: Mapping[str, VerificationKey]

    def key_for(self, kid: str) -> VerificationKey | None:
        """The key with this ``kid``, if present."""
        return self.keys.get(kid)


def _pinned_algorithm(jwk: Mapping[str, Any]) -> AsymmetricAlgorithm:
    kty = jwk.get("kty")
    if kty == "EC":
        if jwk.get("crv") != "P-256":
            raise JwkError("EC keys must be on curve P-256 (ES256)")
        return "ES256"
    if kty == "RSA":
        return "RS256"
    if kty == "oct":
        raise JwkError("symmetric (oct) keys are never taken from a key set")
    raise JwkError("kty must be EC or RSA")


def parse_jwk(jwk: Any) -> VerificationKey:
    """One public JWK as a `VerificationKey`, or `JwkError` saying why not."""
    if not isinstance(jwk, dict):
        raise JwkError("key is not a JSON object")
    kid = jwk.get("kid")
    if not isinstance(kid, str) or not kid:
        raise JwkError("key has no kid (tokens name their key by kid)")
    algorithm = _pinned_algorithm(jwk)
    declared = jwk.get("alg")
    if declared is not None and declared != algorithm:
        raise JwkError(f"key declares alg {declared!r} but its type allows only {algorithm}")
    use = jwk.get("use")
    if use is not None and use != "sig":
        raise JwkError("key use is not sig")
    ops = jwk.get("key_ops")
    if ops is not None and (not isinstance(ops, list) or "verify" not in ops):
        raise JwkError("key_ops does not allow verify")
    if _PRIVATE_MEMBERS.intersection(jwk):
        raise JwkError("key set publishes private key material; refusing the key")
    try:
        # The algorithm is passed explicitly so PyJWT binds the key to it and
        # refuses any token whose header names another.
        parsed = PyJWK(jwk, algorithm)
    # PyJWT wraps most bad members in InvalidKeyError; the rest are caught so
    # that one odd key in a published set cannot take the whole set down.
    except (PyJWTError, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise JwkError(f"key does not parse as {algorithm}") from exc
    if isinstance(parsed.key, RSAPublicKey) and parsed.key.key_size < MIN_RSA_BITS:
        raise JwkError(f"RSA key is shorter than {MIN_RSA_BITS} bits")
    return VerificationKey(kid=kid, algorithm=algorithm, jwk=parsed)


def parse_jwks(document: bytes | str) -> tuple[dict[str, VerificationKey], list[str]]:
    """The usable keys of a JWK Set by ``kid``, and why each other key was skipped.

    One bad key does not spoil the set (RFC 7517 §5: implementations should
    ignore keys they do not understand). A ``kid`` that appears twice is
    dropped entirely: which copy a token meant is unknowable. Raises
    `JwksDocumentError` when the document is not ``{"keys": [...]}``.
    """
    try:
        value = json.loads(document)
    except (ValueError, RecursionError) as exc:
        raise JwksDocumentError("key set is not valid JSON") from exc
    if not isinstance(value, dict) or not isinstance(value.get("keys"), list):
        raise JwksDocumentError('key set is not a JSON object with a "keys" list')
    keys: dict[str, VerificationKey] = {}
    skipped: list[str] = []
    duplicated: set[str] = set()
    for index, raw in enumerate(value["keys"]):
        try:
            key = parse_jwk(raw)
        except JwkError as exc:
            skipped.append(f"key {index}: {exc}")
            continue
        if key.kid in keys or key.kid in duplicated:
            duplicated.add(key.kid)
            keys.pop(key.kid, None)
            skipped.append(f"key {index}: kid {key.kid!r} appears more than once")
            continue
        keys[key.kid] = key
    return keys, skipped
