"""Tests for the webhook/upload signature schemes.

Cases follow reliability-checklist.md section 1; vectors come from
provider-formats.md sections 5-6 and GitHub's webhook docs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from equity_connect.security import signatures
from equity_connect.security.signatures import (
    VAPI_BEARER,
    VAPI_LEGACY_SECRET,
    SignatureError,
    VapiHmacSettings,
    VapiTokenSettings,
    parse_secret,
    parse_secrets,
    sign_calcom,
    sign_github,
    sign_plan,
    sign_standard,
    sign_vapi_hmac,
    verify_calcom,
    verify_github,
    verify_plan,
    verify_shared_secret,
    verify_standard,
    verify_vapi,
)

NOW = 1_700_000_000.0
OLD = b"old-secret-0123456789abcdef"
NEW = b"new-secret-fedcba9876543210"
BODY = b'{"triggerEvent":"BOOKING_CREATED","payload":{"uid":"abc"}}'
MSG_ID = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"
CSV_BODY = b"name,phone\r\nAda Lovelace,5165551234\r\n"


def rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


# --------------------------------------------------------------------------
# One table of schemes so the generic cases run against every one of them.
# --------------------------------------------------------------------------

SignFn = Callable[[bytes, bytes, float], dict[str, str]]
VerifyFn = Callable[[Sequence[bytes], Mapping[str, str], bytes, float], object]

VAPI_DEFAULT = VapiHmacSettings()
VAPI_SHA512_B64 = VapiHmacSettings(
    algorithm="sha512",
    signature_header="X-Vapi-Signature",
    signature_encoding="base64",
    signature_prefix="sha512=",
    payload_format="{method} {url} {timestamp}:{body}",
)
VAPI_SHA1_NO_TS = VapiHmacSettings(
    algorithm="sha1", payload_format="{body}", include_timestamp=False
)
VAPI_URL = "https://api.example.com/webhooks/vapi"


@dataclass(frozen=True)
class Scheme:
    name: str
    sign: SignFn
    verify: VerifyFn
    required: tuple[str, ...]
    signs_body: bool = True
    timestamped: bool = False

    def __str__(self) -> str:
        return self.name


def _standard_sign(secret: bytes, body: bytes, ts: float) -> dict[str, str]:
    return {
        "webhook-id": "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W",
        "webhook-timestamp": str(int(ts)),
        "webhook-signature": sign_standard(
            secret, "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", int(ts), body
        ),
    }


def _vapi_hmac_scheme(name: str, cfg: VapiHmacSettings, *, ms: bool = False) -> Scheme:
    def sign(secret: bytes, body: bytes, ts: float) -> dict[str, str]:
        stamp = str(int(ts * 1000) if ms else int(ts)) if cfg.include_timestamp else ""
        return sign_vapi_hmac(secret, cfg, body, timestamp=stamp, method="POST", url=VAPI_URL)

    def verify(s: Sequence[bytes], h: Mapping[str, str], b: bytes, now: float) -> None:
        verify_vapi(s, h, b, auth=cfg, now=now, method="POST", url=VAPI_URL)

    required: tuple[str, ...] = (cfg.signature_header,)
    if cfg.include_timestamp:
        required += (cfg.timestamp_header,)
    return Scheme(name, sign, verify, required, timestamped=cfg.include_timestamp)


def _vapi_token_scheme(name: str, cfg: VapiTokenSettings) -> Scheme:
    def sign(secret: bytes, body: bytes, ts: float) -> dict[str, str]:
        return {cfg.header_name: cfg.prefix + secret.decode()}

    def verify(s: Sequence[bytes], h: Mapping[str, str], b: bytes, now: float) -> None:
        verify_vapi(s, h, b, auth=cfg, now=now)

    return Scheme(name, sign, verify, (cfg.header_name,), signs_body=False)


STANDARD = Scheme(
    "standard",
    _standard_sign,
    lambda s, h, b, now: verify_standard(s, h, b, now=now),
    ("webhook-id", "webhook-timestamp", "webhook-signature"),
    timestamped=True,
)
PLAN = Scheme(
    "plan",
    lambda secret, body, ts: sign_plan(secret, rfc3339(ts), body),
    lambda s, h, b, now: verify_plan(s, h, b, now=now),
    ("X-Signature", "X-Content-SHA256", "X-Signature-Timestamp"),
    timestamped=True,
)
CALCOM = Scheme(
    "calcom",
    lambda secret, body, ts: {"X-Cal-Signature-256": sign_calcom(secret, body)},
    lambda s, h, b, now: verify_calcom(s, h, b),
    ("X-Cal-Signature-256",),
)
GITHUB = Scheme(
    "github",
    lambda secret, body, ts: {"X-Hub-Signature-256": sign_github(secret, body)},
    lambda s, h, b, now: verify_github(s, h, b),
    ("X-Hub-Signature-256",),
)
SHARED = Scheme(
    "instantly-shared-secret",
    lambda secret, body, ts: {"X-Webhook-Secret": secret.decode()},
    lambda s, h, b, now: verify_shared_secret(s, h),
    ("X-Webhook-Secret",),
    signs_body=False,
)
VAPI_HMAC = _vapi_hmac_scheme("vapi-hmac", VAPI_DEFAULT)
VAPI_HMAC_MS = _vapi_hmac_scheme("vapi-hmac-ms", VAPI_DEFAULT, ms=True)
VAPI_HMAC_512 = _vapi_hmac_scheme("vapi-hmac-sha512-b64", VAPI_SHA512_B64)
VAPI_HMAC_SHA1 = _vapi_hmac_scheme("vapi-hmac-sha1-no-ts", VAPI_SHA1_NO_TS)
VAPI_LEGACY = _vapi_token_scheme("vapi-legacy", VAPI_LEGACY_SECRET)
VAPI_BEARER_S = _vapi_token_scheme("vapi-bearer", VAPI_BEARER)

ALL = [
    STANDARD,
    PLAN,
    CALCOM,
    GITHUB,
    SHARED,
    VAPI_HMAC,
    VAPI_HMAC_MS,
    VAPI_HMAC_512,
    VAPI_HMAC_SHA1,
    VAPI_LEGACY,
    VAPI_BEARER_S,
]
BODY_SIGNED = [s for s in ALL if s.signs_body]
TIMESTAMPED = [s for s in ALL if s.timestamped]
MISSING = [(s, h) for s in ALL for h in s.required]

by_scheme = pytest.mark.parametrize("scheme", ALL, ids=str)
by_body_scheme = pytest.mark.parametrize("scheme", BODY_SIGNED, ids=str)
by_ts_scheme = pytest.mark.parametrize("scheme", TIMESTAMPED, ids=str)


def reject(
    scheme: Scheme, secrets: Sequence[bytes], headers: Mapping[str, str], body: bytes
) -> SignatureError:
    with pytest.raises(SignatureError) as info:
        scheme.verify(secrets, headers, body, NOW)
    return info.value


def flip(body: bytes, index: int = 0, mask: int = 0x01) -> bytes:
    mutated = bytearray(body)
    mutated[index] ^= mask
    return bytes(mutated)


# --------------------------------------------------------------------------
# Generic cases, every scheme
# --------------------------------------------------------------------------


@by_scheme
def test_valid_request_is_accepted(scheme: Scheme) -> None:
    scheme.verify([NEW], scheme.sign(NEW, BODY, NOW), BODY, NOW)


@by_scheme
def test_header_names_are_case_insensitive(scheme: Scheme) -> None:
    headers = {k.upper(): v for k, v in scheme.sign(NEW, BODY, NOW).items()}
    scheme.verify([NEW], headers, BODY, NOW)
    headers = {k.lower(): v for k, v in scheme.sign(NEW, BODY, NOW).items()}
    scheme.verify([NEW], headers, BODY, NOW)


@by_body_scheme
@pytest.mark.parametrize("index", [0, len(BODY) // 2, len(BODY) - 1])
def test_one_changed_body_byte_is_401(scheme: Scheme, index: int) -> None:
    headers = scheme.sign(NEW, BODY, NOW)
    err = reject(scheme, [NEW], headers, flip(BODY, index))
    assert err.status == 401
    assert err.code == "bad_signature"


@by_body_scheme
@pytest.mark.parametrize(
    "normalise",
    [
        lambda b: b.replace(b"\r\n", b"\n"),
        lambda b: b.rstrip(),
        lambda b: b + b"\n",
        lambda b: b"\xef\xbb\xbf" + b,
        lambda b: b.replace(b",", b", "),
    ],
    ids=["crlf-to-lf", "rstrip", "trailing-newline", "bom", "reformatted"],
)
def test_normalised_body_is_401_never_accepted(
    scheme: Scheme, normalise: Callable[[bytes], bytes]
) -> None:
    headers = scheme.sign(NEW, CSV_BODY, NOW)
    err = reject(scheme, [NEW], headers, normalise(CSV_BODY))
    assert err.status == 401


@pytest.mark.parametrize(("scheme", "header"), MISSING, ids=str)
@pytest.mark.parametrize("how", ["absent", "empty", "blank"])
def test_missing_header_is_400(scheme: Scheme, header: str, how: str) -> None:
    headers = scheme.sign(NEW, BODY, NOW)
    if how == "absent":
        del headers[header]
    else:
        headers[header] = "" if how == "empty" else "   "
    err = reject(scheme, [NEW], headers, BODY)
    assert (err.status, err.code) == (400, "missing_header")
    assert header in err.reason


@by_scheme
def test_no_headers_at_all_is_400(scheme: Scheme) -> None:
    err = reject(scheme, [NEW], {}, BODY)
    assert (err.status, err.code) == (400, "missing_header")


@by_ts_scheme
@pytest.mark.parametrize(
    ("offset", "code"), [(-301, "timestamp_too_old"), (301, "timestamp_in_future")]
)
def test_timestamp_outside_window_is_401(scheme: Scheme, offset: int, code: str) -> None:
    headers = scheme.sign(NEW, BODY, NOW + offset)
    err = reject(scheme, [NEW], headers, BODY)
    assert (err.status, err.code) == (401, code)


@by_ts_scheme
@pytest.mark.parametrize("offset", [-300, 300])
def test_timestamp_at_window_edge_is_accepted(scheme: Scheme, offset: int) -> None:
    scheme.verify([NEW], scheme.sign(NEW, BODY, NOW + offset), BODY, NOW)


@by_scheme
@pytest.mark.parametrize("signer", [OLD, NEW], ids=["signed-old", "signed-new"])
def test_rotation_old_and_new_secret_both_accepted(scheme: Scheme, signer: bytes) -> None:
    scheme.verify([NEW, OLD], scheme.sign(signer, BODY, NOW), BODY, NOW)


@by_scheme
def test_only_revoked_secret_is_401(scheme: Scheme) -> None:
    headers = scheme.sign(OLD, BODY, NOW)
    err = reject(scheme, [NEW], headers, BODY)
    assert err.status == 401
    assert err.code in {"bad_signature", "bad_secret"}


@by_scheme
@pytest.mark.parametrize("secrets", [[], [b""]], ids=["none", "empty"])
def test_no_secret_configured_fails_closed(scheme: Scheme, secrets: list[bytes]) -> None:
    err = reject(scheme, secrets, scheme.sign(NEW, BODY, NOW), BODY)
    assert (err.status, err.code) == (401, "no_secret_configured")


@by_scheme
def test_errors_never_contain_secret_material(scheme: Scheme) -> None:
    sent = scheme.sign(OLD, BODY, NOW)
    err = reject(scheme, [NEW], sent, BODY)
    text = f"{err} {err.reason} {err!r}"
    for secret in (OLD, NEW):
        assert secret.decode() not in text
    for value in sent.values():
        assert value not in text


@by_scheme
def test_every_comparison_uses_hmac_compare_digest(
    scheme: Scheme, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(f"{signatures.__name__}.hmac.compare_digest", spy)
    headers = scheme.sign(NEW, BODY, NOW)
    scheme.verify([NEW, OLD], headers, BODY, NOW)
    # The first secret matches, yet the second is still compared: no early
    # exit that would reveal which key matched.
    assert len(calls) >= 2
    with pytest.raises(SignatureError):
        scheme.verify([OLD], headers, BODY, NOW)
    assert len(calls) >= 3
    # And no check bypasses it: forced to False, a valid request is
    # rejected; forced to True, a wrong key and a tampered body (which also
    # breaks the plan scheme's content digest) are accepted.
    target = f"{signatures.__name__}.hmac.compare_digest"
    monkeypatch.setattr(target, lambda a, b: False)
    with pytest.raises(SignatureError):
        scheme.verify([NEW], headers, BODY, NOW)
    monkeypatch.setattr(target, lambda a, b: True)
    scheme.verify([OLD], headers, flip(BODY), NOW)


# --------------------------------------------------------------------------
# Property tests
# --------------------------------------------------------------------------

binary_secret = st.binary(min_size=1, max_size=64)
# Shared secrets and tokens travel as header text: printable, no edge spaces.
text_secret = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=64
).map(str.encode)


@by_body_scheme
@settings(max_examples=60, deadline=None)
@given(secret=binary_secret, body=st.binary(min_size=1, max_size=512), data=st.data())
def test_property_round_trip_and_any_mutation_fails(
    scheme: Scheme, secret: bytes, body: bytes, data: st.DataObject
) -> None:
    headers = scheme.sign(secret, body, NOW)
    scheme.verify([secret], headers, body, NOW)
    index = data.draw(st.integers(0, len(body) - 1), label="index")
    mask = data.draw(st.integers(1, 255), label="mask")
    with pytest.raises(SignatureError) as info:
        scheme.verify([secret], headers, flip(body, index, mask), NOW)
    assert info.value.status == 401


@pytest.mark.parametrize("scheme", [s for s in ALL if not s.signs_body], ids=str)
@settings(max_examples=60, deadline=None)
@given(secret=text_secret, other=text_secret, body=st.binary(max_size=64))
def test_property_token_round_trip(
    scheme: Scheme, secret: bytes, other: bytes, body: bytes
) -> None:
    headers = scheme.sign(secret, body, NOW)
    scheme.verify([secret], headers, body, NOW)
    if other != secret:
        with pytest.raises(SignatureError) as info:
            scheme.verify([other], headers, body, NOW)
        assert info.value.status == 401


@settings(max_examples=60, deadline=None)
@given(key=st.binary(min_size=1, max_size=64))
def test_property_whsec_secret_round_trips_without_padding(key: bytes) -> None:
    encoded = base64.b64encode(key).decode()
    assert parse_secret("whsec_" + encoded) == key
    assert parse_secret("whsec_" + encoded.rstrip("=")) == key


# --------------------------------------------------------------------------
# Secrets
# --------------------------------------------------------------------------


def test_parse_secret_plain_is_utf8() -> None:
    assert parse_secret("test-secret") == b"test-secret"
    assert parse_secret("clé") == "clé".encode()


@pytest.mark.parametrize("bad", ["", "whsec_", "whsec_!!!notbase64", "whsec_a"])
def test_parse_secret_rejects_bad_config(bad: str) -> None:
    with pytest.raises(ValueError, match="secret"):
        parse_secret(bad)


def test_parse_secrets_csv_for_rotation() -> None:
    assert parse_secrets("new, old,,  ") == [b"new", b"old"]
    assert parse_secrets("") == []
    whsec = parse_secrets("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw,plain")
    assert len(whsec[0]) == 24
    assert whsec[1] == b"plain"


# --------------------------------------------------------------------------
# Standard Webhooks
# --------------------------------------------------------------------------

SW_KEY = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SW_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SW_TS = 1614265330
SW_BODY = b'{"test": 2432232314}'
SW_GOOD = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
SW_BAD = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA="
SW_OTHER = "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc="


def sw_headers(signature: str, *, msg_id: str = SW_ID, ts: str = str(SW_TS)) -> dict[str, str]:
    return {"webhook-id": msg_id, "webhook-timestamp": ts, "webhook-signature": signature}


def test_standard_published_vector_signs() -> None:
    assert sign_standard(parse_secret(SW_KEY), SW_ID, SW_TS, SW_BODY) == SW_GOOD


def test_standard_published_vector_verifies_and_returns_id() -> None:
    assert verify_standard([parse_secret(SW_KEY)], sw_headers(SW_GOOD), SW_BODY, now=SW_TS) == SW_ID


def test_standard_published_negative_vector_is_401() -> None:
    with pytest.raises(SignatureError) as info:
        verify_standard([parse_secret(SW_KEY)], sw_headers(SW_BAD), SW_BODY, now=SW_TS)
    assert (info.value.status, info.value.code) == (401, "bad_signature")


@pytest.mark.parametrize(
    "header",
    [
        f"{SW_OTHER} {SW_GOOD}",
        f"{SW_GOOD} {SW_OTHER}",
        f"{SW_BAD}  {SW_OTHER} {SW_GOOD}",
        f"v2,xyz v1a,abcd {SW_GOOD}",
        f"v1,!!!not-base64!!! {SW_GOOD}",
        f"junk {SW_GOOD}",
    ],
)
def test_standard_one_good_entry_among_bad_or_unknown_ones_passes(header: str) -> None:
    verify_standard([parse_secret(SW_KEY)], sw_headers(header), SW_BODY, now=SW_TS)


def test_standard_old_and_new_signatures_together_pass_with_only_new_key() -> None:
    headers = _standard_sign(NEW, BODY, NOW)
    old_sig = _standard_sign(OLD, BODY, NOW)["webhook-signature"]
    headers["webhook-signature"] = f"{old_sig} {headers['webhook-signature']}"
    verify_standard([NEW], headers, BODY, now=NOW)


@pytest.mark.parametrize(
    "signature",
    ["", "garbage", "v1", "v1,", ",abc", "v1a,abcd", "v2,abcd v0,ef"],
)
def test_standard_malformed_signature_header(signature: str) -> None:
    with pytest.raises(SignatureError) as info:
        verify_standard([parse_secret(SW_KEY)], sw_headers(signature), SW_BODY, now=SW_TS)
    assert info.value.status == 400
    assert info.value.code in {"missing_header", "malformed_header"}


@pytest.mark.parametrize("ts", ["abc", "1614265330.0", "-1614265330", "+1614265330", "1e9", "١٢"])
def test_standard_non_integer_timestamp_is_400(ts: str) -> None:
    with pytest.raises(SignatureError) as info:
        verify_standard([parse_secret(SW_KEY)], sw_headers(SW_GOOD, ts=ts), SW_BODY, now=SW_TS)
    assert (info.value.status, info.value.code) == (400, "malformed_header")


def test_standard_id_containing_dot_is_400() -> None:
    headers = sw_headers(SW_GOOD, msg_id="msg.1")
    with pytest.raises(SignatureError) as info:
        verify_standard([parse_secret(SW_KEY)], headers, SW_BODY, now=SW_TS)
    assert (info.value.status, info.value.code) == (400, "malformed_header")
    with pytest.raises(ValueError, match=r"'\.'"):
        sign_standard(b"k", "msg.1", SW_TS, SW_BODY)


def test_standard_malformed_headers_are_rejected_before_the_timestamp_window() -> None:
    # A stale request with a malformed id is a 400, not a 401: the shape is
    # checked before any time or HMAC work.
    headers = sw_headers(SW_GOOD, msg_id="a.b")
    with pytest.raises(SignatureError) as info:
        verify_standard([parse_secret(SW_KEY)], headers, SW_BODY, now=SW_TS + 10_000)
    assert info.value.status == 400


# --------------------------------------------------------------------------
# Plan scheme (signed upload)
# --------------------------------------------------------------------------


def test_plan_sign_headers() -> None:
    ts = "2023-11-14T22:13:20Z"
    headers = sign_plan(NEW, ts, CSV_BODY)
    expected = hmac.new(NEW, f"{ts}.".encode() + CSV_BODY, hashlib.sha256).hexdigest()
    assert headers == {
        "X-Signature": f"sha256={expected}",
        "X-Content-SHA256": hashlib.sha256(CSV_BODY).hexdigest(),
        "X-Signature-Timestamp": ts,
    }


@pytest.mark.parametrize(
    "ts",
    [
        "2023-11-14T22:13:20Z",
        "2023-11-14t22:13:20z",
        "2023-11-14 22:13:20Z",
        "2023-11-14T22:13:20.123456789Z",
        "2023-11-15T03:43:20+05:30",
        "2023-11-14T17:13:20-05:00",
    ],
)
def test_plan_accepts_rfc3339_with_offset(ts: str) -> None:
    verify_plan([NEW], sign_plan(NEW, ts, CSV_BODY), CSV_BODY, now=NOW)


@pytest.mark.parametrize(
    "ts",
    [
        "2023-11-14T22:13:20",
        "2023-11-14",
        "1700000000",
        "2023-13-14T22:13:20Z",
        "2023-11-14T22:13:60Z",
        "2023-11-14T22:13:20+24:00",
        "2023-11-14T22:13:20+0000",
        "Tue, 14 Nov 2023 22:13:20 GMT",
    ],
)
def test_plan_rejects_naive_or_invalid_timestamp_with_400(ts: str) -> None:
    with pytest.raises(ValueError, match="RFC 3339"):
        sign_plan(NEW, ts, CSV_BODY)
    headers = sign_plan(NEW, "2023-11-14T22:13:20Z", CSV_BODY)
    headers["X-Signature-Timestamp"] = ts
    with pytest.raises(SignatureError) as info:
        verify_plan([NEW], headers, CSV_BODY, now=NOW)
    assert (info.value.status, info.value.code) == (400, "malformed_header")


def test_plan_signs_the_timestamp_string_exactly_as_sent() -> None:
    headers = sign_plan(NEW, "2023-11-14T22:13:20Z", CSV_BODY)
    # Same instant, different spelling: the signature no longer matches.
    headers["X-Signature-Timestamp"] = "2023-11-14T22:13:20+00:00"
    with pytest.raises(SignatureError) as info:
        verify_plan([NEW], headers, CSV_BODY, now=NOW)
    assert (info.value.status, info.value.code) == (401, "bad_signature")


def test_plan_content_digest_must_match_body() -> None:
    headers = sign_plan(NEW, rfc3339(NOW), CSV_BODY)
    headers["X-Content-SHA256"] = hashlib.sha256(b"other").hexdigest()
    with pytest.raises(SignatureError) as info:
        verify_plan([NEW], headers, CSV_BODY, now=NOW)
    assert (info.value.status, info.value.code) == (401, "content_digest_mismatch")


def test_plan_hex_is_case_insensitive() -> None:
    headers = sign_plan(NEW, rfc3339(NOW), CSV_BODY)
    headers["X-Content-SHA256"] = headers["X-Content-SHA256"].upper()
    headers["X-Signature"] = "SHA256=" + headers["X-Signature"][len("sha256=") :].upper()
    verify_plan([NEW], headers, CSV_BODY, now=NOW)


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("X-Signature", "abcdef"),
        ("X-Signature", "sha1=" + "a" * 40),
        ("X-Signature", "sha256=" + "z" * 64),
        ("X-Signature", "sha256=" + "a" * 63),
        ("X-Signature", "a" * 64),
        ("X-Content-SHA256", "sha256=" + "a" * 64),
        ("X-Content-SHA256", "g" * 64),
        ("X-Content-SHA256", "a" * 62),
    ],
)
def test_plan_malformed_headers_are_400(header: str, value: str) -> None:
    headers = sign_plan(NEW, rfc3339(NOW), CSV_BODY)
    headers[header] = value
    with pytest.raises(SignatureError) as info:
        verify_plan([NEW], headers, CSV_BODY, now=NOW)
    assert (info.value.status, info.value.code) == (400, "malformed_header")


# --------------------------------------------------------------------------
# Cal.com and GitHub
# --------------------------------------------------------------------------

CAL_VECTOR = "50a02525bcf4afd35857116d833cade5a3686a5f2b73d1977ace8522d2d648a3"
GH_SECRET = b"It's a Secret to Everybody"
GH_VECTOR = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


def test_calcom_computed_vector() -> None:
    assert sign_calcom(b"test-secret", BODY) == CAL_VECTOR
    verify_calcom([b"test-secret"], {"X-Cal-Signature-256": CAL_VECTOR}, BODY)


def test_calcom_vector_with_one_byte_changed_is_401() -> None:
    with pytest.raises(SignatureError) as info:
        verify_calcom([b"test-secret"], {"x-cal-signature-256": CAL_VECTOR}, flip(BODY, 5))
    assert (info.value.status, info.value.code) == (401, "bad_signature")


def test_calcom_no_secret_provided_sentinel_is_401() -> None:
    with pytest.raises(SignatureError) as info:
        verify_calcom([b"test-secret"], {"X-Cal-Signature-256": "no-secret-provided"}, BODY)
    assert (info.value.status, info.value.code) == (401, "no_secret_provided")


@pytest.mark.parametrize(
    "value", ["sha256=" + CAL_VECTOR, CAL_VECTOR[:-1], "xyz", CAL_VECTOR + "0"]
)
def test_calcom_malformed_header_is_400(value: str) -> None:
    with pytest.raises(SignatureError) as info:
        verify_calcom([b"test-secret"], {"X-Cal-Signature-256": value}, BODY)
    assert (info.value.status, info.value.code) == (400, "malformed_header")


def test_github_published_vector() -> None:
    assert sign_github(GH_SECRET, b"Hello, World!") == GH_VECTOR
    verify_github([GH_SECRET], {"X-Hub-Signature-256": GH_VECTOR}, b"Hello, World!")


def test_github_vector_with_one_byte_changed_is_401() -> None:
    with pytest.raises(SignatureError) as info:
        verify_github([GH_SECRET], {"X-Hub-Signature-256": GH_VECTOR}, b"Hello, World?")
    assert (info.value.status, info.value.code) == (401, "bad_signature")


@pytest.mark.parametrize("value", [GH_VECTOR.removeprefix("sha256="), "sha1=abcd", "sha256=xyz"])
def test_github_malformed_header_is_400(value: str) -> None:
    with pytest.raises(SignatureError) as info:
        verify_github([GH_SECRET], {"X-Hub-Signature-256": value}, b"Hello, World!")
    assert (info.value.status, info.value.code) == (400, "malformed_header")


# --------------------------------------------------------------------------
# Instantly shared secret
# --------------------------------------------------------------------------


def test_shared_secret_custom_header_name() -> None:
    headers = {"x-equity-hook": NEW.decode()}
    verify_shared_secret([NEW], headers, header_name="X-Equity-Hook")
    with pytest.raises(SignatureError) as info:
        verify_shared_secret([NEW], headers)
    assert (info.value.status, info.value.code) == (400, "missing_header")


@pytest.mark.parametrize("value", ["wrong", NEW.decode()[:-1], NEW.decode() + "x", "Bearer x"])
def test_shared_secret_mismatch_is_401(value: str) -> None:
    with pytest.raises(SignatureError) as info:
        verify_shared_secret([NEW, OLD], {"X-Webhook-Secret": value})
    assert (info.value.status, info.value.code) == (401, "bad_secret")


def test_shared_secret_non_ascii_header_value_does_not_crash() -> None:
    with pytest.raises(SignatureError) as info:
        verify_shared_secret([NEW], {"X-Webhook-Secret": "sécret\udcff"})
    assert info.value.status == 401


# --------------------------------------------------------------------------
# VAPI
# --------------------------------------------------------------------------


def test_vapi_legacy_secret_is_the_default_auth() -> None:
    verify_vapi([NEW], {"X-Vapi-Secret": NEW.decode()}, BODY, now=NOW)


def test_vapi_bearer_and_custom_token_settings() -> None:
    verify_vapi([NEW], {"authorization": f"bearer {NEW.decode()}"}, BODY, auth=VAPI_BEARER, now=NOW)
    custom = VapiTokenSettings(header_name="X-Api-Key", prefix="Token ")
    verify_vapi([NEW], {"X-Api-Key": f"Token {NEW.decode()}"}, BODY, auth=custom, now=NOW)


@pytest.mark.parametrize("value", ["Basic abc", NEW.decode(), "Bearer", "Bearer    "])
def test_vapi_bearer_without_prefix_or_token_is_400(value: str) -> None:
    with pytest.raises(SignatureError) as info:
        verify_vapi([NEW], {"Authorization": value}, BODY, auth=VAPI_BEARER, now=NOW)
    assert info.value.status == 400
    assert info.value.code in {"malformed_header", "missing_header"}


def test_vapi_hmac_default_format_is_timestamp_dot_body() -> None:
    stamp = str(int(NOW))
    sig = hmac.new(NEW, f"{stamp}.".encode() + BODY, hashlib.sha256).hexdigest()
    verify_vapi([NEW], {"x-signature": sig, "x-timestamp": stamp}, BODY, auth=VAPI_DEFAULT, now=NOW)


def test_vapi_hmac_payload_placeholders_and_base64_prefix() -> None:
    stamp = str(int(NOW * 1000))
    payload = f"POST {VAPI_URL} {stamp}:".encode() + BODY
    sig = base64.b64encode(hmac.new(NEW, payload, hashlib.sha512).digest()).decode()
    headers = {"X-Vapi-Signature": f"sha512={sig}", "x-timestamp": stamp}
    verify_vapi([NEW], headers, BODY, auth=VAPI_SHA512_B64, now=NOW, url=VAPI_URL)
    # The URL and method are signed: a different one fails.
    with pytest.raises(SignatureError) as info:
        verify_vapi([NEW], headers, BODY, auth=VAPI_SHA512_B64, now=NOW, url=VAPI_URL + "/x")
    assert info.value.status == 401
    with pytest.raises(SignatureError):
        verify_vapi([NEW], headers, BODY, auth=VAPI_SHA512_B64, now=NOW, method="PUT", url=VAPI_URL)


@pytest.mark.parametrize(
    ("stamp", "ok"),
    [
        (str(int(NOW)), True),
        (str(int(NOW * 1000)), True),
        (f"{NOW:.3f}", True),
        (str(int(NOW - 301)), False),
        (str(int((NOW + 301) * 1000)), False),
        (str(int(NOW * 1000) - 301_000), False),
    ],
)
def test_vapi_hmac_timestamp_seconds_or_millis(stamp: str, ok: bool) -> None:
    headers = sign_vapi_hmac(NEW, VAPI_DEFAULT, BODY, timestamp=stamp)
    if ok:
        verify_vapi([NEW], headers, BODY, auth=VAPI_DEFAULT, now=NOW)
    else:
        with pytest.raises(SignatureError) as info:
            verify_vapi([NEW], headers, BODY, auth=VAPI_DEFAULT, now=NOW)
        assert info.value.status == 401
        assert info.value.code in {"timestamp_too_old", "timestamp_in_future"}


@pytest.mark.parametrize("stamp", ["abc", "-1700000000", "1.7e9", "2023-11-14T22:13:20Z"])
def test_vapi_hmac_non_numeric_timestamp_is_400(stamp: str) -> None:
    headers = sign_vapi_hmac(NEW, VAPI_DEFAULT, BODY, timestamp=str(int(NOW)))
    headers["x-timestamp"] = stamp
    with pytest.raises(SignatureError) as info:
        verify_vapi([NEW], headers, BODY, auth=VAPI_DEFAULT, now=NOW)
    assert (info.value.status, info.value.code) == (400, "malformed_header")


@pytest.mark.parametrize(
    ("cfg", "value"),
    [
        (VAPI_DEFAULT, "a" * 63),
        (VAPI_DEFAULT, "a" * 128),
        (VAPI_DEFAULT, "g" * 64),
        (VAPI_SHA512_B64, "a" * 64),
        (VAPI_SHA512_B64, "sha512=" + base64.b64encode(b"x" * 32).decode()),
        (VAPI_SHA512_B64, "sha512=!!!"),
    ],
)
def test_vapi_hmac_malformed_signature_is_400(cfg: VapiHmacSettings, value: str) -> None:
    headers = sign_vapi_hmac(NEW, cfg, BODY, timestamp=str(int(NOW)), url=VAPI_URL)
    headers[cfg.signature_header] = value
    with pytest.raises(SignatureError) as info:
        verify_vapi([NEW], headers, BODY, auth=cfg, now=NOW, url=VAPI_URL)
    assert (info.value.status, info.value.code) == (400, "malformed_header")


def test_vapi_hmac_without_timestamp_ignores_time() -> None:
    headers = sign_vapi_hmac(NEW, VAPI_SHA1_NO_TS, BODY)
    assert set(headers) == {"x-signature"}
    verify_vapi([NEW], headers, BODY, auth=VAPI_SHA1_NO_TS, now=0.0)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"payload_format": "{timestamp}.{body}.{svix-id}"},
        {"payload_format": "{timestamp}"},
        {"payload_format": "{timestamp}.{body}", "include_timestamp": False},
        {"algorithm": "md5"},
        {"signature_encoding": "base32"},
    ],
)
def test_vapi_hmac_settings_reject_bad_configuration(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"\w"):
        VapiHmacSettings(**kwargs)  # type: ignore[arg-type]


def test_vapi_sign_requires_timestamp_when_included() -> None:
    with pytest.raises(ValueError, match="timestamp"):
        sign_vapi_hmac(NEW, VAPI_DEFAULT, BODY)


def test_signature_error_carries_status_code_reason() -> None:
    err = SignatureError(400, "missing_header", "header X is missing")
    assert (err.status, err.code, err.reason) == (400, "missing_header", "header X is missing")
    assert str(err) == "missing_header: header X is missing"


@given(body=st.binary(max_size=5000), cut=st.integers(min_value=1, max_value=700))
def test_streamed_body_verifies_like_bytes(body: bytes, cut: int) -> None:
    secret = b"stream-secret"

    def chunks() -> list[bytes]:
        return [body[i : i + cut] for i in range(0, len(body), cut)]

    now = 1_700_000_000
    signed = sign_standard(secret, "msg_1", now, body)
    assert sign_standard(secret, "msg_1", now, chunks) == signed
    headers = {"webhook-id": "msg_1", "webhook-timestamp": str(now), "webhook-signature": signed}
    assert verify_standard([secret], headers, chunks, now=now) == "msg_1"
    plan = sign_plan(secret, "2023-11-14T22:13:20Z", chunks)
    assert plan == sign_plan(secret, "2023-11-14T22:13:20Z", body)
    verify_plan([secret], plan, chunks, now=now)
    tampered = body + b"x"
    with pytest.raises(SignatureError):
        verify_plan([secret], plan, lambda: [tampered], now=now)


# --------------------------------------------------------------------------
# Secrets used exactly as typed (Cal.com)
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed",
    ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "one,two", " padded ", "whsec_a,b", "clé"],
)
def test_literal_secret_is_its_utf8_bytes(typed: str) -> None:
    # parse_secrets would base64-decode the first and split the second.
    assert signatures.parse_literal_secrets(typed) == [typed.encode()]


def test_literal_secrets_rotation_is_a_json_array() -> None:
    assert signatures.parse_literal_secrets('["new,1", "whsec_old"]') == [b"new,1", b"whsec_old"]
    assert signatures.parse_literal_secrets("") == []


@pytest.mark.parametrize("bad", ["[", "[not json", "[]", '[""]', "[1]", '["a", 2]'])
def test_literal_secrets_reject_a_broken_list(bad: str) -> None:
    with pytest.raises(ValueError, match="JSON array of non-empty strings"):
        signatures.parse_literal_secrets(bad)


# Lone surrogates (category Cs) cannot be typed into Cal.com nor encoded as UTF-8.
@given(
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1).filter(
        lambda s: not s.lstrip().startswith("[")
    )
)
@settings(max_examples=200)
def test_any_typed_secret_signs_like_calcom(typed: str) -> None:
    # Cal.com: createHmac("sha256", secret).update(body).digest("hex").
    [parsed] = signatures.parse_literal_secrets(typed)
    expected = hmac.new(typed.encode(), BODY, hashlib.sha256).hexdigest()
    verify_calcom([parsed], {"X-Cal-Signature-256": expected}, BODY)


# --- a body hashed as it arrives (the upload route) -------------------------------


def _streamed(secrets: list[bytes], headers: dict[str, str], body: bytes, cut: int) -> object:
    hashed = signatures.StreamedBody(secrets, headers, lambda: [body])
    for start in range(0, len(body), max(1, cut)):
        hashed.update(body[start : start + max(1, cut)])
    return hashed


@settings(max_examples=40, deadline=None)
@given(
    body=st.binary(max_size=300),
    cut=st.integers(1, 64),
    tamper=st.booleans(),
    scheme=st.sampled_from(["standard", "plan"]),
    malformed=st.booleans(),
)
def test_a_streamed_body_verifies_exactly_as_the_bytes_do(
    body: bytes, cut: int, tamper: bool, scheme: str, malformed: bool
) -> None:
    secret = b"s" * 32
    secrets = [b"", b"old-secret", secret]
    now = 1_700_000_000
    if scheme == "standard":
        sig = signatures.sign_standard(secret, "msg_1", now, body)
        headers = {"webhook-id": "msg_1", "webhook-timestamp": str(now), "webhook-signature": sig}
        if malformed:  # padded values: the verifier strips them, the stream must agree
            headers["webhook-id"] = " msg_1 "
    else:
        stamp = datetime.fromtimestamp(now, UTC).isoformat().replace("+00:00", "Z")
        headers = signatures.sign_plan(secret, stamp, body)
        if malformed:
            headers["X-Signature-Timestamp"] = f" {stamp}"
    arrived = body + b"x" if tamper else body
    verify = signatures.verify_standard if scheme == "standard" else signatures.verify_plan

    def outcome(given_body: object) -> str:
        try:
            verify(secrets, headers, given_body, now=now)  # type: ignore[arg-type]
        except SignatureError as exc:
            return exc.code
        return "ok"

    expected = outcome(arrived)
    assert outcome(_streamed(secrets, headers, arrived, cut)) == expected
    assert (expected == "ok") is not tamper
