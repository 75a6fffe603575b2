"""Webhook and upload signature schemes, as pure functions.

Every verifier takes the *raw* request body (bytes exactly as received) and a
mapping of headers, and either returns normally or raises `SignatureError`
carrying the HTTP status the caller should answer with. Nothing here touches
the database or a web framework, so the route layer decides what to do with
the result (store the event, answer 2xx) and these functions stay testable.

Wire formats: the team's provider-formats.md (sections 3-6); test cases:
reliability-checklist.md (section 1).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Final, Literal
from urllib.parse import urlsplit, urlunsplit

__all__ = [
    "CALCOM_SIGNATURE_HEADER",
    "GITHUB_SIGNATURE_HEADER",
    "SHARED_SECRET_HEADER",
    "SIGNALWIRE_SIGNATURE_HEADERS",
    "VAPI_BEARER",
    "VAPI_LEGACY_SECRET",
    "Body",
    "SignatureError",
    "SignatureErrorCode",
    "VapiAuth",
    "VapiCredential",
    "VapiHmacSettings",
    "VapiTokenSettings",
    "parse_literal_secrets",
    "parse_plain_secrets",
    "parse_secret",
    "parse_secrets",
    "sign_calcom",
    "sign_github",
    "sign_plan",
    "sign_signalwire",
    "sign_standard",
    "sign_vapi_hmac",
    "verify_calcom",
    "verify_github",
    "verify_plan",
    "verify_shared_secret",
    "verify_signalwire",
    "verify_standard",
    "verify_vapi",
    "verify_vapi_credentials",
]

DEFAULT_TOLERANCE: Final = 300
"""Seconds a signed timestamp may differ from now, in either direction."""

STANDARD_ID_HEADER: Final = "webhook-id"
STANDARD_TIMESTAMP_HEADER: Final = "webhook-timestamp"
STANDARD_SIGNATURE_HEADER: Final = "webhook-signature"
PLAN_SIGNATURE_HEADER: Final = "X-Signature"
PLAN_CONTENT_HEADER: Final = "X-Content-SHA256"
PLAN_TIMESTAMP_HEADER: Final = "X-Signature-Timestamp"
CALCOM_SIGNATURE_HEADER: Final = "X-Cal-Signature-256"
# Sentinel Cal.com sends instead of a signature; not a credential.
CALCOM_NO_SECRET: Final = "no-secret-provided"  # noqa: S105
SHARED_SECRET_HEADER: Final = "X-Webhook-Secret"  # noqa: S105 (a header name)
GITHUB_SIGNATURE_HEADER: Final = "X-Hub-Signature-256"

_WHSEC_PREFIX: Final = "whsec_"
_SHA256_PREFIX: Final = "sha256="

SignatureErrorCode = Literal[
    "missing_header",
    "malformed_header",
    "bad_signature",
    "bad_secret",
    "timestamp_too_old",
    "timestamp_in_future",
    "content_digest_mismatch",
    "no_secret_configured",
    "no_secret_provided",
]


class SignatureError(Exception):
    """A request failed authentication.

    `status` is the HTTP status to answer with: 400 when a header is missing or
    cannot be parsed, 401 when it parses but does not authenticate the request
    (wrong signature or secret, timestamp outside the window, no secret
    configured on our side). `code` is stable and machine-readable; `reason`
    names the failed check for logs. Neither ever contains secret material or
    the received header values (a shared-secret header *is* a secret).
    """

    def __init__(self, status: int, code: SignatureErrorCode, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.status = status
        self.code: SignatureErrorCode = code
        self.reason = reason


def _bad_request(code: SignatureErrorCode, reason: str) -> SignatureError:
    return SignatureError(400, code, reason)


def _unauthorized(code: SignatureErrorCode, reason: str) -> SignatureError:
    return SignatureError(401, code, reason)


# --------------------------------------------------------------------------
# Shared helpers
# --------------------------------------------------------------------------

_HEX_RE: Final = re.compile(r"[0-9a-fA-F]+")
_DIGITS_RE: Final = re.compile(r"[0-9]{1,20}")
_NUMBER_RE: Final = re.compile(r"[0-9]{1,20}(?:\.[0-9]{1,9})?")
# RFC 3339 section 5.6 `date-time`; the offset is mandatory (no naive times),
# and section 5.6's note allows a space or lower-case t/z.
_RFC3339_RE: Final = re.compile(
    r"(?P<y>\d{4})-(?P<mo>\d{2})-(?P<d>\d{2})[Tt ]"
    r"(?P<h>\d{2}):(?P<mi>\d{2}):(?P<s>\d{2})(?:\.(?P<frac>\d{1,9}))?"
    r"(?P<tz>[Zz]|(?P<sign>[+-])(?P<oh>\d{2}):(?P<om>\d{2}))"
)


def _b(value: str) -> bytes:
    # surrogatepass: header values are str and any str must become bytes for
    # compare_digest (which refuses non-ASCII str) without raising.
    return value.encode("utf-8", "surrogatepass")


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """Case-insensitive header lookup (HTTP field names are case-insensitive).

    Starlette's `Headers` is already case-insensitive, but plain dicts (tests,
    queue payloads) are not, so fall back to a scan.
    """
    value = headers.get(name)
    if value is None:
        wanted = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == wanted), None)
    return value


def _require_header(headers: Mapping[str, str], name: str) -> str:
    value = _header(headers, name)
    # An empty value carries no credential; treat it exactly like an absent one.
    if value is None or not value.strip():
        raise _bad_request("missing_header", f"header {name} is missing")
    return value.strip()


def _usable_secrets(secrets: Sequence[bytes]) -> list[bytes]:
    # An empty key would make HMAC (and a shared-secret compare) trivially
    # forgeable, so empty entries never count as configured.
    usable = [s for s in secrets if s]
    if not usable:
        raise _unauthorized("no_secret_configured", "no verification secret is configured")
    return usable


def _hmac(key: bytes, msg: bytes, algorithm: str = "sha256") -> bytes:
    return hmac.digest(key, msg, algorithm)


class StreamedBody:
    """A body hashed while it arrives, so verifying it needs no second pass over it.

    Built from the request's headers before the body is read: the HMACs of
    every usable secret over the prefix those headers name, and the body's
    SHA-256, are updated chunk by chunk. A verifier asking for another
    prefix or other keys (malformed headers) gets them computed over
    ``again``, the body re-read, so the outcome is always the one-pass one.
    """

    def __init__(
        self,
        secrets: Sequence[bytes],
        headers: Mapping[str, str],
        again: Callable[[], Iterable[bytes]],
    ) -> None:
        self._keys = [k for k in secrets if k]
        self._prefix = _streamed_prefix(headers)
        self._macs = [hmac.new(k, self._prefix, hashlib.sha256) for k in self._keys]
        self._sha = hashlib.sha256()
        self._again = again

    def update(self, chunk: bytes) -> None:
        """Hash the next chunk of the body."""
        self._sha.update(chunk)
        for mac in self._macs:
            mac.update(chunk)

    def sha256(self) -> bytes:
        """The SHA-256 of the body so far."""
        return self._sha.digest()

    def macs_for(self, keys: Sequence[bytes], prefix: bytes) -> list[bytes]:
        """HMAC-SHA256 of ``prefix + body`` under each key."""
        if list(keys) == self._keys and prefix == self._prefix:
            return [mac.copy().digest() for mac in self._macs]
        return _hmacs_over(keys, prefix, self._again)

    def chunks(self) -> Iterable[bytes]:
        """The body again."""
        return self._again()


def _streamed_prefix(headers: Mapping[str, str]) -> bytes:
    """The signed prefix the headers name, as the verifiers derive it (empty if none)."""
    msg_id = (_header(headers, STANDARD_ID_HEADER) or "").strip()
    ts = (_header(headers, STANDARD_TIMESTAMP_HEADER) or "").strip()
    if _header(headers, STANDARD_SIGNATURE_HEADER) is not None:
        return _standard_prefix(msg_id, ts)
    return _plan_prefix((_header(headers, PLAN_TIMESTAMP_HEADER) or "").strip())


Body = bytes | Callable[[], Iterable[bytes]] | StreamedBody
"""A raw body: the bytes, a callable that streams them again on each call, or
a body hashed as it arrived (``StreamedBody``).

Uploads can be hundreds of MB; the streaming forms let the route spool the
body to disk and verify it without ever holding it whole in memory.
"""


def _chunks(body: Body) -> Iterable[bytes]:
    if isinstance(body, StreamedBody):
        return body.chunks()
    return (body,) if isinstance(body, bytes) else body()


def _hmacs_over(keys: Sequence[bytes], prefix: bytes, body: Body) -> list[bytes]:
    """HMAC-SHA256 of ``prefix + body`` under each key, in one pass over the body."""
    if isinstance(body, StreamedBody):
        return body.macs_for(keys, prefix)
    macs = [hmac.new(key, prefix, hashlib.sha256) for key in keys]
    for chunk in _chunks(body):
        for mac in macs:
            mac.update(chunk)
    return [mac.digest() for mac in macs]


def _sha256_over(body: Body) -> bytes:
    if isinstance(body, StreamedBody):
        return body.sha256()
    digest = hashlib.sha256()
    for chunk in _chunks(body):
        digest.update(chunk)
    return digest.digest()


def _any_match(expected: Sequence[bytes], received: Sequence[bytes]) -> bool:
    """Whether any received value equals any expected value.

    Every pair is compared (no early exit) so the time taken does not reveal
    which configured secret matched or how many entries were checked first.
    Call sites always go through `hmac.compare_digest` looked up at call time,
    which is what the constant-time unit test relies on.
    """
    matched = False
    for exp in expected:
        for got in received:
            # `|` rather than `or`: keep comparing after a match.
            matched |= hmac.compare_digest(exp, got)
    return matched


def _check_window(ts: float, now: float, tolerance: int, header: str) -> None:
    # Both directions: Stripe only rejects old timestamps, which lets a leaked
    # future-dated signature be replayed for as long as the sender chose.
    if ts < now - tolerance:
        raise _unauthorized("timestamp_too_old", f"{header} is older than {tolerance}s")
    if ts > now + tolerance:
        raise _unauthorized("timestamp_in_future", f"{header} is more than {tolerance}s ahead")


def _parse_hex_digest(value: str, size: int, header: str) -> bytes:
    if len(value) != size * 2 or not _HEX_RE.fullmatch(value):
        raise _bad_request("malformed_header", f"{header} is not a {size}-byte hex digest")
    return bytes.fromhex(value)


def _b64decode_lenient(value: str) -> bytes | None:
    """Decode standard base64, tolerating missing padding; None if invalid."""
    cleaned = value.strip().rstrip("=")
    if not cleaned:
        return None
    try:
        # validate=True: the stdlib default silently drops stray characters,
        # which would make a garbled secret decode to a different key.
        return base64.b64decode(cleaned + "=" * (-len(cleaned) % 4), validate=True)
    except binascii.Error:
        return None


def _strip_prefix(value: str, prefix: str, header: str) -> str:
    # Prefixes such as "sha256=" and auth schemes such as "Bearer " are
    # case-insensitive tokens, so match them without regard to case.
    if not prefix:
        return value
    if value[: len(prefix)].lower() != prefix.lower():
        raise _bad_request("malformed_header", f"{header} does not start with {prefix!r}")
    return value[len(prefix) :].strip()


# --------------------------------------------------------------------------
# Secrets
# --------------------------------------------------------------------------


def parse_secret(s: str) -> bytes:
    """Turn a configured secret string into HMAC key bytes.

    A `whsec_` secret follows the Standard Webhooks spec: the rest is base64
    of the key (missing padding tolerated). Anything else is used as its UTF-8
    bytes, which is what Cal.com, GitHub, VAPI and our upload scheme expect.
    Note Stripe also uses `whsec_` secrets but keys HMAC with the *whole
    string*; for Stripe use `s.encode()` rather than this function.

    Raises `ValueError` for an empty secret or a `whsec_` secret whose body is
    not valid base64 (a configuration error, reported at startup).
    """
    if not s:
        raise ValueError("secret is empty")
    if s.startswith(_WHSEC_PREFIX):
        key = _b64decode_lenient(s[len(_WHSEC_PREFIX) :])
        if not key:
            raise ValueError("whsec_ secret is not valid base64")
        return key
    return s.encode("utf-8")


def parse_secrets(csv: str) -> list[bytes]:
    """Parse a comma-separated list of secrets (for key rotation).

    Entries are stripped of surrounding whitespace and empty entries are
    ignored, so `"new, old,"` gives two keys. Order is kept (newest first by
    convention) but does not affect verification.
    """
    return [parse_secret(part.strip()) for part in csv.split(",") if part.strip()]


def parse_plain_secrets(csv: str) -> list[bytes]:
    """A comma-separated list of secrets, each used as its UTF-8 bytes.

    For header tokens a provider sends back exactly as configured (Instantly's
    subscription headers, VAPI's inline secret and Bearer token): the Standard
    Webhooks ``whsec_`` rule belongs to uploads only, and decoding such a token
    would make every delivery fail.
    """
    return [part.strip().encode("utf-8") for part in csv.split(",") if part.strip()]


def parse_literal_secrets(value: str) -> list[bytes]:
    """Secrets used exactly as typed: each one's UTF-8 bytes are the HMAC key.

    Cal.com keys its HMAC with the secret string itself
    (``createHmac("sha256", secret)`` in cal.com
    ``packages/features/webhooks/lib/sendPayload.ts``), so nothing is decoded
    (a ``whsec_`` prefix is just text), split (a ``,`` is just text) or
    stripped. One secret is the whole value. Several, while one is rotated,
    are a JSON array of strings: ``["new", "old"]``.

    Raises `ValueError` for a value starting with ``[`` that is not a JSON
    array of non-empty strings (a configuration error, reported at startup);
    a single secret that starts with ``[`` is written as ``["[…"]``.
    """
    if not value:
        return []
    if not value.lstrip().startswith("["):
        return [value.encode("utf-8")]
    try:
        items = json.loads(value)
    except json.JSONDecodeError:
        items = None
    if not (isinstance(items, list) and items and all(isinstance(i, str) and i for i in items)):
        raise ValueError(
            "secrets starting with '[' must be a JSON array of non-empty strings, "
            'e.g. ["new-secret", "old-secret"]'
        )
    return [i.encode("utf-8") for i in items]


# --------------------------------------------------------------------------
# Standard Webhooks (webhook-id / webhook-timestamp / webhook-signature)
# --------------------------------------------------------------------------


def _standard_prefix(msg_id: str, timestamp: str) -> bytes:
    return _b(f"{msg_id}.{timestamp}.")


def sign_standard(secret: bytes, msg_id: str, timestamp: int, body: Body) -> str:
    """Return the `webhook-signature` entry `"v1,<base64 HMAC-SHA256>"`.

    Signed content is `"{msg_id}.{timestamp}.{body}"`; `secret` is the decoded
    key (see `parse_secret`).
    """
    if "." in msg_id:
        raise ValueError("msg_id must not contain '.'")
    [digest] = _hmacs_over([secret], _standard_prefix(msg_id, str(timestamp)), body)
    return "v1," + base64.b64encode(digest).decode("ascii")


def verify_standard(
    secrets: Sequence[bytes],
    headers: Mapping[str, str],
    body: Body,
    *,
    now: float,
    tolerance: int = DEFAULT_TOLERANCE,
) -> str:
    """Verify a Standard Webhooks request and return its `webhook-id`.

    The `webhook-signature` header is a space-delimited list of
    `version,signature`; the request passes if any `v1` entry matches any of
    `secrets` (so both sides can rotate keys without downtime). Entries of
    other versions (e.g. `v1a`, ed25519) are ignored. The timestamp must be
    integer Unix seconds within ±`tolerance` of `now`. The returned id is the
    idempotency key for storing the event.
    """
    keys = _usable_secrets(secrets)
    msg_id = _require_header(headers, STANDARD_ID_HEADER)
    raw_ts = _require_header(headers, STANDARD_TIMESTAMP_HEADER)
    raw_sig = _require_header(headers, STANDARD_SIGNATURE_HEADER)

    # '.' separates the signed fields; allowing it in the id would let two
    # different (id, timestamp) pairs produce the same signed content.
    if "." in msg_id:
        raise _bad_request("malformed_header", f"{STANDARD_ID_HEADER} contains '.'")
    if not _DIGITS_RE.fullmatch(raw_ts):
        raise _bad_request("malformed_header", f"{STANDARD_TIMESTAMP_HEADER} is not an integer")

    received: list[bytes] = []
    well_formed = 0
    for entry in raw_sig.split():
        version, sep, sig = entry.partition(",")
        if not sep or not version or not sig:
            continue
        well_formed += 1
        if version != "v1":
            continue
        decoded = _b64decode_lenient(sig)
        # An undecodable v1 entry is just one more non-matching candidate:
        # another entry in the same header may still be valid.
        if decoded is not None:
            received.append(decoded)
    if not well_formed:
        raise _bad_request("malformed_header", f"{STANDARD_SIGNATURE_HEADER} has no entries")
    if not received:
        raise _bad_request("malformed_header", f"{STANDARD_SIGNATURE_HEADER} has no v1 entry")

    _check_window(int(raw_ts), now, tolerance, STANDARD_TIMESTAMP_HEADER)

    expected = _hmacs_over(keys, _standard_prefix(msg_id, raw_ts), body)
    if not _any_match(expected, received):
        raise _unauthorized("bad_signature", f"no {STANDARD_SIGNATURE_HEADER} v1 entry matches")
    return msg_id


# --------------------------------------------------------------------------
# Plan scheme (signed CSV upload): X-Signature / X-Content-SHA256 / timestamp
# --------------------------------------------------------------------------


def _parse_rfc3339(value: str) -> datetime | None:
    m = _RFC3339_RE.fullmatch(value)
    if m is None:
        return None
    if m["tz"] in ("Z", "z"):
        tz = UTC
    else:
        offset = timedelta(hours=int(m["oh"]), minutes=int(m["om"]))
        if offset >= timedelta(hours=24):
            return None
        tz = timezone(-offset if m["sign"] == "-" else offset)
    frac = (m["frac"] or "").ljust(6, "0")[:6]
    try:
        return datetime(
            int(m["y"]),
            int(m["mo"]),
            int(m["d"]),
            int(m["h"]),
            int(m["mi"]),
            int(m["s"]),
            int(frac),
            tzinfo=tz,
        )
    except ValueError:
        # Out-of-range fields (month 13, second 60, ...).
        return None


def _plan_prefix(timestamp: str) -> bytes:
    # The header string exactly as sent is signed, not a re-rendering of the
    # parsed time, so "Z" vs "+00:00" or fraction digits cannot cause drift.
    return _b(f"{timestamp}.")


def sign_plan(secret: bytes, timestamp_rfc3339: str, body: Body) -> dict[str, str]:
    """Return the three upload headers for `body` signed at `timestamp_rfc3339`.

    `X-Signature` is `sha256=<hex HMAC-SHA256(secret, "{timestamp}." + body)>`
    and `X-Content-SHA256` the hex SHA-256 of the body. Raises `ValueError` if
    the timestamp is not RFC 3339 with an offset.
    """
    if _parse_rfc3339(timestamp_rfc3339) is None:
        raise ValueError("timestamp must be RFC 3339 with a timezone offset")
    [signature] = _hmacs_over([secret], _plan_prefix(timestamp_rfc3339), body)
    return {
        PLAN_SIGNATURE_HEADER: _SHA256_PREFIX + signature.hex(),
        PLAN_CONTENT_HEADER: _sha256_over(body).hex(),
        PLAN_TIMESTAMP_HEADER: timestamp_rfc3339,
    }


def verify_plan(
    secrets: Sequence[bytes],
    headers: Mapping[str, str],
    body: Body,
    *,
    now: float,
    tolerance: int = DEFAULT_TOLERANCE,
) -> None:
    """Verify an upload signed with the plan's scheme (see `sign_plan`).

    Checks, in order: headers present and well-formed (400), timestamp within
    ±`tolerance` of `now` (401), HMAC against any of `secrets` (401), and that
    `X-Content-SHA256` is the SHA-256 of the body (401).
    """
    keys = _usable_secrets(secrets)
    raw_sig = _require_header(headers, PLAN_SIGNATURE_HEADER)
    raw_digest = _require_header(headers, PLAN_CONTENT_HEADER)
    raw_ts = _require_header(headers, PLAN_TIMESTAMP_HEADER)

    received = _parse_hex_digest(
        _strip_prefix(raw_sig, _SHA256_PREFIX, PLAN_SIGNATURE_HEADER), 32, PLAN_SIGNATURE_HEADER
    )
    declared_digest = _parse_hex_digest(raw_digest, 32, PLAN_CONTENT_HEADER)
    ts = _parse_rfc3339(raw_ts)
    if ts is None:
        raise _bad_request(
            "malformed_header", f"{PLAN_TIMESTAMP_HEADER} is not RFC 3339 with an offset"
        )
    _check_window(ts.timestamp(), now, tolerance, PLAN_TIMESTAMP_HEADER)

    if not _any_match(_hmacs_over(keys, _plan_prefix(raw_ts), body), [received]):
        raise _unauthorized("bad_signature", f"{PLAN_SIGNATURE_HEADER} does not match")
    # The signature does not cover this header, yet ingest uses the declared
    # digest as its replay-guard key, so it must be proven to describe the body.
    if not hmac.compare_digest(_sha256_over(body), declared_digest):
        raise _unauthorized(
            "content_digest_mismatch", f"{PLAN_CONTENT_HEADER} is not the body's SHA-256"
        )


# --------------------------------------------------------------------------
# Cal.com and GitHub (HMAC-SHA256 of the raw body, no timestamp)
# --------------------------------------------------------------------------


def sign_calcom(secret: bytes, body: bytes) -> str:
    """Return the `X-Cal-Signature-256` value: lowercase hex HMAC-SHA256."""
    return _hmac(secret, body).hex()


def verify_calcom(
    secrets: Sequence[bytes],
    headers: Mapping[str, str],
    body: bytes,
    *,
    header_name: str = CALCOM_SIGNATURE_HEADER,
) -> None:
    """Verify a Cal.com webhook.

    There is no timestamp, so this gives no replay protection: callers must
    de-duplicate on the booking uid / trigger. A sender with no secret set
    sends the literal `no-secret-provided`, rejected with that code.
    """
    keys = _usable_secrets(secrets)
    raw = _require_header(headers, header_name)
    if raw == CALCOM_NO_SECRET:
        raise _unauthorized("no_secret_provided", "sender has no webhook secret configured")
    received = _parse_hex_digest(raw, 32, header_name)
    if not _any_match([_hmac(key, body) for key in keys], [received]):
        raise _unauthorized("bad_signature", f"{header_name} does not match")


def sign_github(secret: bytes, body: bytes) -> str:
    """Return the `X-Hub-Signature-256` value `sha256=<hex HMAC-SHA256>`."""
    return _SHA256_PREFIX + _hmac(secret, body).hex()


def verify_github(
    secrets: Sequence[bytes],
    headers: Mapping[str, str],
    body: bytes,
    *,
    header_name: str = GITHUB_SIGNATURE_HEADER,
) -> None:
    """Verify a GitHub-style `sha256=<hex>` body signature (no timestamp)."""
    keys = _usable_secrets(secrets)
    raw = _require_header(headers, header_name)
    received = _parse_hex_digest(_strip_prefix(raw, _SHA256_PREFIX, header_name), 32, header_name)
    if not _any_match([_hmac(key, body) for key in keys], [received]):
        raise _unauthorized("bad_signature", f"{header_name} does not match")


# --------------------------------------------------------------------------
# Shared secrets / bearer tokens (Instantly, VAPI legacy and Bearer)
# --------------------------------------------------------------------------


def _verify_token(secrets: Sequence[bytes], token: str, header_name: str) -> None:
    keys = _usable_secrets(secrets)
    # Compare SHA-256 digests rather than the raw strings: compare_digest
    # returns early on a length mismatch, which would leak the secret's length.
    received = [hashlib.sha256(_b(token)).digest()]
    expected = [hashlib.sha256(key).digest() for key in keys]
    if not _any_match(expected, received):
        raise _unauthorized("bad_secret", f"{header_name} does not match a configured secret")


def verify_shared_secret(
    secrets: Sequence[bytes],
    headers: Mapping[str, str],
    header_name: str = SHARED_SECRET_HEADER,
) -> None:
    """Check a shared-secret header (Instantly: set in the subscription's headers).

    Instantly webhooks carry no signature, so the body is not authenticated;
    this only proves the sender knows one of `secrets`.
    """
    _verify_token(secrets, _require_header(headers, header_name), header_name)


@dataclass(frozen=True, slots=True)
class VapiTokenSettings:
    """A VAPI credential sent as a header value, optionally after a prefix.

    The default is the Bearer credential (`Authorization: Bearer <token>`);
    `VAPI_LEGACY_SECRET` is the inline `X-Vapi-Secret: <secret>` form.
    """

    header_name: str = "Authorization"
    prefix: str = "Bearer "


VAPI_BEARER: Final = VapiTokenSettings()
VAPI_LEGACY_SECRET: Final = VapiTokenSettings(header_name="X-Vapi-Secret", prefix="")

_VAPI_PLACEHOLDER_RE: Final = re.compile(r"\{([^{}]*)\}")
_VAPI_PLACEHOLDERS: Final = frozenset({"timestamp", "body", "method", "url", "svix-id"})
_VAPI_ALGORITHMS: Final = frozenset({"sha256", "sha512", "sha1"})
_VAPI_DIGEST_SIZE: Final = {"sha256": 32, "sha512": 64, "sha1": 20}


@dataclass(frozen=True, slots=True)
class VapiHmacSettings:
    """VAPI's HMAC credential (`HMACAuthenticationPlan`), mirrored field by field.

    `payload_format` may use `{timestamp}`, `{body}`, `{method}`, `{url}` and
    `{svix-id}` (the value of `message_id_header`). The HMAC key is the bytes
    given to `verify_vapi`; decode a base64 secret before passing it (VAPI's
    `secretIsBase64`, see `VapiCredential`).
    """

    algorithm: Literal["sha256", "sha512", "sha1"] = "sha256"
    signature_header: str = "x-signature"
    timestamp_header: str = "x-timestamp"
    payload_format: str = "{timestamp}.{body}"
    signature_encoding: Literal["hex", "base64"] = "hex"
    signature_prefix: str = ""
    include_timestamp: bool = True
    message_id_header: str = ""

    def __post_init__(self) -> None:
        # Fail at configuration time, not on the first real call.
        if self.algorithm not in _VAPI_ALGORITHMS:
            raise ValueError(f"unsupported algorithm {self.algorithm!r}")
        if self.signature_encoding not in ("hex", "base64"):
            raise ValueError(f"unsupported signature encoding {self.signature_encoding!r}")
        names = set(_VAPI_PLACEHOLDER_RE.findall(self.payload_format))
        unknown = names - _VAPI_PLACEHOLDERS
        if unknown:
            raise ValueError(f"unknown payload_format placeholders: {sorted(unknown)}")
        if "{body}" not in self.payload_format:
            # A signature that does not cover the body authenticates nothing.
            raise ValueError("payload_format must include {body}")
        if "timestamp" in names and not self.include_timestamp:
            raise ValueError("payload_format uses {timestamp} but include_timestamp is False")
        if "svix-id" in names and not self.message_id_header:
            raise ValueError("payload_format uses {svix-id} but no message_id_header is set")


VapiAuth = VapiTokenSettings | VapiHmacSettings


def _vapi_payload(
    settings: VapiHmacSettings,
    *,
    timestamp: str,
    body: bytes,
    method: str,
    url: str,
    message_id: str = "",
) -> bytes:
    values = {
        "timestamp": _b(timestamp),
        "body": body,
        "method": _b(method),
        "url": _b(url),
        "svix-id": _b(message_id),
    }
    out = bytearray()
    pos = 0
    for m in _VAPI_PLACEHOLDER_RE.finditer(settings.payload_format):
        out += _b(settings.payload_format[pos : m.start()])
        out += values[m.group(1)]
        pos = m.end()
    out += _b(settings.payload_format[pos:])
    return bytes(out)


def sign_vapi_hmac(
    secret: bytes,
    settings: VapiHmacSettings,
    body: bytes,
    *,
    timestamp: str = "",
    method: str = "POST",
    url: str = "",
    message_id: str = "",
) -> dict[str, str]:
    """Return the headers VAPI would send for `body` under `settings`.

    `timestamp` is the header value as sent (seconds or milliseconds); it is
    required when `settings.include_timestamp` is true. `message_id` fills
    `{svix-id}` and is sent in `settings.message_id_header`.
    """
    if settings.include_timestamp and not timestamp:
        raise ValueError("timestamp is required when include_timestamp is true")
    digest = _hmac(
        secret,
        _vapi_payload(
            settings, timestamp=timestamp, body=body, method=method, url=url, message_id=message_id
        ),
        settings.algorithm,
    )
    encoded = digest.hex() if settings.signature_encoding == "hex" else _b64(digest)
    headers = {settings.signature_header: settings.signature_prefix + encoded}
    if settings.include_timestamp:
        headers[settings.timestamp_header] = timestamp
    if settings.message_id_header:
        headers[settings.message_id_header] = message_id
    return headers


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _vapi_timestamp_seconds(raw: str) -> float:
    # The unit is unverified (VAPI's message bodies use ms since epoch). Any
    # plausible seconds value is below 1e11 (year 5138) and any ms value since
    # 1973 is above it, so the magnitude tells them apart unambiguously.
    value = float(raw)
    return value / 1000 if value > 10**11 else value


def _verify_vapi_hmac(
    secrets: Sequence[bytes],
    headers: Mapping[str, str],
    body: bytes,
    settings: VapiHmacSettings,
    *,
    now: float,
    tolerance: int,
    method: str,
    url: str,
) -> None:
    keys = _usable_secrets(secrets)
    raw_sig = _require_header(headers, settings.signature_header)
    raw_ts = ""
    if settings.include_timestamp:
        raw_ts = _require_header(headers, settings.timestamp_header)
        if not _NUMBER_RE.fullmatch(raw_ts):
            raise _bad_request("malformed_header", f"{settings.timestamp_header} is not numeric")

    value = _strip_prefix(raw_sig, settings.signature_prefix, settings.signature_header)
    size = _VAPI_DIGEST_SIZE[settings.algorithm]
    if settings.signature_encoding == "hex":
        received = _parse_hex_digest(value, size, settings.signature_header)
    else:
        decoded = _b64decode_lenient(value)
        if decoded is None or len(decoded) != size:
            raise _bad_request(
                "malformed_header", f"{settings.signature_header} is not a base64 digest"
            )
        received = decoded

    if settings.include_timestamp:
        _check_window(_vapi_timestamp_seconds(raw_ts), now, tolerance, settings.timestamp_header)
    message_id = ""
    if "{svix-id}" in settings.payload_format:
        message_id = _require_header(headers, settings.message_id_header)

    payload = _vapi_payload(
        settings, timestamp=raw_ts, body=body, method=method, url=url, message_id=message_id
    )
    expected = [_hmac(key, payload, settings.algorithm) for key in keys]
    if not _any_match(expected, [received]):
        raise _unauthorized("bad_signature", f"{settings.signature_header} does not match")


def verify_vapi(
    secrets: Sequence[bytes],
    headers: Mapping[str, str],
    body: bytes,
    *,
    auth: VapiAuth = VAPI_LEGACY_SECRET,
    now: float,
    tolerance: int = DEFAULT_TOLERANCE,
    method: str = "POST",
    url: str = "",
) -> None:
    """Verify a VAPI server message under the configured credential type.

    - `VapiTokenSettings`: the header (after its prefix) must equal one of
      `secrets`; covers the legacy `X-Vapi-Secret` and Bearer credentials.
      The body is not authenticated in this mode.
    - `VapiHmacSettings`: HMAC over `payload_format`; when `include_timestamp`,
      the timestamp (seconds or milliseconds) must be within ±`tolerance` of
      `now`. `method` and `url` fill the `{method}`/`{url}` placeholders and
      must be the values VAPI used (the public URL, not a proxy's).
    """
    if isinstance(auth, VapiHmacSettings):
        _verify_vapi_hmac(
            secrets, headers, body, auth, now=now, tolerance=tolerance, method=method, url=url
        )
        return
    raw = _require_header(headers, auth.header_name)
    token = _strip_prefix(raw, auth.prefix, auth.header_name)
    if not token:
        raise _bad_request("malformed_header", f"{auth.header_name} has no token")
    _verify_token(secrets, token, auth.header_name)


@dataclass(frozen=True, slots=True)
class VapiCredential:
    """One VAPI credential: how it is sent (`auth`) and the secrets it may carry."""

    auth: VapiAuth
    secrets: tuple[bytes, ...]


def verify_vapi_credentials(
    credentials: Sequence[VapiCredential],
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float,
    tolerance: int = DEFAULT_TOLERANCE,
    method: str = "POST",
    url: str = "",
) -> VapiCredential:
    """Accept a request that any one of `credentials` verifies; return that credential.

    Several at once let a rotation overlap (e.g. the legacy `X-Vapi-Secret`
    and its Bearer replacement, or an old and a new HMAC secret). When none
    verifies, the answer is the most telling failure: a header that is present
    but does not authenticate (401) before a header that is missing (400).
    """
    if not credentials:
        raise _unauthorized("no_secret_configured", "no VAPI credential is configured")
    failures: list[SignatureError] = []
    for credential in credentials:
        try:
            verify_vapi(
                credential.secrets,
                headers,
                body,
                auth=credential.auth,
                now=now,
                tolerance=tolerance,
                method=method,
                url=url,
            )
        except SignatureError as exc:
            failures.append(exc)
            continue
        return credential
    if len(failures) == 1:
        raise failures[0]
    telling = [f for f in failures if f.code != "missing_header"]
    if telling:
        raise max(telling, key=lambda f: f.status)
    expected = sorted(
        {
            c.auth.signature_header if isinstance(c.auth, VapiHmacSettings) else c.auth.header_name
            for c in credentials
        }
    )
    raise _bad_request(
        "missing_header", f"none of the VAPI credential headers is present ({', '.join(expected)})"
    )


# --------------------------------------------------------------------------
# SignalWire (Compatibility API / cXML webhooks; Twilio's scheme)
# --------------------------------------------------------------------------

#: Where SignalWire puts its signature: its own header, or Twilio's on the
#: Compatibility (cXML) surface (signalwire-python ``core/security``).
SIGNALWIRE_SIGNATURE_HEADERS: Final = ("X-SignalWire-Signature", "X-Twilio-Signature")
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}


def _signalwire_form_message(url: str, params: Sequence[tuple[str, str]]) -> bytes:
    # Scheme B: the URL, then every parameter as name + value, sorted by name
    # (stable: a repeated name keeps the order it was sent in).
    ordered = sorted(params, key=lambda kv: kv[0])
    return _b(url + "".join(k + v for k, v in ordered))


def sign_signalwire(key: bytes, url: str, params: Sequence[tuple[str, str]]) -> str:
    """The ``X-SignalWire-Signature`` of a form-encoded (cXML) webhook: base64 HMAC-SHA1
    of the URL followed by the sorted parameters (Twilio's scheme, which SignalWire's
    Compatibility API uses)."""
    return base64.b64encode(_hmac(key, _signalwire_form_message(url, params), "sha1")).decode()


def _url_variants(url: str) -> list[str]:
    """The URL as given, and with the default port added or removed: senders differ on
    whether ``:443`` is part of what they signed (SignalWire's and Twilio's validators
    try both)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if not host:
        return [url]
    netloc_host = f"[{host}]" if ":" in host else host
    default = _DEFAULT_PORTS.get(parts.scheme.lower())
    if default is None:
        return [url]
    try:
        port = parts.port
    except ValueError:
        return [url]
    userinfo = parts.netloc.rpartition("@")[0]
    prefix = f"{userinfo}@" if userinfo else ""
    if port is None:
        other = parts._replace(netloc=f"{prefix}{netloc_host}:{default}")
    elif port == default:
        other = parts._replace(netloc=f"{prefix}{netloc_host}")
    else:
        return [url]
    return [url, urlunsplit(other)]


def verify_signalwire(
    secrets: Sequence[bytes],
    headers: Mapping[str, str],
    url: str,
    body: bytes,
    params: Sequence[tuple[str, str]],
) -> None:
    """Verify a SignalWire webhook against the URL it was sent to (our public one).

    Accepted: Scheme B (``base64(HMAC-SHA1(key, url + sorted name+value pairs))``, the
    cXML/Compatibility form scheme) and Scheme A (``hex(HMAC-SHA1(key, url + raw body))``,
    SignalWire's scheme for JSON/RELAY callbacks, accepted for the same body as the
    SDK's validator does), each for the URL with and without its default port. The key
    is the project's Signing Key. There is no timestamp: replays are absorbed by storing
    each ``MessageSid`` once.

    A missing signature is a 401 here, not a 400: an unsigned request is simply
    unauthenticated, and SignalWire always signs.
    """
    keys = _usable_secrets(secrets)
    raw = next(
        (v.strip() for name in SIGNALWIRE_SIGNATURE_HEADERS if (v := _header(headers, name))),
        "",
    )
    if not raw:
        raise _unauthorized("missing_header", "X-SignalWire-Signature is missing")
    received = _b(raw)
    expected: list[bytes] = []
    for candidate in _url_variants(url):
        form = _signalwire_form_message(candidate, params)
        for key in keys:
            expected.append(base64.b64encode(_hmac(key, form, "sha1")))
            expected.append(_hmac(key, _b(candidate) + body, "sha1").hex().encode())
    if not _any_match(expected, [received]):
        raise _unauthorized("bad_signature", "X-SignalWire-Signature does not match")
