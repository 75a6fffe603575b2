"""Connections and transactions. The caller owns the transaction.

A request, a job or a CLI command opens one transaction with
``transaction()`` (or ``as_broker()`` for a broker's request); services
receive the connection and never commit.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.rows import DictRow, dict_row
from psycopg_pool import ConnectionPool

from equity_connect.config import Settings
from equity_connect.db.url import resolve_database_url

Conn = psycopg.Connection[DictRow]


def open_pool(
    settings: Settings,
    *,
    conninfo: str | None = None,
    application_name: str = "equity-connect",
    reconnect_failed: Callable[[ConnectionPool[Conn]], None] | None = None,
) -> ConnectionPool[Conn]:
    """A pool on the configured database (the embedded one when none is set).

    Connections die under us: a pooler restart, a failover or an idle timeout
    terminates backends without telling the client. So every checkout is
    checked (one empty round trip; a dead connection is dropped and another
    given), a caller waits at most ``pool_timeout_seconds`` for one (then
    ``PoolTimeout``, which the API answers with 503), and the pool keeps
    reconnecting a lost slot for ``pool_reconnect_timeout_seconds`` before
    giving it up (it grows back on the next demand). ``application_name``
    names the process in ``pg_stat_activity``, which is how operators (and
    the fault tests) find its backends.
    """
    pool: ConnectionPool[Conn] = ConnectionPool(
        conninfo or resolve_database_url(settings),
        min_size=settings.pool_min_size,
        max_size=settings.pool_max_size,
        kwargs={"row_factory": dict_row, "application_name": application_name},
        connection_class=psycopg.Connection[DictRow],
        check=ConnectionPool.check_connection,
        timeout=settings.pool_timeout_seconds,
        reconnect_timeout=settings.pool_reconnect_timeout_seconds,
        reconnect_failed=reconnect_failed,
        open=True,
    )
    return pool


def connect(conninfo: str, **kwargs: Any) -> Conn:
    """One connection with dict rows, for commands that need no pool."""
    return psycopg.Connection[DictRow].connect(conninfo, row_factory=dict_row, **kwargs)


@contextmanager
def transaction(pool: ConnectionPool[Conn]) -> Iterator[Conn]:
    """One transaction: committed when the block ends, rolled back if it raises."""
    with pool.connection() as conn:
        yield conn


def act_as(conn: Conn, *, role: str, claims: dict[str, Any]) -> None:
    """Make the rest of the current transaction run as ``role`` with JWT ``claims``.

    Exactly what Supabase's PostgREST does per request: ``SET LOCAL ROLE`` plus
    the ``request.jwt.claims`` GUC that ``auth.uid()`` reads. Both are
    transaction-local, so they end with the transaction and cannot leak to the
    next user of a pooled connection. Must run inside a transaction.
    """
    if conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE and conn.autocommit:
        raise RuntimeError("act_as needs an open transaction; SET LOCAL would not stick")
    conn.execute(
        "select set_config('request.jwt.claims', %s, true), set_config('role', %s, true)",
        [json.dumps(claims), role],
    )


def act_as_broker(conn: Conn, broker_id: uuid.UUID) -> None:
    """Run the rest of the transaction as broker ``broker_id`` under RLS."""
    act_as(conn, role="authenticated", claims={"sub": str(broker_id), "role": "authenticated"})


@contextmanager
def as_broker(pool: ConnectionPool[Conn], broker_id: uuid.UUID) -> Iterator[Conn]:
    """A transaction in which the database sees broker ``broker_id``, and only their rows."""
    with transaction(pool) as conn:
        act_as_broker(conn, broker_id)
        yield conn
