"""Key rotation: re-wrap every stored ciphertext's data key under the active key.

Data is not re-encrypted (the data keys stay), so no plaintext is handled
and no associated data is needed. Work goes in batches of rows, each batch
its own transaction: the rotation can be stopped and resumed at any time
(only rows still under another key are selected), with no downtime, since
both keys decrypt throughout.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from psycopg import sql
from psycopg_pool import ConnectionPool

from equity_connect.db.pool import Conn
from equity_connect.security.crypto import PiiCipher


@dataclass(frozen=True)
class CipherColumn:
    """A column holding our ciphertexts, and its table's key."""

    table: str
    column: str
    key: str


CIPHER_COLUMNS: tuple[CipherColumn, ...] = (
    CipherColumn("leads", "email_ciphertext", "id"),
    CipherColumn("leads", "phone_ciphertext", "id"),
    CipherColumn("lead_contacts", "value_ciphertext", "id"),
    CipherColumn("upload_rows", "raw_ciphertext", "ctid"),
    CipherColumn("inbound_events", "payload_ciphertext", "id"),
    CipherColumn("skiptrace_requests", "response_ciphertext", "id"),
    CipherColumn("event_endpoints", "secret_ciphertext", "id"),
    CipherColumn("calcom_webhooks", "secret_ciphertext", "broker_id"),
)

# The key id is bytes 3.. of a v1 blob; its length is byte 2 (see crypto.py).
_KID = sql.SQL("convert_from(substring({col} from 3 for get_byte({col}, 1)), 'SQL_ASCII')")


def key_usage(conn: Conn) -> dict[str, int]:
    """How many stored ciphertexts each key id wraps, across every column."""
    usage: dict[str, int] = {}
    for c in CIPHER_COLUMNS:
        col = sql.Identifier(c.column)
        query = sql.SQL(
            "select {kid} as kid, count(*) as n from {table} where {col} is not null group by 1"
        ).format(kid=_KID.format(col=col), table=sql.Identifier(c.table), col=col)
        for r in conn.execute(query):
            usage[r["kid"]] = usage.get(r["kid"], 0) + r["n"]
    return usage


def rotate(
    pool: ConnectionPool[Conn],
    cipher: PiiCipher,
    *,
    batch_size: int = 2000,
    max_batches: int | None = None,
    on_batch: Callable[[str, int], None] | None = None,
) -> int:
    """Re-wrap every ciphertext not under the active key; returns how many were re-wrapped.

    ``max_batches`` stops early (an interrupted run); calling again resumes.
    """
    active = cipher.active_kid
    done = batches = 0
    for c in CIPHER_COLUMNS:
        col, table, key = sql.Identifier(c.column), sql.Identifier(c.table), sql.SQL(c.key)
        select = sql.SQL(
            "select {key} as k, {col} as blob from {table} "
            "where {col} is not null and {kid} <> %(active)s limit %(n)s for update skip locked"
        ).format(key=key, col=col, table=table, kid=_KID.format(col=col))
        update = sql.SQL("update {table} set {col} = %(blob)s where {key} = %(k)s").format(
            table=table, col=col, key=key
        )
        while max_batches is None or batches < max_batches:
            with pool.connection() as conn:
                rows = conn.execute(select, {"active": active, "n": batch_size}).fetchall()
                if not rows:
                    break
                with conn.cursor() as cur:
                    cur.executemany(
                        update, [{"k": r["k"], "blob": cipher.rewrap(r["blob"])} for r in rows]
                    )
            done += len(rows)
            batches += 1
            if on_batch is not None:
                on_batch(f"{c.table}.{c.column}", len(rows))
    return done
