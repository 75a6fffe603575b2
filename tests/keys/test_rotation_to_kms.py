"""Rotation across KEK providers: values under env key k1, re-wrapped under AWS KMS.

Through the real CLI, a real ingest and moto's KMS server on loopback.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from equity_connect.cli import app
from equity_connect.config import get_settings
from equity_connect.db.pool import connect
from equity_connect.keys.rotation import key_usage
from equity_connect.security.crypto import PiiCipher, aad_for
from equity_connect.security.keys import load_keyring
from tests.fixtures.kms import REGION, LocalKms, local_kms
from tests.ingest.helpers import csv_bytes, row
from tests.keys.helpers import ingest_numbered

runner = CliRunner()


@pytest.fixture
def kms() -> Iterator[LocalKms]:
    with local_kms() as server:
        yield server


def use_kms(monkeypatch: pytest.MonkeyPatch, kms: LocalKms) -> None:
    monkeypatch.setenv("EC_KMS_PROVIDER", "aws")
    monkeypatch.setenv("EC_AWS_KMS_KEY_ID", kms.key_id)
    monkeypatch.setenv("EC_AWS_REGION", REGION)
    monkeypatch.setenv("EC_AWS_KMS_ENDPOINT_URL", kms.endpoint_url)
    get_settings.cache_clear()


def ingest(tmp_path: Path, name: str, first: int, n: int) -> None:
    ingest_numbered(runner, tmp_path, name, first, n, mak_prefix="12", street="Oak Ave")


def test_env_k1_values_rotate_onto_kms_and_stay_readable(
    env_keys: None,
    kms: LocalKms,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    fresh_database_url: str,
) -> None:
    ingest(tmp_path, "before.csv", 0, 300)
    with connect(fresh_database_url) as conn:
        assert set(key_usage(conn)) == {"k1"}

    use_kms(monkeypatch, kms)  # KMS active; k1 still set, so old values read
    ingest(tmp_path, "during.csv", 300, 50)  # new values go straight under KMS
    status = runner.invoke(app, ["keys", "status"])
    assert status.exit_code == 0 and "aws kms (active)" in status.stdout, status.output
    assert "env" in status.stdout
    assert runner.invoke(app, ["keys", "status", "--removable", "k1"]).exit_code == 1

    before = kms.server.data_key_calls()
    rotated = runner.invoke(app, ["keys", "rotate", "--batch-size", "100"])
    assert rotated.exit_code == 0, rotated.output
    assert "under kms1" in rotated.stdout
    # One k1 data key per ingest: one Encrypt for it, however many values it wraps.
    assert kms.server.data_key_calls() - before <= 5
    assert runner.invoke(app, ["keys", "status", "--removable", "k1"]).exit_code == 0

    monkeypatch.delenv("EC_ENCRYPTION_KEYS")  # k1 is gone: only KMS remains
    get_settings.cache_clear()
    cipher = PiiCipher(load_keyring(get_settings()))
    with connect(fresh_database_url) as conn:
        assert set(key_usage(conn)) == {"kms1"}
        leads = conn.execute("select id, email_ciphertext from leads").fetchall()
    emails = {
        cipher.decrypt(r["email_ciphertext"], aad_for("leads", "email", r["id"])) for r in leads
    }
    assert emails == {f"owner{n}@example.com" for n in range(350)}


def test_an_ingest_with_kms_gone_fails_closed_in_one_sentence(
    env_keys: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fresh_database_url: str
) -> None:
    with local_kms() as gone:
        use_kms(monkeypatch, gone)
        gone.server.stop()
        (tmp_path / "leads.csv").write_bytes(csv_bytes([row(mak="1200000001", email="a@b.co")]))
        failed = runner.invoke(app, ["ingest", str(tmp_path / "leads.csv")])
    assert failed.exit_code == 3, failed.output
    [line] = [ln for ln in failed.output.splitlines() if ln.strip()]
    assert line.startswith("error: AWS KMS cannot be used for GenerateDataKey")
    with connect(fresh_database_url) as conn:  # nothing half-applied, nothing in clear
        assert conn.execute("select count(*) as n from leads").fetchone()["n"] == 0
        assert conn.execute("select count(*) as n from uploads").fetchone()["n"] == 0
