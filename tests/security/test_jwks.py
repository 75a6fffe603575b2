"""Reading a Supabase JWK Set: each key pinned to the one algorithm its type allows."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from equity_connect.security.jwks import JwkError, JwksDocumentError, parse_jwk, parse_jwks
from tests.fixtures.providers.supabase.jwks import SigningKey, b64url

EC = SigningKey.es256("ec-key")
RSA = SigningKey.rs256("rsa-key")


def doc(*keys: Any) -> str:
    return json.dumps({"keys": list(keys)})


def test_supabase_shaped_keys_are_pinned_by_type() -> None:
    keys, skipped = parse_jwks(doc(EC.public_jwk(), RSA.public_jwk()))
    assert skipped == []
    assert {kid: k.algorithm for kid, k in keys.items()} == {"ec-key": "ES256", "rsa-key": "RS256"}
    # The binding is PyJWT's too: its key object will only verify that algorithm.
    assert keys["ec-key"].jwk.algorithm_name == "ES256"
    assert keys["rsa-key"].jwk.algorithm_name == "RS256"


def test_alg_member_is_optional() -> None:
    bare = {k: v for k, v in EC.public_jwk().items() if k not in {"alg", "use", "key_ops"}}
    assert parse_jwk(bare).algorithm == "ES256"


def test_an_empty_set_is_valid() -> None:
    # A project still on the legacy secret publishes no keys (HMAC keys are never listed).
    assert parse_jwks('{"keys": []}') == ({}, [])


def _with(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    out = {**base, **changes}
    return {k: v for k, v in out.items() if v is not None}


@pytest.mark.parametrize(
    ("jwk", "reason"),
    [
        (_with(EC.public_jwk(), alg="RS256"), "declares alg"),
        (_with(EC.public_jwk(), alg="HS256"), "declares alg"),
        (_with(EC.public_jwk(), alg="none"), "declares alg"),
        (_with(RSA.public_jwk(), alg="ES256"), "declares alg"),
        (_with(RSA.public_jwk(), alg="RS512"), "declares alg"),
        (_with(RSA.public_jwk(), alg="PS256"), "declares alg"),
        (_with(EC.public_jwk(), crv="P-384"), "P-256"),
        (_with(EC.public_jwk(), use="enc"), "use"),
        (_with(EC.public_jwk(), key_ops=["sign"]), "key_ops"),
        (_with(EC.public_jwk(), key_ops="verify"), "key_ops"),
        (_with(EC.public_jwk(), kid=None), "kid"),
        (_with(EC.public_jwk(), kid=""), "kid"),
        (_with(EC.public_jwk(), kid=7), "kid"),
        (_with(EC.public_jwk(), d=b64url(b"\x01" * 32)), "private"),
        ({"kty": "oct", "kid": "h", "k": b64url(b"s" * 32), "alg": "HS256"}, "symmetric"),
        ({"kty": "OKP", "kid": "ed", "crv": "Ed25519", "x": b64url(b"\x00" * 32)}, "kty"),
        (_with(EC.public_jwk(), x=b64url(b"\x00" * 32)), "does not parse"),
        (_with(RSA.public_jwk(), n="!!"), "does not parse"),
        ("not a key", "JSON object"),
    ],
)
def test_unusable_keys_are_refused(jwk: Any, reason: str) -> None:
    with pytest.raises(JwkError, match=reason):
        parse_jwk(jwk)


def test_short_rsa_key_refused() -> None:
    with pytest.raises(JwkError, match="2048"):
        parse_jwk(SigningKey.rs256("small", bits=1024).public_jwk())


def test_bad_key_is_skipped_and_the_rest_kept() -> None:
    keys, skipped = parse_jwks(doc({"kty": "oct", "kid": "h", "k": "c2VjcmV0"}, RSA.public_jwk()))
    assert list(keys) == ["rsa-key"]
    assert len(skipped) == 1 and "symmetric" in skipped[0]


def test_duplicate_kid_drops_every_copy() -> None:
    other = SigningKey.es256("ec-key")
    keys, skipped = parse_jwks(doc(EC.public_jwk(), other.public_jwk(), RSA.public_jwk()))
    assert list(keys) == ["rsa-key"]
    assert any("more than once" in s for s in skipped)


@pytest.mark.parametrize("body", ["", "[]", '{"keys": {}}', "{}", "nope", '{"keys": null}'])
def test_not_a_key_set(body: str) -> None:
    with pytest.raises(JwksDocumentError):
        parse_jwks(body)


@given(
    st.lists(
        st.dictionaries(
            st.sampled_from(["kty", "kid", "crv", "x", "y", "n", "e", "alg"]),
            st.one_of(st.none(), st.integers(), st.text(max_size=12)),
        )
    )
)
def test_arbitrary_keys_never_crash(keys: list[dict[str, Any]]) -> None:
    parsed, skipped = parse_jwks(json.dumps({"keys": keys}))
    assert len(parsed) + len(skipped) <= len(keys)
