"""No plaintext PII and no key material at rest, in activity views or in logs."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from psycopg.types.json import Jsonb

from equity_connect.db import embedded, migrate
from equity_connect.db.pool import Conn, connect
from equity_connect.security.crypto import Keyring, PiiCipher
from tests.factories import make_broker, make_lead


def key_strings(keyring: Keyring) -> list[str]:
    """Every form a key could leak in: base64 (as configured) and hex."""
    raw = [*keyring.keys.values(), keyring.index_key]
    return [base64.b64encode(k).decode() for k in raw] + [k.hex() for k in raw]


def table_dump(conn: Conn) -> str:
    """Every row of every table and materialized view in public, as text."""
    relations = [
        r["relname"]
        for r in conn.execute(
            "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            "where n.nspname = 'public' and c.relkind in ('r', 'm')"
        )
    ]
    assert "leads" in relations
    parts = []
    for rel in relations:
        rows = conn.execute(f'select t::text as row from public."{rel}" t')
        parts.extend(r["row"] for r in rows)
    return "\n".join(parts)


def canaries() -> tuple[str, str]:
    tag = uuid.uuid4().hex[:12]
    return f"canary.{tag}@example.com", f"+1555{int(tag[:7], 16) % 10_000_000:07d}"


def test_canary_pii_and_keys_absent_from_every_table(
    conn: Conn, cipher: PiiCipher, keyring: Keyring
) -> None:
    email, phone = canaries()
    lead = make_lead(conn, make_broker(conn), cipher=cipher, email=email, phone=phone)
    conn.execute("refresh materialized view mv_contactable_leads")
    dump = table_dump(conn)
    assert str(lead) in dump  # the scan covered the lead's row
    for secret in (email, phone, phone[2:], *key_strings(keyring)):
        assert secret not in dump

    # Control: the scan does find PII that a careless writer stored in clear.
    with conn.transaction(force_rollback=True):
        make_lead(conn, raw=Jsonb({"note": email}))
        assert email in table_dump(conn)


def test_canary_absent_from_pg_stat_activity(
    conn: Conn, database_url: str, cipher: PiiCipher, keyring: Keyring
) -> None:
    email, phone = canaries()
    make_lead(conn, cipher=cipher, email=email, phone=phone)
    with connect(database_url, autocommit=True) as observer:
        queries = [
            r["query"] or ""
            for r in observer.execute("select query from pg_stat_activity where query <> ''")
        ]
    assert any("insert into leads" in q for q in queries)  # it saw our session's statement
    for q in queries:
        for secret in (email, phone, *key_strings(keyring)):
            assert secret not in q


@pytest.fixture
def logging_cluster(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A private embedded cluster with log_statement=all, deleted afterwards."""
    pgdata = tmp_path / "pg"
    url = embedded.start(pgdata)
    try:
        with connect(url, autocommit=True) as admin:
            admin.execute("alter system set log_statement = 'all'")
            admin.execute("select pg_reload_conf()")
        migrate.migrate(url)
        yield url, pgdata / "log"
    finally:
        embedded.stop(pgdata)


def test_server_log_with_log_statement_all_holds_no_pii_or_keys(
    logging_cluster: tuple[str, Path], keyring: Keyring
) -> None:
    url, log_file = logging_cluster
    email, phone = canaries()
    probe = f"log-probe-{uuid.uuid4().hex}"
    with connect(url) as conn:
        conn.execute("select %s::text", [probe])
        make_lead(conn, make_broker(conn), cipher=PiiCipher(keyring), email=email, phone=phone)
        conn.commit()
    log = log_file.read_text(errors="replace")
    assert probe in log, "the log must capture statements for this test to mean anything"
    assert "insert into leads" in log
    for secret in (email, phone, *key_strings(keyring)):
        assert secret not in log
