"""Test fixtures: a real PostgreSQL, never a mock of it.

The server is the one every command uses: ``DATABASE_URL`` when set (CI's
system PostgreSQL), otherwise the embedded cluster in ``.data/pg``. Each test
session (each pytest-xdist worker is one) creates its own throwaway database
on it and migrates it, so runs never see each other's data and the
developer's demo data is untouched.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from equity_connect.config import Settings
from equity_connect.db import migrate
from equity_connect.db.pool import Conn, connect
from equity_connect.db.url import resolve_owner_url
from equity_connect.security.crypto import Keyring, PiiCipher, generate_key


@pytest.fixture(scope="session")
def server_url() -> str:
    """Maintenance URL of the PostgreSQL server under test (a superuser's)."""
    return resolve_owner_url(Settings())


def create_database(server_url: str, name: str) -> str:
    """Create an empty database on the server and return its URL."""
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    return make_conninfo(server_url, dbname=name)


def drop_database(server_url: str, name: str) -> None:
    """Drop a database made by ``create_database``, disconnecting stragglers."""
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(
            sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
        )


@pytest.fixture(scope="session")
def database_url(server_url: str) -> Iterator[str]:
    """A migrated database for this test session, dropped at the end."""
    name = f"ec_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    url = create_database(server_url, name)
    migrate.migrate(url)
    yield url
    drop_database(server_url, name)


@pytest.fixture
def conn(database_url: str) -> Iterator[Conn]:
    """A connection inside a transaction that is rolled back after the test."""
    connection = connect(database_url)
    try:
        yield connection
    finally:
        connection.rollback()
        connection.close()


@pytest.fixture(scope="session")
def keyring() -> Keyring:
    """Fresh random keys for the session (no key is ever shared with a real deployment)."""
    return Keyring.from_values(f"k1:{generate_key()}", generate_key())


@pytest.fixture
def cipher(keyring: Keyring) -> PiiCipher:
    """A PII cipher over the session's keys."""
    return PiiCipher(keyring)


@pytest.fixture
def fresh_database_url(server_url: str) -> Iterator[str]:
    """A migrated database of this test's own, for tests that must commit."""
    name = f"ec_fresh_{uuid.uuid4().hex[:12]}"
    url = create_database(server_url, name)
    migrate.migrate(url)
    yield url
    drop_database(server_url, name)
