"""Migrations: fresh apply, re-apply, tampering, concurrency."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from equity_connect.db import migrate
from tests.conftest import create_database, drop_database


@pytest.fixture
def empty_db(server_url: str) -> Iterator[str]:
    name = f"ec_mig_{uuid.uuid4().hex[:10]}"
    url = create_database(server_url, name)
    yield url
    drop_database(server_url, name)


def test_fresh_apply_then_reapply_is_a_no_op(empty_db: str) -> None:
    applied = migrate.migrate(empty_db)
    assert [m.version for m in applied] == [m.version for m in migrate.discover()]
    assert len(applied) >= 4
    assert migrate.migrate(empty_db) == []
    with psycopg.connect(empty_db) as conn:
        states = migrate.status(conn)
    assert all(s.applied_at is not None and not s.tampered for s in states)


def test_versions_are_contiguous_and_files_named() -> None:
    versions = [m.version for m in migrate.discover()]
    # Numbers are handed out to branches worked on in parallel: a branch may
    # hold a later number before the earlier ones are merged.
    assert versions[:11] == list(range(1, 12))
    assert versions == sorted(set(versions))


def test_edited_applied_migration_is_refused(
    empty_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    migrate.migrate(empty_db)
    real = migrate.discover()
    edited = [
        migrate.Migration(m.version, m.name, m.sql + "\n-- edited\n") if m.version == 2 else m
        for m in real
    ]
    monkeypatch.setattr(migrate, "discover", lambda: edited)
    with pytest.raises(migrate.MigrationError, match=r"0002_core_schema\.sql was changed"):
        migrate.migrate(empty_db)
    with psycopg.connect(empty_db) as conn:
        assert [s.migration.version for s in migrate.status(conn) if s.tampered] == [2]


def test_database_newer_than_code_is_refused(empty_db: str) -> None:
    migrate.migrate(empty_db)
    with psycopg.connect(empty_db, autocommit=True) as conn:
        conn.execute(
            "insert into schema_migrations (version, name, checksum) values (9999, 'future', 'x')"
        )
    with pytest.raises(migrate.MigrationError, match="9999"):
        migrate.migrate(empty_db)


def test_failed_migration_rolls_back_and_records_nothing(
    empty_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = [
        *migrate.discover(),
        migrate.Migration(99, "broken", "create table half_done (id int); select 1/0;"),
    ]
    monkeypatch.setattr(migrate, "discover", lambda: broken)
    with pytest.raises(psycopg.errors.DivisionByZero):
        migrate.migrate(empty_db)
    with psycopg.connect(empty_db) as conn:
        assert conn.execute("select to_regclass('half_done')").fetchone() == (None,)
        versions = [r[0] for r in conn.execute("select version from schema_migrations")]
    assert 99 not in versions
    assert len(versions) == len(broken) - 1


def test_concurrent_migrators_apply_each_file_once(empty_db: str) -> None:
    results: list[list[migrate.Migration]] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(migrate.migrate(empty_db))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    applied = sorted(m.version for r in results for m in r)
    assert applied == [m.version for m in migrate.discover()]
