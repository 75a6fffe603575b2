"""Which database errors mean "the connection is gone" (retry elsewhere, no attempt spent)."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import errors
from psycopg_pool import PoolTimeout

from equity_connect.db.faults import is_connection_lost
from equity_connect.db.pool import Conn, connect


def test_terminated_backend_is_a_lost_connection(database_url: str) -> None:
    with connect(database_url, autocommit=True) as victim:
        with pytest.raises(psycopg.OperationalError) as raised:
            victim.execute("select pg_terminate_backend(pg_backend_pid())")
        assert is_connection_lost(raised.value)
        with pytest.raises(psycopg.Error) as again:  # the dead connection, used again
            victim.execute("select 1")
        assert is_connection_lost(again.value)


def test_statement_timeout_is_not_a_lost_connection(conn: Conn) -> None:
    conn.execute("set local statement_timeout = '10ms'")
    with pytest.raises(errors.QueryCanceled) as raised:
        conn.execute("select pg_sleep(1)")
    assert not is_connection_lost(raised.value)


def test_refused_connection_and_pool_timeout_are_lost_connections() -> None:
    with pytest.raises(psycopg.OperationalError) as raised:
        psycopg.connect("postgresql://postgres@127.0.0.1:1/x", connect_timeout=2)
    assert is_connection_lost(raised.value)
    assert is_connection_lost(PoolTimeout("couldn't get a connection after 2.00 sec"))


def test_a_wrapped_lost_connection_is_seen_through_its_cause() -> None:
    wrapped = RuntimeError("task failed")
    wrapped.__cause__ = errors.AdminShutdown("terminating connection due to administrator command")
    assert is_connection_lost(wrapped)
    assert not is_connection_lost(ValueError("bad input"))
    assert not is_connection_lost(errors.LockNotAvailable("lock timeout"))
