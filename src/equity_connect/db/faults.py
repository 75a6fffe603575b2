"""Telling a lost database connection from every other database error.

A pooler restart, a failover or an idle timeout ends backends without
warning; the client sees an ``OperationalError`` with no SQLSTATE (the
socket closed), a class 08 "connection exception", or one of the 57P
"operator intervention" codes (``pg_terminate_backend`` sends 57P01). Those
say nothing about the work itself, so callers retry it elsewhere; a
statement timeout or a lock timeout (also ``OperationalError``) does say
something about the work and is not counted here.
"""

from __future__ import annotations

import psycopg
from psycopg_pool import PoolTimeout

# 57P01 admin_shutdown (pg_terminate_backend, smart/fast shutdown),
# 57P02 crash_shutdown, 57P03 cannot_connect_now (starting up / recovery).
_LOST_STATES = frozenset({"57P01", "57P02", "57P03"})


def is_connection_lost(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) means the database went away, not the work failed."""
    seen: BaseException | None = exc
    for _ in range(5):  # a task may wrap the driver's error; follow a short cause chain
        if seen is None:
            return False
        if _lost(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _lost(exc: BaseException) -> bool:
    if isinstance(exc, PoolTimeout):  # no connection could be had in time
        return True
    if isinstance(exc, psycopg.InterfaceError):  # "the connection is closed"
        return True
    if isinstance(exc, psycopg.OperationalError):
        state = exc.sqlstate
        return state is None or state.startswith("08") or state in _LOST_STATES
    return False


def describe_connection_error(exc: BaseException) -> str:
    """The driver's first line (it names host and port, never the password)."""
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    return f"{type(exc).__name__}: {first}"[:300] if first else type(exc).__name__
