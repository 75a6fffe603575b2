"""The application's login (ec_app): does the pipeline's work, and nothing an owner does."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from typer.testing import CliRunner

from equity_connect.campaign.service import refresh_contactable
from equity_connect.cli import app as cli_app
from equity_connect.config import Settings, get_settings
from equity_connect.db import url as db_url
from equity_connect.db.pool import Conn, act_as_broker, connect
from tests.factories import make_broker, make_lead


@pytest.fixture
def app_conn(fresh_database_url: str) -> Iterator[Conn]:
    """A connection as ec_app to a migrated database (rolled back after)."""
    connection = connect(make_conninfo(fresh_database_url, user=db_url.APP_ROLE, password=""))
    try:
        yield connection
    finally:
        connection.rollback()
        connection.close()


def test_the_app_login_is_no_superuser_and_cannot_become_one(app_conn: Conn) -> None:
    row = app_conn.execute(
        "select rolsuper, rolbypassrls, rolcreaterole, rolcreatedb from pg_roles "
        "where rolname = current_user"
    ).fetchone()
    assert row == {
        "rolsuper": False,
        "rolbypassrls": False,
        "rolcreaterole": False,
        "rolcreatedb": False,
    }
    for statement in (
        "set role postgres",
        "create table public.planted (id int)",
        "alter table public.leads disable row level security",
        "drop table public.audit_log",
        "truncate public.audit_log",
    ):
        with (
            pytest.raises((psycopg.errors.InsufficientPrivilege, psycopg.errors.UndefinedObject)),
            app_conn.transaction(),
        ):
            app_conn.execute(statement)
    # it holds no grant option: a GRANT is a no-op (PostgreSQL warns), not a leak
    app_conn.execute("grant select on public.suppressions to anon")
    assert app_conn.execute(
        "select has_table_privilege('anon', 'public.suppressions', 'SELECT') as leaked"
    ).fetchone() == {"leaked": False}


def test_the_app_login_does_the_pipelines_work(app_conn: Conn) -> None:
    a, b = make_broker(app_conn, "A"), make_broker(app_conn, "B")
    own = {make_lead(app_conn, a, email_verified=True) for _ in range(2)}
    make_lead(app_conn, b, email_verified=True)
    # REFRESH … CONCURRENTLY needs ownership: it goes through the owner's function
    assert refresh_contactable(app_conn) == 3
    assert app_conn.execute("select count(*) as n from mv_contactable_leads").fetchone() == {"n": 3}
    # /readyz and the CLI read the migration ledger
    assert app_conn.execute("select count(*) > 0 as ok from schema_migrations").fetchone() == {
        "ok": True
    }
    # a broker's request: SET LOCAL ROLE authenticated, then RLS
    act_as_broker(app_conn, a)
    assert {r["id"] for r in app_conn.execute("select id from leads")} == own
    app_conn.execute("set local role none")
    assert app_conn.execute("select count(*) as n from leads").fetchone() == {"n": 3}


def _settings(monkeypatch: pytest.MonkeyPatch, app: str | None, owner: str | None) -> Settings:
    for name, value in (("DATABASE_URL", app), ("EC_MIGRATE_DATABASE_URL", owner)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    return Settings()


def test_embedded_default_uses_the_app_login_and_migrates_as_the_owner(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    superuser = "postgresql://postgres:@/postgres?host=/tmp/pg"
    monkeypatch.setattr(db_url.embedded, "start", lambda _: superuser)
    embedded = _settings(monkeypatch, None, None)
    assert conninfo_to_dict(db_url.resolve_database_url(embedded))["user"] == "ec_app"
    assert db_url.resolve_owner_url(embedded) == superuser
    both = _settings(monkeypatch, "postgresql://ec_app@h/db", "postgresql://owner@h/db")
    assert db_url.resolve_database_url(both) == "postgresql://ec_app@h/db"
    assert db_url.resolve_owner_url(both) == "postgresql://owner@h/db"
    # one URL: migrate uses it too, as before
    one = _settings(monkeypatch, "postgresql://u@h/db", None)
    assert db_url.resolve_owner_url(one) == "postgresql://u@h/db"


def test_a_command_before_the_role_exists_says_to_migrate(
    monkeypatch: pytest.MonkeyPatch, fresh_database_url: str
) -> None:
    # the embedded default before its first `db migrate`: ec_app does not exist yet
    monkeypatch.setenv("DATABASE_URL", make_conninfo(fresh_database_url, user="ec_no_such_login"))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli_app, ["brokers", "list"])
    finally:
        get_settings.cache_clear()
    said = " ".join(result.output.split())  # rich wraps the line
    assert result.exit_code == 2
    assert "does not exist" in said and "run `equity-connect db migrate` once" in said
    assert "Traceback" not in said
