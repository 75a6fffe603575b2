"""Vault transit as the KEK provider, against a real OpenBao dev server on loopback (no mock)."""

from __future__ import annotations

import pickle
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from equity_connect.config import Settings
from equity_connect.security.crypto import (
    DecryptionError,
    Keyring,
    KeyServiceError,
    PiiCipher,
    aad_for,
    generate_key,
)
from equity_connect.security.kek import KeyConfigError
from equity_connect.security.keys import load_keyring
from equity_connect.security.vault_transit import VaultTransitKeks
from tests.fixtures.vault import CountingTransport, LocalVault, local_vault

INDEX = generate_key()


@pytest.fixture(scope="module")
def vault() -> Iterator[LocalVault]:
    with local_vault() as server:
        yield server


def vault_keyring(
    vault: LocalVault, *, token: str | None = None, key_name: str | None = None
) -> tuple[Keyring, VaultTransitKeks, CountingTransport]:
    counter = CountingTransport()
    provider = VaultTransitKeks(
        kid="vault1",
        addr=vault.addr,
        token=vault.token if token is None else token,
        key_name=vault.key_name if key_name is None else key_name,
        transport=counter,
    )
    base = Keyring.from_values("", INDEX, keys_optional=True)
    return base.with_kms(provider, "vault1"), provider, counter


def test_values_round_trip_bound_to_their_place_and_the_kek_stays_in_vault(
    vault: LocalVault,
) -> None:
    keyring, _, _ = vault_keyring(vault)
    assert dict(keyring.keys) == {}  # no KEK material in this process at all
    row = uuid.uuid4()
    blob = PiiCipher(keyring).encrypt("owner@example.com", aad_for("leads", "email", row))
    assert blob[0] == 2 and PiiCipher(keyring).key_id_of(blob) == "vault1"
    assert b"vault:v1:" in blob and b"owner@example.com" not in blob
    # A new process (fresh provider, empty cache) reads it through transit decrypt.
    fresh, provider, counter = vault_keyring(vault)
    assert PiiCipher(fresh).decrypt(blob, aad_for("leads", "email", row)) == "owner@example.com"
    assert provider.calls == 1
    assert counter.calls == {f"/v1/transit/decrypt/{vault.key_name}": 1}
    with pytest.raises(DecryptionError, match="does not belong here"):
        PiiCipher(fresh).decrypt(blob, aad_for("leads", "email", uuid.uuid4()))


def test_a_wrapped_data_key_is_bound_to_its_key_id_and_tampering_is_refused(
    vault: LocalVault,
) -> None:
    _, provider, _ = vault_keyring(vault)
    dek, wrapped = provider.generate("vault1")
    _, fresh, _ = vault_keyring(vault)
    assert fresh.unwrap("vault1", wrapped) == dek
    # Transit's associated data names the kid: the same blob under another kid is refused.
    _, other, _ = vault_keyring(vault)
    with pytest.raises(DecryptionError, match="does not unwrap under Vault transit key"):
        other.unwrap("vault2", wrapped)
    tampered = bytearray(wrapped)
    tampered[-6] = ord("A") if tampered[-6] != ord("A") else ord("B")
    with pytest.raises(DecryptionError):
        other.unwrap("vault1", bytes(tampered))


def test_ten_thousand_values_cost_one_datakey_and_one_decrypt(vault: LocalVault) -> None:
    keyring, writer, written = vault_keyring(vault)
    blobs = []
    for n in range(50):  # 50 requests/jobs, each with its own cipher
        cipher = PiiCipher(keyring)
        blobs += [(cipher.encrypt(f"v{n}-{i}", b"aad"), f"v{n}-{i}") for i in range(200)]
    assert len(blobs) == 10_000
    assert written.calls == {f"/v1/transit/datakey/plaintext/{vault.key_name}": 1}
    assert writer.calls == 1
    reader_keyring, _, read = vault_keyring(vault)
    for n in range(0, len(blobs), 97):
        assert PiiCipher(reader_keyring).decrypt(blobs[n][0], b"aad") == blobs[n][1]
    assert read.total() == 1  # one decrypt, then the shared cache


def test_the_cache_has_a_time_limit(vault: LocalVault) -> None:
    now = [0.0]
    counter = CountingTransport()
    provider = VaultTransitKeks(
        kid="vault1",
        addr=vault.addr,
        token=vault.token,
        key_name=vault.key_name,
        cache_ttl_seconds=60,
        clock=lambda: now[0],
        transport=counter,
    )
    keyring = Keyring.from_values("", INDEX, keys_optional=True).with_kms(provider, "vault1")
    blobs = []
    for _ in range(3):  # three time windows: three data keys
        blobs.append(PiiCipher(keyring).encrypt("v", b"a"))
        now[0] += 61
    assert counter.total() == 3
    for blob in blobs:  # all expired: each read asks Vault again
        assert PiiCipher(keyring).decrypt(blob, b"a") == "v"
    assert counter.total() == 6


def test_a_wrong_token_is_a_clear_error(vault: LocalVault) -> None:
    keyring, _, _ = vault_keyring(vault, token="not-the-token")
    with pytest.raises(KeyServiceError) as refused:
        PiiCipher(keyring).encrypt("owner@example.com", b"a")
    message = str(refused.value)
    assert message.startswith("Vault refused POST /v1/transit/datakey/plaintext/")
    assert "403 permission denied" in message and "EC_VAULT_TOKEN" in message
    assert "\n" not in message and "not-the-token" not in message


def test_a_missing_transit_key_is_a_clear_error(vault: LocalVault) -> None:
    keyring, _, _ = vault_keyring(vault, key_name="no-such-key")
    with pytest.raises(KeyServiceError, match=r"Vault refused .*EC_VAULT_TRANSIT_MOUNT"):
        PiiCipher(keyring).encrypt("v", b"a")


def test_losing_vault_fails_closed_with_one_sentence() -> None:
    with local_vault() as gone:
        keyring, _, _ = vault_keyring(gone)
        blob = PiiCipher(keyring).encrypt("owner@example.com", b"a")
        gone.stop()  # killed, as a crash would
        fresh, _, _ = vault_keyring(gone)  # nothing cached: must ask Vault, which is gone
        with pytest.raises(KeyServiceError) as read:
            PiiCipher(fresh).decrypt(blob, b"a")
        with pytest.raises(KeyServiceError) as write:
            PiiCipher(fresh).encrypt("owner@example.com", b"a")
    for exc in (read.value, write.value):
        message = str(exc)
        assert message.startswith("Vault transit cannot be used for POST /v1/transit/")
        assert "\n" not in message and "owner@example.com" not in message
        assert message.count(". ") == 0  # one sentence
    assert not isinstance(read.value, DecryptionError)  # an outage is not bad data


def test_a_process_pool_gets_the_configuration_never_the_cached_keys(vault: LocalVault) -> None:
    keyring, provider, _ = vault_keyring(vault)
    blob = PiiCipher(keyring).encrypt("v", b"a")
    assert not provider.cache.is_empty()
    copy = pickle.loads(pickle.dumps(keyring))  # noqa: S301 - our own bytes, as a process pool does
    assert isinstance(copy.kms, VaultTransitKeks)
    assert copy.kms.calls == 0 and copy.kms.cache.is_empty()
    assert PiiCipher(copy).decrypt(blob, b"a") == "v"
    assert copy.kms.calls == 1
    assert vault.token not in repr(copy)


def test_settings_select_the_provider(vault: LocalVault, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(vault.token + "\n", encoding="utf-8")
    settings = Settings(
        index_key=INDEX,
        encryption_keys=None,
        kms_provider="vault",
        vault_addr=vault.addr,
        vault_token_file=token_file,
        vault_transit_key=vault.key_name,
    )
    keyring = load_keyring(settings)
    assert keyring.active_kid == "vault1" and isinstance(keyring.kms, VaultTransitKeks)
    assert PiiCipher(keyring).decrypt(PiiCipher(keyring).encrypt("v", b"a"), b"a") == "v"
    with pytest.raises(KeyConfigError, match="EC_VAULT_ADDR"):
        load_keyring(settings.model_copy(update={"vault_addr": None}))
    with pytest.raises(KeyConfigError, match="EC_VAULT_TRANSIT_KEY"):
        load_keyring(settings.model_copy(update={"vault_transit_key": None}))
    with pytest.raises(KeyConfigError, match="EC_VAULT_TOKEN"):
        load_keyring(settings.model_copy(update={"vault_token_file": None}))
    with pytest.raises(KeyConfigError, match="EC_VAULT_TOKEN_FILE cannot be read"):
        load_keyring(settings.model_copy(update={"vault_token_file": tmp_path / "missing"}))


def test_a_sealed_vault_fails_closed_with_one_sentence() -> None:
    with local_vault() as sealed:
        keyring, _, _ = vault_keyring(sealed)
        blob = PiiCipher(keyring).encrypt("v", b"a")
        with httpx.Client(base_url=sealed.addr, headers={"X-Vault-Token": sealed.token}) as ops:
            ops.put("/v1/sys/seal").raise_for_status()
        fresh, _, _ = vault_keyring(sealed)
        with pytest.raises(KeyServiceError) as read:
            PiiCipher(fresh).decrypt(blob, b"a")
    message = str(read.value)
    assert message.startswith("Vault refused POST /v1/transit/decrypt/")
    assert "503" in message and "sealed" in message and "\n" not in message


def test_a_namespace_is_sent_and_selects_the_transit_key(vault: LocalVault) -> None:
    ns = f"team-{uuid.uuid4().hex[:8]}"
    root = {"X-Vault-Token": vault.token}
    with httpx.Client(base_url=vault.addr, headers=root) as ops:
        ops.post(f"/v1/sys/namespaces/{ns}", json={}).raise_for_status()
        inside = {**root, "X-Vault-Namespace": ns}
        ops.post("/v1/sys/mounts/transit", json={"type": "transit"}, headers=inside)
        ops.post("/v1/transit/keys/ns-only", headers=inside).raise_for_status()
    provider = VaultTransitKeks(
        kid="vault1", addr=vault.addr, token=vault.token, key_name="ns-only", namespace=ns
    )
    keyring = Keyring.from_values("", INDEX, keys_optional=True).with_kms(provider, "vault1")
    assert PiiCipher(keyring).decrypt(PiiCipher(keyring).encrypt("v", b"a"), b"a") == "v"
    # The key exists only inside the namespace: without the header Vault does not find it.
    outside, _, _ = vault_keyring(vault, key_name="ns-only")
    with pytest.raises(KeyServiceError, match="encryption key not found"):
        PiiCipher(outside).encrypt("v", b"a")
