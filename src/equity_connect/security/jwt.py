"""Supabase-compatible JSON Web Tokens: legacy HS256 and JWKS-published ES256/RS256.

Supabase Auth (GoTrue) signs access tokens either with the project's legacy
JWT secret (HMAC-SHA256, ``{"alg":"HS256","typ":"JWT"}``) or, on the newer
*JWT signing keys* system, with an asymmetric key whose public half is
published at the project's JWKS endpoint (``{"alg":"ES256","kid":...}`` or
RS256). Claims are ``aud``, ``exp``, ``iat``, ``iss``, ``sub`` (the user's
UUID), ``email``, ``role`` ... . `verify_jwt` accepts exactly those tokens and
`issue_jwt` mints the HS256 kind, so a token minted here
(``equity-connect token --broker ID``) also satisfies ``auth.uid()`` /
``auth.role()`` in the database (reliability-checklist.md §2).

Signatures are checked by PyJWT (on ``cryptography``, already a dependency):
the curve arithmetic, the raw-to-DER conversion of ECDSA signatures and
constant-time HMAC comparison are not things to write by hand. PyJWT over
joserfc because it is the most used Python JOSE library, typed, and its
`PyJWK` binds a key to one algorithm and refuses a token whose header names
another. Everything around the signature stays here, stricter than any
library's defaults, following RFC 7515/7519/8725 and OWASP's JWT cheat sheet:

- **The key chooses the algorithm, never the token.** ``HS256`` is verified
  only with the configured secret; ``ES256``/``RS256`` only with the key the
  ``kid`` names in the key set, and only when that key's pinned algorithm
  (`equity_connect.security.jwks`) is the one in the header. A public key is
  therefore never used as an HMAC secret, whatever the header says. ``alg``
  must be exactly one of those strings (case-sensitive, RFC 7515 §4.1.1):
  ``none``, HS384/HS512, PS*/ES384/EdDSA ... are refused even when signed.
- Header parameters that locate or carry a key (``jku``, ``jwk``, ``x5u``,
  ``x5c``), ask for extension processing (``crit``, ``b64``), or signal a
  nested/encrypted token (``cty``, ``enc``, ``zip``) are refused. We never
  fetch or accept keys from a token, and RFC 7515 §4.1.11 requires refusing a
  ``crit`` we do not implement (we implement none). ``kid`` must be a string;
  on HS256 tokens it is *ignored* (a migrated legacy secret puts one there and
  we have exactly one secret), on asymmetric ones it is required.
- Every segment must be canonical unpadded base64url, so one token has one
  spelling and a changed character can never verify.
- The signature is checked before the payload is parsed: an unauthenticated
  payload is never handed to the JSON parser. A payload that is garbage but
  correctly signed is reported as ``malformed``; one that is garbage and not
  signed is ``bad_signature``.
- Duplicate JSON keys are refused (``{"role":"x","role":"service_role"}`` is
  read differently by different parsers), as are ``NaN``/``Infinity``.
- ``exp`` is required; ``nbf`` and ``iat`` are optional but, when present,
  must not lie in the future beyond ``leeway``. ``aud`` is required; ``iss``
  is checked when an issuer is configured.
- ``sub`` must be a canonical (hyphenated) UUID and not the nil UUID: it
  becomes ``auth.uid()``, which RLS policies compare against ``broker_id``.
- The secret must be at least 32 bytes (RFC 7518 §3.2: an HS256 key must be
  at least as long as the hash). This is a configuration error, so it raises
  `ValueError`, never `JwtError`.

Note: Supabase's own ``service_role`` *API key* has neither ``sub`` nor
``aud``, so it is refused here by design; ops services use `issue_jwt` tokens
or the scoped keys in `equity_connect.security.apikeys`.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final, Literal

from jwt import PyJWK, PyJWS
from jwt.exceptions import InvalidAlgorithmError, InvalidSignatureError, PyJWTError

from equity_connect.security.jwks import ASYMMETRIC_ALGORITHMS, KeySource

__all__ = [
    "DEFAULT_AUDIENCE",
    "DEFAULT_ROLES",
    "MAX_TOKEN_LENGTH",
    "MIN_SECRET_BYTES",
    "Claims",
    "JwtError",
    "JwtErrorCode",
    "KeySource",
    "issue_jwt",
    "verify_jwt",
]

DEFAULT_AUDIENCE: Final = "authenticated"
"""The ``aud`` Supabase Auth puts on a signed-in user's token."""

DEFAULT_ROLES: Final[tuple[str, ...]] = ("authenticated",)
"""Roles accepted by default: brokers. The ops side passes ``("service_role",)``."""

MIN_SECRET_BYTES: Final = 32
"""RFC 7518 §3.2: an HS256 key must be at least 256 bits."""

MAX_TOKEN_LENGTH: Final = 16 * 1024
"""Longer tokens are refused before any decoding (bounds work per request)."""

JwtErrorCode = Literal[
    "malformed",
    "bad_algorithm",
    "bad_signature",
    "expired",
    "not_yet_valid",
    "bad_audience",
    "missing_sub",
    "bad_role",
    "bad_issuer",
    "unknown_key",
]

_HMAC_ALGORITHM: Final = "HS256"
_ACCEPTED_ALGORITHMS: Final = frozenset({_HMAC_ALGORITHM}) | ASYMMETRIC_ALGORITHMS
# One verifier, limited to the algorithms we accept; RSA keys under 2048 bits
# are refused by the library too, not merely warned about.
_JWS: Final = PyJWS(
    algorithms=sorted(_ACCEPTED_ALGORITHMS), options={"enforce_minimum_key_length": True}
)
# See the module docstring for why each of these is refused.
_REFUSED_HEADER_PARAMS: Final = frozenset(
    {"crit", "jku", "jwk", "x5u", "x5c", "cty", "b64", "enc", "zip"}
)
# Claims issue_jwt sets itself; `extra` may not override them.
_RESERVED_CLAIMS: Final = frozenset({"sub", "role", "exp", "iat", "aud", "iss"})
_B64URL_RE: Final = re.compile(r"[A-Za-z0-9_-]*")
_UUID_RE: Final = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
_NIL_UUID: Final = uuid.UUID(int=0)


class JwtError(Exception):
    """A token failed verification.

    `code` is stable and machine-readable (one of `JwtErrorCode`); `reason`
    names the failed check for logs. Neither contains the token, the secret or
    claim values, so both are safe to log. Every `JwtError` should become a
    401 at the HTTP layer.
    """

    def __init__(self, code: JwtErrorCode, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code: JwtErrorCode = code
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Claims:
    """The verified claims of a token.

    `aud` is a string or a tuple of strings, as the token carried it. `raw`
    is a read-only view of every claim (``email``, ``app_metadata`` ...).
    """

    sub: uuid.UUID
    role: str
    exp: int
    aud: str | tuple[str, ...]
    raw: Mapping[str, Any] = field(repr=False, hash=False)


# --------------------------------------------------------------------------
# Encoding helpers
# --------------------------------------------------------------------------


def _b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(segment: str, what: str) -> bytes:
    """Decode canonical, unpadded base64url or raise ``malformed``."""
    # The alphabet check comes first because b64decode silently discards
    # characters outside the alphabet unless validate=True, and validate=True
    # does not exist for the urlsafe variant.
    if not _B64URL_RE.fullmatch(segment) or len(segment) % 4 == 1:
        raise JwtError("malformed", f"{what} is not base64url")
    try:
        data = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    # Unreachable after the checks above; kept so no input can escape as a crash.
    except (binascii.Error, ValueError) as exc:
        raise JwtError("malformed", f"{what} is not base64url") from exc
    # Unused low bits in the last character give several spellings of the
    # same bytes; insisting on the canonical one keeps tokens unique.
    if _b64url_encode(data) != segment:
        raise JwtError("malformed", f"{what} is not canonical base64url")
    return data


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError("duplicate key")
        result[key] = value
    return result


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-standard JSON constant {name}")


def _json_object(data: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(
            data.decode("utf-8"),
            object_pairs_hook=_reject_duplicates,
            parse_constant=_reject_constant,
        )
    # ValueError covers JSONDecodeError, UnicodeDecodeError, duplicate keys
    # and int-conversion limits; RecursionError covers deeply nested arrays.
    except (ValueError, RecursionError) as exc:
        raise JwtError("malformed", f"{what} is not valid JSON") from exc
    if not isinstance(value, dict):
        raise JwtError("malformed", f"{what} is not a JSON object")
    return value


def _json_bytes(value: Mapping[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode()


def _check_secret(secret: bytes) -> None:
    if not isinstance(secret, bytes | bytearray):
        raise TypeError("secret must be bytes (e.g. settings.jwt_secret.encode())")
    if len(secret) < MIN_SECRET_BYTES:
        raise ValueError(f"JWT secret must be at least {MIN_SECRET_BYTES} bytes")


def _numeric_date(claims: Mapping[str, Any], name: str) -> float | None:
    """Return a NumericDate claim (RFC 7519 §2) or None when absent."""
    if name not in claims:
        return None
    value = claims[name]
    # bool is an int subclass; `true` is not a date.
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise JwtError("malformed", f"{name} claim is not a number")
    return float(value)


def _check_header(header: Mapping[str, Any]) -> str:
    """Refuse what we never accept and return the ``alg``."""
    alg = header.get("alg")
    if not isinstance(alg, str):
        raise JwtError("bad_algorithm", "alg header is missing or not a string")
    if alg not in _ACCEPTED_ALGORITHMS:
        raise JwtError("bad_algorithm", "only HS256, ES256 and RS256 are accepted")
    refused = _REFUSED_HEADER_PARAMS.intersection(header)
    if refused:
        raise JwtError("bad_algorithm", f"header parameter {min(refused)} is not supported")
    typ = header.get("typ")
    if typ is not None and (not isinstance(typ, str) or typ.upper() != "JWT"):
        # typ is a media type, so compared case-insensitively (RFC 7519 §5.1).
        raise JwtError("malformed", "typ header is not JWT")
    if "kid" in header and not isinstance(header["kid"], str):
        raise JwtError("malformed", "kid header is not a string")
    return alg


def _verification_key(
    alg: str, header: Mapping[str, Any], secret: bytes | None, keys: KeySource | None
) -> bytes | PyJWK:
    """The key this token may be checked with, chosen by our configuration.

    HS256 goes to the configured secret only; ES256/RS256 to the key set
    only, and only if the key the ``kid`` names is pinned to that algorithm.
    """
    if alg == _HMAC_ALGORITHM:
        if secret is None:
            raise JwtError("bad_algorithm", "HS256 tokens are not accepted: no JWT secret is set")
        return secret
    if keys is None:
        raise JwtError("bad_algorithm", f"{alg} tokens are not accepted: no key set is configured")
    kid = header.get("kid")
    if not kid:
        raise JwtError("unknown_key", "kid header is required on asymmetric tokens")
    key = keys.key_for(kid)  # may raise KeysUnavailable, which is not the token's fault
    if key is None:
        raise JwtError("unknown_key", "kid names no key in the signing key set")
    if key.algorithm != alg:
        raise JwtError("bad_algorithm", "alg header does not match the algorithm of its key")
    return key.jwk


def _check_signature(token: str, alg: str, key: bytes | PyJWK) -> None:
    try:
        _JWS.decode_complete(token, key=key, algorithms=[alg])
    # InvalidSignatureError is a DecodeError, so it is caught first.
    except InvalidSignatureError as exc:
        raise JwtError("bad_signature", "signature does not match") from exc
    except InvalidAlgorithmError as exc:
        # Unreachable after _verification_key; PyJWT's own pin is a second lock.
        raise JwtError("bad_algorithm", "alg header does not match its key") from exc
    except PyJWTError as exc:
        raise JwtError("malformed", "token does not decode as a JWS") from exc


def _check_times(claims: Mapping[str, Any], current: float, leeway: int) -> float:
    """Enforce exp/nbf/iat and return exp."""
    exp = _numeric_date(claims, "exp")
    if exp is None:
        raise JwtError("malformed", "exp claim is required")
    if current >= exp + leeway:
        raise JwtError("expired", "token has expired")
    for name in ("nbf", "iat"):
        moment = _numeric_date(claims, name)
        if moment is not None and moment > current + leeway:
            raise JwtError("not_yet_valid", f"{name} is in the future")
    return exp


def _check_audience(claims: Mapping[str, Any], audience: str) -> str | tuple[str, ...]:
    aud = claims.get("aud")
    if isinstance(aud, str):
        if aud != audience:
            raise JwtError("bad_audience", "aud is not the expected audience")
        return aud
    if isinstance(aud, list) and aud and all(isinstance(a, str) for a in aud):
        if audience not in aud:
            raise JwtError("bad_audience", "aud does not include the expected audience")
        return tuple(aud)
    raise JwtError("bad_audience", "aud claim is missing or not a string or list of strings")


def _check_sub(claims: Mapping[str, Any]) -> uuid.UUID:
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise JwtError("missing_sub", "sub claim is missing")
    # uuid.UUID() also takes braces, URNs and bare hex; insist on the one
    # spelling Supabase emits so a sub has a single textual form.
    if not _UUID_RE.fullmatch(sub):
        raise JwtError("missing_sub", "sub is not a UUID")
    value = uuid.UUID(sub)
    if value == _NIL_UUID:
        raise JwtError("missing_sub", "sub is the nil UUID")
    return value


# --------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------


def _check_issuer(claims: Mapping[str, Any], issuer: str | None) -> None:
    if issuer is not None and claims.get("iss") != issuer:
        raise JwtError("bad_issuer", "iss is not the expected issuer")


def verify_jwt(
    token: str,
    *,
    secret: bytes | None = None,
    keys: KeySource | None = None,
    audience: str = DEFAULT_AUDIENCE,
    issuer: str | None = None,
    now: float | None = None,
    leeway: int = 30,
    roles: Sequence[str] = DEFAULT_ROLES,
) -> Claims:
    """Verify a token and return its claims, or raise `JwtError`.

    `secret` is the Supabase project's legacy JWT secret as bytes (the
    string's UTF-8 bytes, not base64-decoded: that is how Supabase Auth uses
    it); it alone verifies HS256 tokens. `keys` is the project's signing key
    set (`equity_connect.auth.client.JwksClient`); it alone verifies ES256 and
    RS256 tokens. Give either or both. `issuer`, when given, must equal
    ``iss``. `leeway` seconds of clock skew are tolerated on ``exp``, ``nbf``
    and ``iat``. `roles` lists the accepted ``role`` claims (brokers:
    ``authenticated``; ops: ``service_role``).

    Any input string, however broken, yields either `Claims` or `JwtError`;
    bad *arguments* (short secret, negative leeway, neither key given) raise
    `ValueError`/`TypeError`, and `KeysUnavailable` comes from `keys` when
    the key set cannot be fetched.
    """
    if secret is None and keys is None:
        raise ValueError("give a secret (HS256), a key set (ES256/RS256) or both")
    if secret is not None:
        _check_secret(secret)
    if leeway < 0:
        raise ValueError("leeway must be >= 0")
    if isinstance(roles, str):
        # A bare string would be iterated character by character.
        raise TypeError("roles must be a sequence of role names, not a string")
    current = time.time() if now is None else now

    if not isinstance(token, str) or not token:
        raise JwtError("malformed", "token is empty")
    if len(token) > MAX_TOKEN_LENGTH:
        raise JwtError("malformed", "token is too long")
    segments = token.split(".")
    if len(segments) != 3:
        raise JwtError("malformed", "token must have three segments")
    header_b64, payload_b64, signature_b64 = segments
    header = _json_object(_b64url_decode(header_b64, "header"), "header")
    payload = _b64url_decode(payload_b64, "payload")  # parsed only after the signature
    _b64url_decode(signature_b64, "signature")  # canonical spelling only
    alg = _check_header(header)
    _check_signature(token, alg, _verification_key(alg, header, secret, keys))

    claims = _json_object(payload, "payload")
    exp = _check_times(claims, current, leeway)
    aud = _check_audience(claims, audience)
    _check_issuer(claims, issuer)
    role = claims.get("role")
    if not isinstance(role, str) or role not in roles:
        raise JwtError("bad_role", "role is not accepted here")
    sub = _check_sub(claims)
    return Claims(sub=sub, role=role, exp=math.floor(exp), aud=aud, raw=MappingProxyType(claims))


def issue_jwt(
    *,
    secret: bytes,
    sub: uuid.UUID,
    role: str = "authenticated",
    ttl_seconds: int = 3600,
    audience: str = DEFAULT_AUDIENCE,
    issuer: str | None = None,
    now: float | None = None,
    extra: Mapping[str, Any] | None = None,
) -> str:
    """Mint an HS256 token shaped like Supabase Auth's.

    Claims: ``aud``, ``exp`` (= ``iat`` + `ttl_seconds`), ``iat``, ``sub``,
    ``role``, ``iss`` when `issuer` is given, plus `extra` (e.g. ``email``).
    `extra` may not override those; it must be JSON-serialisable.
    """
    _check_secret(secret)
    if ttl_seconds <= 0:
        raise ValueError("ttl_seconds must be positive")
    if not role:
        raise ValueError("role must not be empty")
    extra = dict(extra or {})
    clash = _RESERVED_CLAIMS.intersection(extra)
    if clash:
        raise ValueError(f"extra may not set {sorted(clash)}")
    iat = math.floor(time.time() if now is None else now)
    claims: dict[str, Any] = {
        "aud": audience,
        "exp": iat + ttl_seconds,
        "iat": iat,
        "sub": str(sub),
        "role": role,
        **({"iss": issuer} if issuer is not None else {}),
        **extra,
    }
    # Our own JSON (no NaN, compact) as the payload bytes; PyJWT signs it.
    return _JWS.encode(_json_bytes(claims), bytes(secret), algorithm=_HMAC_ALGORITHM)
