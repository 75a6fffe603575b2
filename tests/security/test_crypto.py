"""PII encryption core: envelope AES-256-GCM and HMAC blind indexes."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from equity_connect.security.crypto import (
    DecryptionError,
    KeyConfigError,
    Keyring,
    PiiCipher,
    aad_for,
    generate_key,
)


def test_round_trip(cipher: PiiCipher) -> None:
    aad = aad_for("leads", "email", uuid.uuid4())
    assert cipher.decrypt(cipher.encrypt("owner@example.com", aad), aad) == "owner@example.com"


@given(st.text(max_size=300))
def test_round_trip_any_text(keyring: Keyring, text: str) -> None:
    cipher = PiiCipher(keyring, data_key_uses=3)
    aad = aad_for("leads", "phone", "row")
    assert cipher.decrypt(cipher.encrypt(text, aad), aad) == text


def test_same_plaintext_twice_gives_different_ciphertexts_same_index(cipher: PiiCipher) -> None:
    aad = aad_for("leads", "email", "same-row")
    one, two = cipher.encrypt("a@b.com", aad), cipher.encrypt("a@b.com", aad)
    assert one != two
    assert cipher.blind_index("email", "a@b.com") == cipher.blind_index("email", "a@b.com")


def test_ciphertext_swapped_between_rows_fails(cipher: PiiCipher) -> None:
    row_a, row_b = uuid.uuid4(), uuid.uuid4()
    ct_a = cipher.encrypt("a@example.com", aad_for("leads", "email", row_a))
    ct_b = cipher.encrypt("b@example.com", aad_for("leads", "email", row_b))
    with pytest.raises(DecryptionError):
        cipher.decrypt(ct_a, aad_for("leads", "email", row_b))
    with pytest.raises(DecryptionError):
        cipher.decrypt(ct_b, aad_for("leads", "email", row_a))


def test_ciphertext_moved_to_another_column_fails(cipher: PiiCipher) -> None:
    row = uuid.uuid4()
    ct = cipher.encrypt("5555550123", aad_for("leads", "phone", row))
    with pytest.raises(DecryptionError):
        cipher.decrypt(ct, aad_for("leads", "email", row))


@pytest.mark.parametrize("position", [0, 5, 40, -20, -1])
def test_any_flipped_byte_fails_closed(cipher: PiiCipher, position: int) -> None:
    aad = aad_for("leads", "email", "r")
    blob = bytearray(cipher.encrypt("x@y.z", aad))
    blob[position] ^= 0x01
    with pytest.raises(DecryptionError):
        cipher.decrypt(bytes(blob), aad)


def test_truncated_ciphertext_fails(cipher: PiiCipher) -> None:
    aad = aad_for("leads", "email", "r")
    blob = cipher.encrypt("x@y.z", aad)
    for cut in (0, 1, 10, len(blob) - 1):
        with pytest.raises(DecryptionError):
            cipher.decrypt(blob[:cut], aad)


def test_data_keys_rotate_after_the_configured_number_of_uses(keyring: Keyring) -> None:
    cipher = PiiCipher(keyring, data_key_uses=2)
    aad = aad_for("t", "c", "r")
    blobs = [cipher.encrypt("v", aad) for _ in range(6)]
    headers = {b[: 2 + b[1] + 60] for b in blobs}  # format, kid length, kid, wrapped key
    assert len(headers) == 3


def test_key_rotation_rewrap_and_revocation() -> None:
    old_key, new_key, index_key = generate_key(), generate_key(), generate_key()
    old = PiiCipher(Keyring.from_values(f"old:{old_key}", index_key))
    aad = aad_for("leads", "email", "row-1")
    blob = old.encrypt("owner@example.com", aad)
    assert old.key_id_of(blob) == "old"

    # New key active, old still configured: old rows still decrypt.
    both = PiiCipher(Keyring.from_values(f"new:{new_key},old:{old_key}", index_key))
    assert both.decrypt(blob, aad) == "owner@example.com"
    rewrapped = both.rewrap(blob)
    assert both.key_id_of(rewrapped) == "new"
    assert both.rewrap(rewrapped) == rewrapped

    # Old key revoked: the re-wrapped value decrypts, the original fails closed.
    new_only = PiiCipher(Keyring.from_values(f"new:{new_key}", index_key))
    assert new_only.decrypt(rewrapped, aad) == "owner@example.com"
    with pytest.raises(DecryptionError, match="'old' is not configured"):
        new_only.decrypt(blob, aad)


def test_key_id_cannot_be_swapped_in_the_header() -> None:
    key_a, key_b, idx = generate_key(), generate_key(), generate_key()
    cipher = PiiCipher(Keyring.from_values(f"aa:{key_a},bb:{key_b}", idx))
    aad = aad_for("t", "c", "r")
    blob = cipher.encrypt("v", aad)
    forged = blob[:2] + b"bb" + blob[4:]
    with pytest.raises(DecryptionError):
        cipher.decrypt(forged, aad)


def test_blind_index_depends_on_key_and_channel(keyring: Keyring) -> None:
    cipher = PiiCipher(keyring)
    other = PiiCipher(Keyring.from_values(f"k1:{generate_key()}", generate_key()))
    assert cipher.blind_index("email", "a@b.com") != other.blind_index("email", "a@b.com")
    assert cipher.blind_index("email", "+15555550123") != cipher.blind_index(
        "phone", "+15555550123"
    )
    assert len(cipher.blind_index("phone", "+15555550123")) == 32


def test_hmac_index_resists_the_enumeration_that_breaks_plain_sha256(keyring: Keyring) -> None:
    # Checklist §3.6 at a size a test can afford: an attacker holding the
    # stored digests enumerates candidate numbers. Plain SHA-256 falls; the
    # keyed index, without its key, yields nothing.
    cipher = PiiCipher(keyring)
    targets = [f"+1555{n:07d}" for n in (123, 45_678, 99_999)]
    sha_digests = {hashlib.sha256(t.encode()).digest() for t in targets}
    hmac_digests = {cipher.blind_index("phone", t) for t in targets}
    recovered_sha, recovered_hmac = set(), set()
    for n in range(100_000):
        candidate = f"+1555{n:07d}"
        digest = hashlib.sha256(candidate.encode()).digest()
        if digest in sha_digests:
            recovered_sha.add(candidate)
        if digest in hmac_digests:
            recovered_hmac.add(candidate)
    assert recovered_sha == set(targets)
    assert recovered_hmac == set()


@pytest.mark.parametrize(
    ("enc", "idx", "message"),
    [
        ("", "x", "holds no key"),
        ("nokid", generate_key(), "kid:base64"),
        ("bad kid!:" + generate_key(), generate_key(), "kid:base64"),
        ("k1:not-base64!!", generate_key(), "not valid base64"),
        ("k1:c2hvcnQ=", generate_key(), "must be 32 bytes"),
        ("k1:{k},k1:{k}", generate_key(), "appears twice"),
        ("k1:{k}", "c2hvcnQ=", "at least 32 bytes"),
    ],
    # Ids name the case, not the random keys: parallel workers must collect the same tests.
    ids=["empty", "no-kid", "bad-kid", "not-base64", "short-key", "twice", "short-index"],
)
def test_bad_key_configuration_is_a_clear_error(enc: str, idx: str, message: str) -> None:
    key = generate_key()
    with pytest.raises(KeyConfigError, match=message) as err:
        Keyring.from_values(enc.format(k=key), idx)
    assert key not in str(err.value)


def test_index_key_must_differ_from_encryption_keys() -> None:
    key = generate_key()
    with pytest.raises(KeyConfigError, match="must differ"):
        Keyring.from_values(f"k1:{key}", key)


def test_missing_keys_name_the_variable() -> None:
    with pytest.raises(KeyConfigError, match="EC_ENCRYPTION_KEYS"):
        Keyring.from_sources(
            encryption_keys=None, encryption_keys_file=None, index_key="x", index_key_file=None
        )


def test_keys_from_files(tmp_path: Path) -> None:
    enc, idx = tmp_path / "enc", tmp_path / "idx"
    enc.write_text(f"k9:{generate_key()}\n")
    idx.write_text(generate_key() + "\n")
    ring = Keyring.from_sources(
        encryption_keys=None, encryption_keys_file=enc, index_key=None, index_key_file=idx
    )
    assert ring.active_kid == "k9"
    with pytest.raises(KeyConfigError, match="cannot be read"):
        Keyring.from_sources(
            encryption_keys=None,
            encryption_keys_file=tmp_path / "absent",
            index_key=None,
            index_key_file=idx,
        )


def test_keyring_repr_shows_no_key_material(keyring: Keyring) -> None:
    text = repr(keyring)
    assert "k1" in text
    for key in (*keyring.keys.values(), keyring.index_key):
        assert key.hex() not in text and str(key) not in text
