"""Tests for hashed, scoped server-to-server API keys."""

from __future__ import annotations

import hashlib
import re
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from equity_connect.security.apikeys import (
    NewApiKey,
    Scope,
    check_api_key,
    generate_api_key,
    has_scope,
    hash_api_key,
    parse_api_key,
)

TOKEN_CHARS = string.ascii_letters + string.digits + "_-"


def test_shape_of_a_new_key() -> None:
    key = generate_api_key()
    assert re.fullmatch(r"[0-9a-f]{12}", key.key_id)
    assert re.fullmatch(rf"ec_{key.key_id}_[A-Za-z0-9_-]{{43}}", key.secret)
    assert key.secret_hash == hashlib.sha256(key.secret.encode()).digest()
    assert len(key.secret_hash) == 32


def test_custom_prefix() -> None:
    key = generate_api_key("ops")
    assert key.secret.startswith(f"ops_{key.key_id}_")
    assert parse_api_key(key.secret) == (key.key_id, key.secret_hash)


@pytest.mark.parametrize("prefix", ["", "EC", "e_c", "1ec", "x" * 17, "é"])
def test_bad_prefix(prefix: str) -> None:
    with pytest.raises(ValueError, match="prefix"):
        generate_api_key(prefix)


def test_keys_are_unique() -> None:
    keys = [generate_api_key() for _ in range(200)]
    assert len({k.key_id for k in keys}) == 200
    assert len({k.secret for k in keys}) == 200


def test_repr_hides_the_secret() -> None:
    key = generate_api_key()
    assert key.secret not in repr(key)
    assert key.secret_hash.hex() not in repr(key)
    assert key.key_id in repr(key)


def test_round_trip_and_check() -> None:
    key = generate_api_key()
    parsed = parse_api_key(key.secret)
    assert parsed is not None
    key_id, token_hash = parsed
    assert key_id == key.key_id
    assert check_api_key(token_hash, key.secret_hash)
    assert not check_api_key(token_hash, generate_api_key().secret_hash)
    assert not check_api_key(token_hash, b"")


@pytest.mark.parametrize(
    "token",
    [
        "",
        "ec",
        "ec_",
        "ec__",
        "ec_0123456789ab_",
        "ec_0123456789ab_" + "A" * 42,
        "ec_0123456789ab_" + "A" * 44,
        "ec_0123456789AB_" + "A" * 43,  # key id is lower-case hex
        "ec_0123456789a_" + "A" * 43,
        "EC_0123456789ab_" + "A" * 43,
        "ec-0123456789ab-" + "A" * 43,
        "ec_0123456789ab_" + "A" * 42 + "=",
        "ec_0123456789ab_" + "A" * 42 + "B",  # non-canonical last character
        "ec_0123456789ab_" + "A" * 43 + "\n",
        " ec_0123456789ab_" + "A" * 43,
        "Bearer ec_0123456789ab_" + "A" * 43,
        "ec_0123456789ab_" + "A" * 42 + "é",
    ],
)
def test_malformed_tokens(token: str) -> None:
    assert parse_api_key(token) is None


def test_canonical_token_of_that_shape_parses() -> None:
    token = "ec_0123456789ab_" + "A" * 43
    assert parse_api_key(token) == ("0123456789ab", hash_api_key(token))


@given(st.text())
def test_arbitrary_strings_never_crash(token: str) -> None:
    result = parse_api_key(token)
    assert result is None or (len(result[0]) == 12 and len(result[1]) == 32)


@given(st.text(alphabet=TOKEN_CHARS, min_size=55, max_size=62))
def test_token_like_strings_never_crash(token: str) -> None:
    result = parse_api_key(token)
    assert result is None or result[1] == hash_api_key(token)


@given(st.data())
def test_any_single_character_change_fails(data: st.DataObject) -> None:
    key = generate_api_key()
    i = data.draw(st.integers(0, len(key.secret) - 1))
    new = data.draw(st.characters().filter(lambda c: c != key.secret[i]))
    changed = key.secret[:i] + new + key.secret[i + 1 :]
    parsed = parse_api_key(changed)
    if parsed is not None:
        assert not check_api_key(parsed[1], key.secret_hash)


@given(st.data())
def test_insertions_and_deletions_fail(data: st.DataObject) -> None:
    key = generate_api_key()
    i = data.draw(st.integers(0, len(key.secret)))
    if data.draw(st.booleans()) and i < len(key.secret):
        changed = key.secret[:i] + key.secret[i + 1 :]
    else:
        changed = key.secret[:i] + data.draw(st.sampled_from(TOKEN_CHARS)) + key.secret[i:]
    parsed = parse_api_key(changed)
    if parsed is not None:
        assert not check_api_key(parsed[1], key.secret_hash)


@given(st.sampled_from(["ec", "ops", "x1"]))
def test_generated_keys_always_parse(prefix: str) -> None:
    key = generate_api_key(prefix)
    assert isinstance(key, NewApiKey)
    assert parse_api_key(key.secret) == (key.key_id, key.secret_hash)


# -- scopes -------------------------------------------------------------------


def test_scope_values() -> None:
    assert [s.value for s in Scope] == [
        "uploads:write",
        "leads:read",
        "leads:write",
        "dlq:replay",
        "exports:read",
        "events:manage",
        "admin",
    ]


def test_has_scope() -> None:
    assert has_scope(["leads:read"], Scope.LEADS_READ)
    assert not has_scope(["leads:read"], Scope.LEADS_WRITE)
    assert not has_scope([], Scope.LEADS_READ)
    assert has_scope([Scope.DLQ_REPLAY], Scope.DLQ_REPLAY)
    assert not has_scope(["LEADS:READ", "leads:read "], Scope.LEADS_READ)
    assert has_scope(iter(["gone:scope", "exports:read"]), Scope.EXPORTS_READ)


@pytest.mark.parametrize("needed", list(Scope))
def test_admin_grants_everything(needed: Scope) -> None:
    assert has_scope(["admin"], needed)
    assert has_scope(("uploads:write", "admin"), needed)


def test_bare_string_is_refused() -> None:
    with pytest.raises(TypeError):
        has_scope("admin", Scope.LEADS_READ)
