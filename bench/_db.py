"""Benchmark helpers: a throwaway migrated database, and a median timer."""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from equity_connect.config import Settings
from equity_connect.db import migrate
from equity_connect.db.url import resolve_owner_url


@contextmanager
def bench_database() -> Iterator[str]:
    """Create, migrate, yield the URL of, and finally drop a fresh database."""
    server = resolve_owner_url(Settings())
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


def median_seconds(
    conn: psycopg.Connection[object], query: str, params: object, runs: int = 5
) -> float:
    """Median wall time of running ``query`` to completion ``runs`` times."""
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        conn.execute(query, params).fetchall()  # type: ignore[arg-type]
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)
