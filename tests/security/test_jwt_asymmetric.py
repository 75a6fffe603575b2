"""ES256/RS256 tokens verified with keys from a Supabase JWK Set; the key picks the algorithm.

Keys are generated per run and tokens are signed by the fixture with
``cryptography`` directly (tests/fixtures/providers/supabase/jwks.py).
"""

from __future__ import annotations

import contextlib
import json
import uuid
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

from equity_connect.security.jwks import StaticKeys, parse_jwks
from equity_connect.security.jwt import JwtError, issue_jwt, verify_jwt
from tests.fixtures.providers.supabase.jwks import (
    SigningKey,
    access_token_claims,
    b64url,
    hs256_token,
)

SECRET = b"super-secret-jwt-token-with-at-least-32-characters-long"
ISSUER = "https://abcdefghijklmnopqrst.supabase.co/auth/v1"
BROKER = uuid.UUID("6f1c2a9e-3b7d-4f0a-9c51-2d8e7b4a1f03")
EC_KEY = SigningKey.es256()
RSA_KEY = SigningKey.rs256()


def key_set(*keys: SigningKey) -> StaticKeys:
    parsed, skipped = parse_jwks(json.dumps({"keys": [k.public_jwk() for k in keys]}))
    assert skipped == []
    return StaticKeys(parsed)


KEYS = key_set(EC_KEY, RSA_KEY)


def claims(**overrides: Any) -> dict[str, Any]:
    return access_token_claims(ISSUER, BROKER, **overrides)


def code_of(token: str, **kwargs: Any) -> str:
    kwargs.setdefault("keys", KEYS)
    with pytest.raises(JwtError) as info:
        verify_jwt(token, **kwargs)
    return info.value.code


# -- accepted ---------------------------------------------------------------


@pytest.mark.parametrize("key", [EC_KEY, RSA_KEY], ids=["ES256", "RS256"])
def test_supabase_asymmetric_token_is_accepted(key: SigningKey) -> None:
    verified = verify_jwt(key.token(claims()), keys=KEYS, issuer=ISSUER)
    assert verified.sub == BROKER
    assert verified.role == "authenticated"
    assert verified.raw["session_id"]


def test_legacy_secret_and_key_set_side_by_side() -> None:
    # During migration both kinds of token are in circulation.
    legacy = issue_jwt(secret=SECRET, sub=BROKER, issuer=ISSUER)
    current = EC_KEY.token(claims())
    for token in (legacy, current):
        assert verify_jwt(token, secret=SECRET, keys=KEYS, issuer=ISSUER).sub == BROKER


# -- the key decides the algorithm --------------------------------------------


def test_header_naming_another_algorithm_than_its_key_is_refused() -> None:
    # A valid RS256 signature, but the kid names the EC key: refused before any check.
    forged = RSA_KEY.token(claims(), kid=EC_KEY.kid)
    assert code_of(forged) == "bad_algorithm"
    forged = EC_KEY.token(claims(), kid=RSA_KEY.kid)
    assert code_of(forged) == "bad_algorithm"
    # A header claiming RS256 over the EC key's own signature.
    assert code_of(EC_KEY.token(claims(), alg="RS256")) == "bad_algorithm"


def _public_key_spellings(key: SigningKey) -> list[bytes]:
    public = key.private.public_key()
    return [
        public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        public.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        json.dumps(key.public_jwk()).encode(),
        json.dumps({"keys": [key.public_jwk()]}).encode(),
    ]


@pytest.mark.parametrize("key", [RSA_KEY, EC_KEY], ids=["RSA", "EC"])
def test_hs256_signed_with_the_public_key_never_verifies(key: SigningKey) -> None:
    # The classic key-confusion forgery: HMAC over the token with the public
    # key (which anyone can fetch) as the secret, kid pointing at that key.
    for secret in _public_key_spellings(key):
        forged = hs256_token({"alg": "HS256", "kid": key.kid, "typ": "JWT"}, claims(), secret)
        assert code_of(forged) == "bad_algorithm"  # no secret configured: HS256 not accepted
        assert code_of(forged, secret=SECRET) == "bad_signature"  # only our secret verifies


@pytest.mark.parametrize("alg", ["ES384", "ES512", "RS384", "RS512", "PS256", "EdDSA", "HS512"])
def test_algorithms_we_do_not_accept(alg: str) -> None:
    assert code_of(EC_KEY.token(claims(), alg=alg)) == "bad_algorithm"


def test_alg_none_with_a_kid() -> None:
    head = b64url(json.dumps({"alg": "none", "kid": EC_KEY.kid}).encode())
    assert code_of(f"{head}.{b64url(json.dumps(claims()).encode())}.") == "bad_algorithm"


def test_asymmetric_token_needs_a_key_set() -> None:
    assert code_of(EC_KEY.token(claims()), keys=None, secret=SECRET) == "bad_algorithm"


def test_kid_is_required_and_must_be_known() -> None:
    assert code_of(EC_KEY.token(claims(), kid=None)) == "unknown_key"
    assert code_of(EC_KEY.token(claims(), kid="")) == "unknown_key"
    assert code_of(EC_KEY.token(claims(), kid=str(uuid.uuid4()))) == "unknown_key"
    assert code_of(EC_KEY.token(claims(), kid=7)) == "malformed"


def test_key_that_is_not_in_the_set_any_more() -> None:
    # Revoked: the key left the set; its tokens no longer verify.
    token = RSA_KEY.token(claims())
    assert code_of(token, keys=key_set(EC_KEY)) == "unknown_key"


# -- signatures -----------------------------------------------------------------


def test_other_key_with_the_same_kid() -> None:
    impostor = SigningKey.es256(EC_KEY.kid)
    assert code_of(impostor.token(claims())) == "bad_signature"


def test_tampered_payload() -> None:
    head, _, sig = EC_KEY.token(claims()).split(".")
    evil = b64url(json.dumps(claims(role="service_role")).encode())
    assert code_of(f"{head}.{evil}.{sig}", roles=("service_role",)) == "bad_signature"


def test_der_encoded_ecdsa_signature_refused() -> None:
    # JWS wants raw r||s (RFC 7518 §3.4); a DER signature is a different spelling.
    token = EC_KEY.token(claims())
    head, body, _ = token.split(".")
    assert isinstance(EC_KEY.private, ec.EllipticCurvePrivateKey)
    der = EC_KEY.private.sign(f"{head}.{body}".encode(), ec.ECDSA(hashes.SHA256()))
    assert code_of(f"{head}.{body}.{b64url(der)}") == "bad_signature"


def test_every_single_character_change_is_refused() -> None:
    token = EC_KEY.token(claims())
    for i, old in enumerate(token):
        new = "A" if old != "A" else "B"
        with pytest.raises(JwtError):
            verify_jwt(token[:i] + new + token[i + 1 :], keys=KEYS)


# -- every claim check applies to asymmetric tokens too ---------------------------


@pytest.mark.parametrize(
    ("overrides", "header", "code"),
    [
        ({"exp": None}, {}, "malformed"),
        ({"exp": 1}, {}, "expired"),
        ({"aud": None}, {}, "bad_audience"),
        ({"aud": "anon"}, {}, "bad_audience"),
        ({"sub": "broker-42"}, {}, "missing_sub"),
        ({"sub": None}, {}, "missing_sub"),
        ({"role": "service_role"}, {}, "bad_role"),
        ({"nbf": 9_999_999_999}, {}, "not_yet_valid"),
        ({}, {"crit": ["exp"]}, "bad_algorithm"),
        ({}, {"jku": "https://attacker.example/jwks.json"}, "bad_algorithm"),
        ({}, {"jwk": RSA_KEY.public_jwk()}, "bad_algorithm"),
        ({}, {"x5u": "https://attacker.example/cert"}, "bad_algorithm"),
        ({}, {"b64": False}, "bad_algorithm"),
        ({}, {"typ": "at+jwt"}, "malformed"),
    ],
)
def test_claim_and_header_refusals(
    overrides: dict[str, Any], header: dict[str, Any], code: str
) -> None:
    assert code_of(EC_KEY.token(claims(**overrides), **header)) == code


def test_issuer_is_checked_when_configured() -> None:
    assert code_of(
        EC_KEY.token(claims(iss="https://other.supabase.co/auth/v1")), issuer=ISSUER
    ) == ("bad_issuer")
    assert code_of(EC_KEY.token(claims(iss=None)), issuer=ISSUER) == "bad_issuer"
    assert code_of(EC_KEY.token(claims(iss=[ISSUER])), issuer=ISSUER) == "bad_issuer"
    # Unchecked when no issuer is configured.
    assert verify_jwt(EC_KEY.token(claims(iss="x")), keys=KEYS).sub == BROKER
    # A locally minted HS256 token carries the configured issuer.
    assert code_of(issue_jwt(secret=SECRET, sub=BROKER), secret=SECRET, issuer=ISSUER) == (
        "bad_issuer"
    )


def test_needs_a_secret_or_a_key_set() -> None:
    with pytest.raises(ValueError, match="secret"):
        verify_jwt(EC_KEY.token(claims()))


@settings(max_examples=200)
@given(
    header=st.dictionaries(
        st.sampled_from(["alg", "kid", "typ", "crit", "jwk"]),
        st.one_of(
            st.none(),
            st.integers(),
            st.sampled_from(["HS256", "ES256", "RS256", "none", EC_KEY.kid, RSA_KEY.kid]),
            st.text(max_size=8),
        ),
    )
)
def test_any_header_over_a_real_signature_never_crashes(header: dict[str, Any]) -> None:
    with contextlib.suppress(JwtError):
        verify_jwt(EC_KEY.token(claims(), **header), secret=SECRET, keys=KEYS)


def test_error_does_not_leak_key_or_claims() -> None:
    token = RSA_KEY.token(claims(), kid=EC_KEY.kid)
    with pytest.raises(JwtError) as info:
        verify_jwt(token, keys=KEYS)
    text = str(info.value)
    assert str(BROKER) not in text
    assert EC_KEY.public_jwk()["x"] not in text
    assert token not in text
