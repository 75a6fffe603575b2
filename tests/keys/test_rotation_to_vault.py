"""Rotation across KEK providers: values under env key k1, re-wrapped under Vault transit.

Through the real CLI, a real ingest and an OpenBao dev server on loopback.
"""

from __future__ import annotations

import re
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
from tests.fixtures.vault import LocalVault, local_vault
from tests.ingest.helpers import csv_bytes, row
from tests.keys.helpers import ingest_numbered

runner = CliRunner()


@pytest.fixture(scope="module")
def vault() -> Iterator[LocalVault]:
    with local_vault() as server:
        yield server


def use_vault(monkeypatch: pytest.MonkeyPatch, vault: LocalVault) -> None:
    monkeypatch.setenv("EC_KMS_PROVIDER", "vault")
    monkeypatch.setenv("EC_VAULT_ADDR", vault.addr)
    monkeypatch.setenv("EC_VAULT_TOKEN", vault.token)
    monkeypatch.setenv("EC_VAULT_TRANSIT_KEY", vault.key_name)
    get_settings.cache_clear()


def ingest(tmp_path: Path, name: str, first: int, n: int) -> None:
    ingest_numbered(runner, tmp_path, name, first, n, mak_prefix="13", street="Elm St")


def test_env_k1_values_rotate_onto_vault_and_stay_readable(
    env_keys: None,
    vault: LocalVault,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    fresh_database_url: str,
) -> None:
    ingest(tmp_path, "before.csv", 0, 200)
    with connect(fresh_database_url) as conn:
        assert set(key_usage(conn)) == {"k1"}

    use_vault(monkeypatch, vault)  # Vault active; k1 still set, so old values read
    ingest(tmp_path, "during.csv", 200, 50)  # new values go straight under Vault
    status = runner.invoke(app, ["keys", "status"])
    assert status.exit_code == 0 and "vault transit (active)" in status.stdout, status.output
    assert runner.invoke(app, ["keys", "status", "--removable", "k1"]).exit_code == 1

    rotated = runner.invoke(app, ["keys", "rotate", "--batch-size", "100"])
    assert rotated.exit_code == 0, rotated.output
    assert "under vault1" in rotated.stdout
    # One k1 data key per ingest: one transit encrypt for it, however many values it wraps.
    calls = re.search(r"\((\d+) KMS calls\)", rotated.stdout)
    assert calls is not None and int(calls[1]) <= 5, rotated.stdout
    assert runner.invoke(app, ["keys", "status", "--removable", "k1"]).exit_code == 0

    monkeypatch.delenv("EC_ENCRYPTION_KEYS")  # k1 is gone: only Vault remains
    get_settings.cache_clear()
    cipher = PiiCipher(load_keyring(get_settings()))
    with connect(fresh_database_url) as conn:
        assert set(key_usage(conn)) == {"vault1"}
        leads = conn.execute("select id, email_ciphertext from leads").fetchall()
    emails = {
        cipher.decrypt(r["email_ciphertext"], aad_for("leads", "email", r["id"])) for r in leads
    }
    assert emails == {f"owner{n}@example.com" for n in range(250)}


def test_an_ingest_with_vault_gone_fails_closed_in_one_sentence(
    env_keys: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fresh_database_url: str
) -> None:
    with local_vault() as gone:
        use_vault(monkeypatch, gone)
        gone.stop()
        (tmp_path / "leads.csv").write_bytes(csv_bytes([row(mak="1300000001", email="a@b.co")]))
        failed = runner.invoke(app, ["ingest", str(tmp_path / "leads.csv")])
    assert failed.exit_code == 3, failed.output
    [line] = [ln for ln in failed.output.splitlines() if ln.strip()]
    assert line.startswith("error: Vault transit cannot be used for POST /v1/transit/datakey")
    with connect(fresh_database_url) as conn:  # nothing half-applied, nothing in clear
        assert conn.execute("select count(*) as n from leads").fetchone()["n"] == 0
        assert conn.execute("select count(*) as n from uploads").fetchone()["n"] == 0
