"""Ops changes from the command line are audited too."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from typer.testing import CliRunner

from equity_connect.cli import app
from equity_connect.config import get_settings

runner = CliRunner()


@pytest.fixture
def cli_db(monkeypatch: pytest.MonkeyPatch, fresh_database_url: str) -> Iterator[str]:
    monkeypatch.setenv("DATABASE_URL", fresh_database_url)
    get_settings.cache_clear()
    yield fresh_database_url
    get_settings.cache_clear()


def test_broker_and_key_commands_write_audit_rows(cli_db: str) -> None:
    added = runner.invoke(
        app, ["brokers", "add", "Pat Lee", "pat@brokers.test", "--capacity", "30"]
    )
    assert added.exit_code == 0, added.output
    broker_id = added.stdout.strip()
    assert runner.invoke(app, ["brokers", "disable", broker_id]).exit_code == 0
    created = runner.invoke(app, ["apikeys", "create", "ops laptop", "--scope", "leads:read"])
    assert created.exit_code == 0, created.output
    _, key_id, secret = created.stdout.strip().split("_", 2)  # the secret may hold "_" too
    assert runner.invoke(app, ["apikeys", "revoke", key_id]).exit_code == 0
    listed = runner.invoke(app, ["apikeys", "list"])
    assert listed.exit_code == 0
    assert secret not in listed.stdout  # never the secret
    with psycopg.connect(cli_db) as conn:
        actions = [r[0] for r in conn.execute("select action from audit_log order by id")]
        actor = conn.execute("select actor_id from audit_log limit 1").fetchone()
    assert actions == ["broker.add", "broker.disable", "api_key.create", "api_key.revoke"]
    assert actor is not None and actor[0].startswith("cli:")
