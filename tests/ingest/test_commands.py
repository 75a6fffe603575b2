"""The ingest CLI: `ingest --json`, `uploads list`, `uploads rejects --csv`."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from equity_connect.cli import app
from equity_connect.config import get_settings
from equity_connect.security.crypto import generate_key
from tests.ingest.helpers import csv_bytes, row

runner = CliRunner()


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, fresh_database_url: str) -> Iterator[None]:
    monkeypatch.setenv("DATABASE_URL", fresh_database_url)
    monkeypatch.setenv("EC_ENCRYPTION_KEYS", f"k1:{generate_key()}")
    monkeypatch.setenv("EC_INDEX_KEY", generate_key())
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_ingest_json_report_then_duplicate(cli_env: None, tmp_path: Path) -> None:
    path = tmp_path / "leads.csv"
    path.write_bytes(csv_bytes([row(mak="1200000001"), row(property_state="XX", email="a@b.co")]))
    first = runner.invoke(app, ["ingest", str(path), "--source", "vendor-z", "--json"])
    assert first.exit_code == 0, first.output
    report = json.loads(first.stdout)
    keys = ("rows", "inserted", "merged", "rejected", "duplicate_upload")
    assert [report[k] for k in keys] == [2, 1, 0, 1, False]
    assert set(report) >= {"upload_id", "sha256", "seconds"}
    again = json.loads(runner.invoke(app, ["ingest", str(path), "--json"]).stdout)
    assert again["duplicate_upload"] is True and again["upload_id"] == report["upload_id"]

    listed = runner.invoke(app, ["uploads", "list"])
    assert listed.exit_code == 0 and "vendor-z" in listed.stdout

    rejects = runner.invoke(app, ["uploads", "rejects", report["upload_id"], "--csv"])
    assert rejects.exit_code == 0, rejects.output
    [line] = list(csv.DictReader(io.StringIO(rejects.stdout)))
    assert line["_row"] == "2" and line["property_state"] == "XX" and line["email"] == "a@b.co"


def test_missing_keys_are_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, fresh_database_url: str, tmp_path: Path
) -> None:
    monkeypatch.setenv("DATABASE_URL", fresh_database_url)
    monkeypatch.delenv("EC_ENCRYPTION_KEYS", raising=False)
    monkeypatch.delenv("EC_ENCRYPTION_KEYS_FILE", raising=False)
    get_settings.cache_clear()
    path = tmp_path / "x.csv"
    path.write_bytes(csv_bytes([row()]))
    result = runner.invoke(app, ["ingest", str(path)])
    get_settings.cache_clear()
    assert result.exit_code == 2
    assert "EC_ENCRYPTION_KEYS" in result.output
