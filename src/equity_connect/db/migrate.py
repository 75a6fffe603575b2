"""Plain-SQL migrations: numbered files applied in order, each once.

Each migration runs in its own transaction under an advisory lock, so two
processes migrating at once apply each file exactly once, and a failure
leaves the database at the last good migration. A migration whose file
changed after it was applied is refused: the database would otherwise
silently differ from what the repository describes.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import Any

import psycopg
from psycopg.rows import tuple_row

from equity_connect.db import queries
from equity_connect.db.locks import LockKey

_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

_CREATE_LEDGER = """
create table if not exists public.schema_migrations (
  version    integer primary key,
  name       text not null,
  checksum   text not null,
  applied_at timestamptz not null default now()
);
revoke all on table public.schema_migrations from public;
"""


class MigrationError(Exception):
    """The database and the repository's migrations disagree."""


class PrivilegeLeakError(MigrationError):
    """A client role (anon, authenticated) holds a privilege it must not."""

    def __init__(self, leaks: list[tuple[str, str, str, str]]) -> None:
        self.leaks = leaks
        listed = "; ".join(
            f"{role} {priv} on {obj} ({rule})" for role, obj, priv, rule in leaks[:20]
        ) + (f"; and {len(leaks) - 20} more" if len(leaks) > 20 else "")
        super().__init__(
            f"{len(leaks)} privilege(s) that anon or authenticated must not hold: {listed}. "
            "Revoke them (a Supabase default privilege, or a grant in a migration) "
            "and run `equity-connect db migrate` again"
        )


@dataclass(frozen=True)
class Migration:
    """One migration file."""

    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        """SHA-256 of the file's text: what an applied migration is held to."""
        return hashlib.sha256(self.sql.encode()).hexdigest()

    @property
    def filename(self) -> str:
        """The file this migration was read from."""
        return f"{self.version:04d}_{self.name}.sql"


@dataclass(frozen=True)
class MigrationState:
    """A migration and whether, when and as what it was applied."""

    migration: Migration
    applied_at: datetime | None
    applied_checksum: str | None

    @property
    def tampered(self) -> bool:
        """Applied, but the file differs from what was applied."""
        return self.applied_checksum is not None and (
            self.applied_checksum != self.migration.checksum
        )


def discover() -> list[Migration]:
    """The package's migrations, in version order."""
    found: list[Migration] = []
    folder = resources.files("equity_connect.db") / "migrations"
    for entry in folder.iterdir():
        match = _FILE_NAME.match(entry.name)
        if match is None:
            continue
        found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(versions) != len(set(versions)):
        raise MigrationError(f"two migration files share a version number: {versions}")
    return found


def _applied(conn: psycopg.Connection[object]) -> dict[int, tuple[str, datetime]]:
    # A tuple cursor whatever the connection's row factory (the pool's gives dicts).
    cur = conn.cursor(row_factory=tuple_row)
    if cur.execute("select to_regclass('public.schema_migrations')").fetchone() == (None,):
        return {}
    rows: list[tuple[int, str, datetime]] = cur.execute(
        "select version, checksum, applied_at from public.schema_migrations"
    ).fetchall()
    return {version: (checksum, at) for version, checksum, at in rows}


def status(conn: psycopg.Connection[object]) -> list[MigrationState]:
    """Every known migration with its applied state."""
    applied = _applied(conn)
    return [
        MigrationState(m, applied[m.version][1], applied[m.version][0])
        if m.version in applied
        else MigrationState(m, None, None)
        for m in discover()
    ]


def _refuse_tampered(conn: psycopg.Connection[object], migrations: list[Migration]) -> None:
    applied = _applied(conn)
    for m in migrations:
        if m.version in applied and applied[m.version][0] != m.checksum:
            raise MigrationError(
                f"migration {m.filename} was changed after it was applied "
                f"(applied checksum {applied[m.version][0][:12]}…, file {m.checksum[:12]}…); "
                "add a new migration instead of editing an applied one"
            )
    known = {m.version for m in migrations}
    unknown = sorted(set(applied) - known)
    if unknown:
        raise MigrationError(
            f"the database has migrations this code does not know: {unknown}; "
            "it was migrated by a newer version"
        )


def privilege_leaks(conn: psycopg.Connection[Any]) -> list[tuple[str, str, str, str]]:
    """What anon and authenticated hold that they must not: (role, object, privilege, rule)."""
    cur = conn.cursor(row_factory=tuple_row)
    rows: list[tuple[str, str, str, str]] = cur.execute(
        queries.load("equity_connect.db")["client_privilege_leaks"]
    ).fetchall()
    return rows


def check_privileges(conn: psycopg.Connection[Any]) -> None:
    """Raise ``PrivilegeLeakError`` unless the client roles hold only what they should."""
    leaks = privilege_leaks(conn)
    if leaks:
        raise PrivilegeLeakError(leaks)


def migrate(conninfo: str) -> list[Migration]:
    """Apply every pending migration, then check the client roles' privileges.

    Returns the migrations applied (none when up to date). Raises
    ``PrivilegeLeakError`` when anon or authenticated hold a privilege they
    must not, whether a migration or a default privilege granted it: on
    Supabase, every new object is granted to both unless revoked.
    """
    migrations = discover()
    done: list[Migration] = []
    with psycopg.connect(conninfo, autocommit=True) as conn:
        with conn.transaction():
            conn.execute("select pg_advisory_xact_lock(%s)", [int(LockKey.MIGRATE)])
            conn.execute(_CREATE_LEDGER)
            _refuse_tampered(conn, migrations)
        for m in migrations:
            with conn.transaction():
                conn.execute("select pg_advisory_xact_lock(%s)", [int(LockKey.MIGRATE)])
                row = conn.execute(
                    "select checksum from public.schema_migrations where version = %s",
                    [m.version],
                ).fetchone()
                if row is not None:
                    continue  # another process applied it while we waited for the lock
                conn.execute(m.sql)  # our own packaged file, never user input
                conn.execute(
                    "insert into public.schema_migrations (version, name, checksum) "
                    "values (%s, %s, %s)",
                    [m.version, m.name, m.checksum],
                )
                done.append(m)
        check_privileges(conn)
    return done
