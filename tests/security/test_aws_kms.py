"""AWS KMS as the KEK provider, against moto's KMS server on loopback (no mock of boto3)."""

from __future__ import annotations

import json
import pickle
import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from equity_connect.config import Settings
from equity_connect.db.pool import connect
from equity_connect.security.aws_kms import AwsKmsKeks
from equity_connect.security.crypto import (
    DecryptionError,
    Keyring,
    KeyServiceError,
    PiiCipher,
    aad_for,
    generate_key,
)
from equity_connect.security.keys import load_keyring
from equity_connect.web.app import create_app
from tests.fixtures.kms import REGION, LocalKms, local_kms

INDEX = generate_key()


@pytest.fixture(scope="module")
def kms() -> Iterator[LocalKms]:
    with local_kms() as server:
        yield server


def kms_keyring(kms: LocalKms, env: str = "", **options: float) -> tuple[Keyring, AwsKmsKeks]:
    provider = AwsKmsKeks(
        kid="kms1", key_id=kms.key_id, region=REGION, endpoint_url=kms.endpoint_url, **options
    )  # type: ignore[arg-type]
    base = Keyring.from_values(env, INDEX, keys_optional=True)
    return base.with_kms(provider, "kms1"), provider


def test_values_round_trip_bound_to_their_place_and_the_kek_stays_in_kms(kms: LocalKms) -> None:
    keyring, _ = kms_keyring(kms)
    assert dict(keyring.keys) == {}  # no KEK material in this process at all
    cipher = PiiCipher(keyring)
    row = uuid.uuid4()
    blob = cipher.encrypt("owner@example.com", aad_for("leads", "email", row))
    assert blob[0] == 2 and cipher.key_id_of(blob) == "kms1"
    assert b"owner@example.com" not in blob
    # A new process (fresh provider, empty cache) reads it through KMS Decrypt.
    fresh, provider = kms_keyring(kms)
    assert PiiCipher(fresh).decrypt(blob, aad_for("leads", "email", row)) == "owner@example.com"
    assert provider.calls == 1
    with pytest.raises(DecryptionError, match="does not belong here"):
        PiiCipher(fresh).decrypt(blob, aad_for("leads", "email", uuid.uuid4()))


def test_a_tampered_wrapped_data_key_is_refused_by_kms(kms: LocalKms) -> None:
    keyring, _ = kms_keyring(kms)
    blob = bytearray(PiiCipher(keyring).encrypt("x", b"a"))
    wrapped_end = 8 + int.from_bytes(blob[6:8], "big")  # 02 | 4 | kms1 | length | blob
    blob[wrapped_end - 3] ^= 0x01  # the encrypted part of the KMS ciphertext blob
    fresh, _ = kms_keyring(kms)
    with pytest.raises(DecryptionError):
        PiiCipher(fresh).decrypt(bytes(blob), b"a")


def test_many_ciphers_and_values_cost_one_generate_and_one_decrypt(kms: LocalKms) -> None:
    keyring, writer = kms_keyring(kms)
    blobs = []
    for n in range(50):  # 50 requests/jobs, each with its own cipher
        cipher = PiiCipher(keyring)
        blobs += [(cipher.encrypt(f"v{n}-{i}", b"aad"), f"v{n}-{i}") for i in range(200)]
    assert writer.calls == 1  # one GenerateDataKey for all 10,000 values
    reader_keyring, reader = kms_keyring(kms)
    for n in range(0, len(blobs), 97):
        cipher = PiiCipher(reader_keyring)
        assert cipher.decrypt(blobs[n][0], b"aad") == blobs[n][1]
    assert reader.calls == 1  # one Decrypt, then the cache


def test_the_cache_has_a_time_limit_and_a_size_bound(kms: LocalKms) -> None:
    now = [0.0]
    provider = AwsKmsKeks(
        kid="kms1",
        key_id=kms.key_id,
        region=REGION,
        endpoint_url=kms.endpoint_url,
        cache_ttl_seconds=60,
        cache_max_keys=2,
        clock=lambda: now[0],
    )
    keyring = Keyring.from_values("", INDEX, keys_optional=True).with_kms(provider, "kms1")
    blobs = []
    for _ in range(3):  # three time windows: three data keys
        blobs.append(PiiCipher(keyring).encrypt("v", b"a"))
        now[0] += 61
    assert provider.calls == 3
    assert len({PiiCipher(keyring).key_id_of(b) for b in blobs}) == 1
    # Expired (older than 60 s) or evicted (only 2 kept): each read asks KMS again.
    before = provider.calls
    for blob in blobs:
        assert PiiCipher(keyring).decrypt(blob, b"a") == "v"
    assert provider.calls == before + 3
    assert PiiCipher(keyring).decrypt(blobs[-1], b"a") == "v"  # now cached
    assert provider.calls == before + 3


def test_losing_kms_fails_closed_with_one_sentence() -> None:
    with local_kms() as gone:
        keyring, _ = kms_keyring(gone)
        blob = PiiCipher(keyring).encrypt("owner@example.com", b"a")
        gone.server.stop()
        fresh, _ = kms_keyring(gone)  # nothing cached: must ask KMS, which is gone
        with pytest.raises(KeyServiceError) as read:
            PiiCipher(fresh).decrypt(blob, b"a")
        with pytest.raises(KeyServiceError) as write:
            PiiCipher(fresh).encrypt("owner@example.com", b"a")
    for exc in (read.value, write.value):
        message = str(exc)
        assert message.startswith("AWS KMS cannot be used for ")
        assert "\n" not in message and "owner@example.com" not in message
    assert not isinstance(read.value, DecryptionError)  # an outage is not bad data


def test_a_refused_key_is_a_clear_error_too(kms: LocalKms) -> None:
    provider = AwsKmsKeks(
        kid="kms1", key_id=str(uuid.uuid4()), region=REGION, endpoint_url=kms.endpoint_url
    )
    keyring = Keyring.from_values("", INDEX, keys_optional=True).with_kms(provider, "kms1")
    with pytest.raises(KeyServiceError, match=r"AWS KMS refused GenerateDataKey .*NotFound"):
        PiiCipher(keyring).encrypt("v", b"a")


def test_a_process_pool_gets_the_configuration_never_the_cached_keys(kms: LocalKms) -> None:
    keyring, provider = kms_keyring(kms)
    blob = PiiCipher(keyring).encrypt("v", b"a")
    copy = pickle.loads(pickle.dumps(keyring))  # noqa: S301 - our own bytes, as a process pool does
    assert isinstance(copy.kms, AwsKmsKeks)
    assert copy.kms.calls == 0 and copy.kms.cache.is_empty()
    assert PiiCipher(copy).decrypt(blob, b"a") == "v"
    assert copy.kms.calls == 1
    assert provider.key_id == copy.kms.key_id


def test_settings_select_the_provider(kms: LocalKms) -> None:
    settings = Settings(
        index_key=INDEX,
        encryption_keys=None,
        kms_provider="aws",
        aws_kms_key_id=kms.key_id,
        aws_region=REGION,
        aws_kms_endpoint_url=kms.endpoint_url,
    )
    keyring = load_keyring(settings)
    assert keyring.active_kid == "kms1"
    assert PiiCipher(keyring).decrypt(PiiCipher(keyring).encrypt("v", b"a"), b"a") == "v"
    with pytest.raises(Exception, match="EC_AWS_KMS_KEY_ID"):
        load_keyring(settings.model_copy(update={"aws_kms_key_id": None}))
    env_only = load_keyring(
        Settings(index_key=INDEX, encryption_keys=f"k1:{generate_key()}", kms_provider="env")
    )
    assert env_only.kms is None and env_only.active_kid == "k1"


def test_the_api_answers_503_and_stores_nothing_while_kms_is_gone(fresh_database_url: str) -> None:
    with local_kms() as gone:
        settings = Settings(
            index_key=INDEX,
            encryption_keys=None,
            kms_provider="aws",
            aws_kms_key_id=gone.key_id,
            aws_region=REGION,
            aws_kms_endpoint_url=gone.endpoint_url,
            instantly_webhook_secrets="instantly-test-secret",
        )
        gone.server.stop()
        with TestClient(create_app(settings, conninfo=fresh_database_url)) as client:
            answer = client.post(
                "/v1/webhooks/instantly",
                content=json.dumps({"event_type": "reply_received", "email_id": "e-1"}),
                headers={"X-Webhook-Secret": "instantly-test-secret"},
            )
    assert answer.status_code == 503, answer.text
    assert answer.json()["error"] == "key_service_unavailable"
    assert answer.json()["detail"].startswith("AWS KMS cannot be used for GenerateDataKey")
    with connect(fresh_database_url) as conn:
        assert conn.execute("select count(*) as n from inbound_events").fetchone()["n"] == 0
