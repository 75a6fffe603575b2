"""Tests for Supabase-compatible HS256 JWTs (reliability-checklist.md §2)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from equity_connect.security.jwt import Claims, JwtError, issue_jwt, verify_jwt

SECRET = b"super-secret-jwt-token-with-at-least-32-characters-long"
OTHER_SECRET = b"another-secret-jwt-token-with-at-least-32-characters"
NOW = 1_750_000_000.0
BROKER = uuid.UUID("6f1c2a9e-3b7d-4f0a-9c51-2d8e7b4a1f03")


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def enc(obj: Any) -> str:
    return b64(json.dumps(obj, separators=(",", ":")).encode())


def forge(
    header: Any,
    claims: Any,
    *,
    secret: bytes = SECRET,
    digest: str = "sha256",
    raw_payload: str | None = None,
) -> str:
    """Build a token by hand, so tests do not trust the code under test."""
    head = enc(header)
    body = enc(claims) if raw_payload is None else raw_payload
    sig = hmac.new(secret, f"{head}.{body}".encode(), digest).digest()
    return f"{head}.{body}.{b64(sig)}"


def supabase_claims(**overrides: Any) -> dict[str, Any]:
    """Claims as Supabase Auth issues them for a signed-in user."""
    claims: dict[str, Any] = {
        "aud": "authenticated",
        "exp": int(NOW) + 3600,
        "iat": int(NOW),
        "sub": str(BROKER),
        "email": "broker@example.com",
        "role": "authenticated",
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


HS256 = {"alg": "HS256", "typ": "JWT"}


def code_of(token: str, **kwargs: Any) -> str:
    with pytest.raises(JwtError) as info:
        verify_jwt(token, secret=SECRET, now=NOW, **kwargs)
    return info.value.code


# -- accepted ---------------------------------------------------------------


def test_issued_token_round_trips() -> None:
    token = issue_jwt(secret=SECRET, sub=BROKER, now=NOW, extra={"email": "b@example.com"})
    claims = verify_jwt(token, secret=SECRET, now=NOW + 10)
    assert (claims.sub, claims.role, claims.exp, claims.aud) == (
        BROKER,
        "authenticated",
        int(NOW) + 3600,
        "authenticated",
    )
    assert isinstance(claims, Claims)
    assert hash(claims) == hash(verify_jwt(token, secret=SECRET, now=NOW))
    assert claims.raw["email"] == "b@example.com"
    assert claims.raw["iat"] == int(NOW)
    with pytest.raises(TypeError):
        claims.raw["role"] = "service_role"  # type: ignore[index]
    with pytest.raises(AttributeError):
        claims.role = "service_role"  # type: ignore[misc]
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header == HS256


def test_supabase_shaped_token_is_accepted() -> None:
    token = forge(HS256, supabase_claims())
    claims = verify_jwt(token, secret=SECRET, now=NOW)
    assert claims.sub == BROKER
    assert claims.role == "authenticated"
    assert claims.aud == "authenticated"
    assert claims.raw["email"] == "broker@example.com"


def test_kid_header_is_ignored() -> None:
    # Newer Supabase projects add a kid to HS256 tokens.
    token = forge({"alg": "HS256", "kid": "abc123", "typ": "JWT"}, supabase_claims())
    assert verify_jwt(token, secret=SECRET, now=NOW).sub == BROKER


def test_audience_list_containing_ours_is_accepted() -> None:
    token = forge(HS256, supabase_claims(aud=["other", "authenticated"]))
    assert verify_jwt(token, secret=SECRET, now=NOW).aud == ("other", "authenticated")


def test_service_role_accepted_when_asked_for() -> None:
    token = issue_jwt(secret=SECRET, sub=BROKER, role="service_role", now=NOW)
    assert code_of(token) == "bad_role"
    claims = verify_jwt(token, secret=SECRET, now=NOW, roles=("service_role",))
    assert claims.role == "service_role"


def test_leeway_on_expiry() -> None:
    token = forge(HS256, supabase_claims(exp=int(NOW) - 10))
    assert verify_jwt(token, secret=SECRET, now=NOW, leeway=30).sub == BROKER
    assert code_of(token, leeway=0) == "expired"


# -- refused ----------------------------------------------------------------


def test_expired() -> None:
    token = issue_jwt(secret=SECRET, sub=BROKER, now=NOW, ttl_seconds=60)
    assert verify_jwt(token, secret=SECRET, now=NOW + 60 + 29).sub == BROKER  # within leeway
    with pytest.raises(JwtError) as info:
        verify_jwt(token, secret=SECRET, now=NOW + 60 + 30)
    assert info.value.code == "expired"


def test_exp_required() -> None:
    assert code_of(forge(HS256, supabase_claims(exp=None))) == "malformed"


@pytest.mark.parametrize("exp", ["9999999999", True, None, [1]])
def test_exp_must_be_a_number(exp: Any) -> None:
    claims = supabase_claims()
    claims["exp"] = exp
    assert code_of(forge(HS256, claims)) == "malformed"


def test_wrong_secret() -> None:
    token = issue_jwt(secret=OTHER_SECRET, sub=BROKER, now=NOW)
    assert code_of(token) == "bad_signature"


def test_alg_none() -> None:
    token = f"{enc({'alg': 'none', 'typ': 'JWT'})}.{enc(supabase_claims())}."
    assert code_of(token) == "bad_algorithm"
    # Even with a "signature" attached.
    assert code_of(forge({"alg": "none"}, supabase_claims())) == "bad_algorithm"


@pytest.mark.parametrize(("alg", "digest"), [("HS512", "sha512"), ("HS384", "sha384")])
def test_other_hmac_algorithms_with_our_secret(alg: str, digest: str) -> None:
    token = forge({"alg": alg, "typ": "JWT"}, supabase_claims(), digest=digest)
    assert code_of(token) == "bad_algorithm"


@pytest.mark.parametrize(
    "header",
    [
        {"alg": "RS256", "typ": "JWT"},
        {"alg": "ES256"},
        {"alg": "hs256"},
        {"alg": "Hs256"},
        {"alg": "HS256 "},
        {"alg": ["HS256"]},
        {"alg": None},
        {"typ": "JWT"},
    ],
)
def test_bad_alg_header(header: dict[str, Any]) -> None:
    assert code_of(forge(header, supabase_claims())) == "bad_algorithm"


@pytest.mark.parametrize("param", ["crit", "jku", "jwk", "x5u", "x5c", "cty", "b64", "zip"])
def test_key_locating_and_extension_headers_refused(param: str) -> None:
    header = {**HS256, param: ["exp"] if param == "crit" else "https://attacker.example/k"}
    assert code_of(forge(header, supabase_claims())) == "bad_algorithm"


def test_wrong_typ() -> None:
    assert code_of(forge({"alg": "HS256", "typ": "at+jwt"}, supabase_claims())) == "malformed"


def test_missing_sub() -> None:
    assert code_of(forge(HS256, supabase_claims(sub=None))) == "missing_sub"


@pytest.mark.parametrize(
    "sub",
    [
        "broker-42",
        "",
        "{6f1c2a9e-3b7d-4f0a-9c51-2d8e7b4a1f03}",
        "6f1c2a9e3b7d4f0a9c512d8e7b4a1f03",
        "urn:uuid:6f1c2a9e-3b7d-4f0a-9c51-2d8e7b4a1f03",
        "00000000-0000-0000-0000-000000000000",
        42,
    ],
)
def test_sub_must_be_a_uuid(sub: Any) -> None:
    assert code_of(forge(HS256, supabase_claims(sub=sub))) == "missing_sub"


@pytest.mark.parametrize("role", ["anon", "service_role", "Authenticated", None, ["authenticated"]])
def test_wrong_role(role: Any) -> None:
    claims = supabase_claims()
    claims["role"] = role
    assert code_of(forge(HS256, claims)) == "bad_role"


@pytest.mark.parametrize("aud", ["anon", ["anon", "other"], [], None, 7, ["authenticated", 1]])
def test_wrong_audience(aud: Any) -> None:
    claims = supabase_claims()
    claims["aud"] = aud
    assert code_of(forge(HS256, claims)) == "bad_audience"


def test_audience_parameter() -> None:
    token = issue_jwt(secret=SECRET, sub=BROKER, audience="ops", now=NOW)
    assert code_of(token) == "bad_audience"
    assert verify_jwt(token, secret=SECRET, now=NOW, audience="ops").aud == "ops"


@pytest.mark.parametrize("claim", ["nbf", "iat"])
def test_future_nbf_and_iat(claim: str) -> None:
    token = forge(HS256, supabase_claims(**{claim: int(NOW) + 120}))
    assert code_of(token) == "not_yet_valid"
    within = forge(HS256, supabase_claims(**{claim: int(NOW) + 20}))
    assert verify_jwt(within, secret=SECRET, now=NOW).sub == BROKER


def test_tampered_payload() -> None:
    token = issue_jwt(secret=SECRET, sub=BROKER, now=NOW)
    head, _, sig = token.split(".")
    evil = enc(supabase_claims(role="service_role"))
    assert code_of(f"{head}.{evil}.{sig}", roles=("service_role",)) == "bad_signature"


def test_every_single_character_change_is_refused() -> None:
    token = issue_jwt(secret=SECRET, sub=BROKER, now=NOW)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."
    for i, old in enumerate(token):
        for new in ("A", "B", "-", "."):
            if new == old:
                continue
            changed = token[:i] + new + token[i + 1 :]
            with pytest.raises(JwtError):
                verify_jwt(changed, secret=SECRET, now=NOW)
    assert set(token) <= set(alphabet)


def test_non_canonical_signature_encoding_refused() -> None:
    token = issue_jwt(secret=SECRET, sub=BROKER, now=NOW)
    # 32 bytes -> 43 chars; the last char carries 2 unused bits.
    last = token[-1]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    twin = alphabet[alphabet.index(last) ^ 1]
    assert code_of(token[:-1] + twin) == "malformed"


def test_duplicate_claims_refused() -> None:
    body = b64(
        b'{"role":"authenticated","aud":"authenticated","exp":9999999999,"sub":"x","sub":"y"}'
    )
    assert code_of(forge(HS256, None, raw_payload=body)) == "malformed"


def test_signed_garbage_payload_is_malformed() -> None:
    assert code_of(forge(HS256, None, raw_payload=b64(b"not json"))) == "malformed"
    assert code_of(forge(HS256, None, raw_payload=b64(b"[1,2]"))) == "malformed"
    assert code_of(forge(HS256, None, raw_payload=b64(b'{"exp":NaN}'))) == "malformed"


@pytest.mark.parametrize(
    "token",
    [
        "",
        "a.b",
        "a.b.c.d",
        "....",
        "eyJ.eyJ.sig",
        f"{enc(HS256)}=.{enc({})}.abc",
        f"{b64(b'[' * 5000)}.e30.abc",
        "x" * 20_000,
        "é.é.é",
    ],
)
def test_malformed(token: str) -> None:
    assert code_of(token) == "malformed"


@pytest.mark.parametrize("token", ["e30.e30.", "e30.e30.abc"])
def test_header_without_alg(token: str) -> None:
    assert code_of(token) == "bad_algorithm"


def test_header_not_json_object() -> None:
    assert code_of(f"{b64(b'null')}.e30.abc") == "malformed"
    not_utf8 = b64(bytes([0xFF, 0xFE]))
    assert code_of(f"{not_utf8}.e30.abc") == "malformed"


@given(st.text())
def test_arbitrary_strings_never_crash(token: str) -> None:
    with pytest.raises(JwtError):
        verify_jwt(token, secret=SECRET, now=NOW)


@given(st.lists(st.text(alphabet="ABCabc012-_=+/. ", max_size=40), min_size=1, max_size=5))
def test_token_shaped_strings_never_crash(parts: list[str]) -> None:
    with pytest.raises(JwtError):
        verify_jwt(".".join(parts), secret=SECRET, now=NOW)


@given(
    header=st.dictionaries(
        st.sampled_from(["alg", "typ", "kid", "crit"]),
        st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=8)),
    ),
    claims=st.dictionaries(
        st.sampled_from(["aud", "exp", "iat", "nbf", "sub", "role"]),
        st.one_of(
            st.none(),
            st.booleans(),
            st.integers(),
            st.floats(),
            st.text(max_size=8),
            st.lists(st.text(max_size=4)),
        ),
    ),
)
def test_signed_arbitrary_json_never_crashes(
    header: dict[str, Any], claims: dict[str, Any]
) -> None:
    # Correctly signed, so every claim check is reached; NaN/inf floats are
    # serialised as the non-standard constants and must come back malformed.
    code = None
    try:
        verify_jwt(forge(header, claims), secret=SECRET, now=NOW)
    except JwtError as exc:
        code = exc.code
    assert code in {
        None,
        "malformed",
        "bad_algorithm",
        "expired",
        "not_yet_valid",
        "bad_audience",
        "missing_sub",
        "bad_role",
    }


# -- arguments --------------------------------------------------------------


def test_short_secret_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        verify_jwt("a.b.c", secret=b"short")
    with pytest.raises(ValueError, match="32 bytes"):
        issue_jwt(secret=b"short", sub=BROKER)


def test_issue_refuses_overriding_reserved_claims() -> None:
    with pytest.raises(ValueError, match="role"):
        issue_jwt(secret=SECRET, sub=BROKER, extra={"role": "service_role"})
    with pytest.raises(ValueError, match="ttl"):
        issue_jwt(secret=SECRET, sub=BROKER, ttl_seconds=0)


def test_roles_must_not_be_a_bare_string() -> None:
    token = issue_jwt(secret=SECRET, sub=BROKER, now=NOW)
    with pytest.raises(TypeError):
        verify_jwt(token, secret=SECRET, now=NOW, roles="authenticated")


def test_error_does_not_leak_token_or_secret() -> None:
    token = issue_jwt(secret=OTHER_SECRET, sub=BROKER, now=NOW)
    with pytest.raises(JwtError) as info:
        verify_jwt(token, secret=SECRET, now=NOW)
    text = str(info.value)
    assert token not in text
    assert SECRET.decode() not in text
    assert str(BROKER) not in text


def test_signature_uses_sha256() -> None:
    token = issue_jwt(secret=SECRET, sub=BROKER, now=NOW)
    head, body, sig = token.split(".")
    expected = hmac.new(SECRET, f"{head}.{body}".encode(), hashlib.sha256).digest()
    assert sig == b64(expected)
