"""A throwaway migrated database for a benchmark, on the configured server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from equity_connect.config import Settings
from equity_connect.db import migrate
from equity_connect.db.url import resolve_database_url


@contextmanager
def bench_database() -> Iterator[str]:
    """Create, migrate, yield the URL of, and finally drop a fresh database."""
    server = resolve_database_url(Settings())
    name = f"ec_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    url = make_conninfo(server, dbname=name)
    try:
        migrate.migrate(url)
        yield url
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(
                sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
            )
