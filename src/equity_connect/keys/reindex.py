"""Blind-index key rotation: recompute every index under the current EC_INDEX_KEY.

An index cannot be converted from one key to the other; it is recomputed from
the value, which is decrypted from its ciphertext (leads, their contacts, and
the suppression list, which keeps its values encrypted for exactly this).
Everything is re-indexed in the caller's one transaction: a suppression and
the lead it must match always change together, so no moment exists at which
an opted-out owner's new index fails to meet its suppression. Run it with
the API and workers stopped (or paused): lookups made with the new key
during the run would miss rows not yet re-indexed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from equity_connect.campaign.suppression import value_aad
from equity_connect.db.pool import Conn
from equity_connect.security.crypto import PiiCipher, aad_for
from equity_connect.security.pii import lead_contact

_BATCH = 5000


class ReindexError(Exception):
    """Re-indexing cannot be done safely (nothing was changed)."""


def reindex(
    conn: Conn, cipher: PiiCipher, *, on_batch: Callable[[str, int], None] | None = None
) -> dict[str, int]:
    """Recompute every blind index with ``cipher``'s index key; returns rows per table."""
    missing = conn.execute(
        "select count(*) as n from suppressions where value_ciphertext is null"
    ).fetchone()
    if missing and missing["n"]:
        raise ReindexError(
            f"{missing['n']} suppressions have no stored value and could not be re-indexed; "
            "re-keying would silently lift them"
        )
    counts = {
        "leads": _leads(conn, cipher, on_batch),
        "lead_contacts": _contacts(conn, cipher, on_batch),
        "suppressions": _suppressions(conn, cipher, on_batch),
    }
    return counts


Compute = Callable[[dict[str, Any]], tuple[object, ...]]


def _rekey(
    conn: Conn,
    table: str,
    *,
    temp: str,
    select: str,
    compute: Compute,
    update: str,
    on_batch: Callable[[str, int], None] | None,
) -> int:
    """Read ``select`` in batches, COPY ``compute(row)`` into a temp table, then apply
    ``update`` from it in one statement."""
    conn.execute(temp)  # fixed SQL from this module, no input
    done = 0
    with conn.cursor(name=f"reindex_{table}") as cur:
        cur.execute(select)
        while rows := cur.fetchmany(_BATCH):
            values = [compute(r) for r in rows]
            with conn.cursor().copy(f"copy reindex_{table} from stdin") as cp:
                for v in values:
                    cp.write_row(v)
            done += len(rows)
            if on_batch:
                on_batch(table, len(rows))
    conn.execute(update)
    return done


def _leads(conn: Conn, cipher: PiiCipher, on_batch: Callable[[str, int], None] | None) -> int:
    def compute(r: dict[str, Any]) -> tuple[object, ...]:
        indexes: list[bytes | None] = []
        for channel in ("email", "phone"):
            value = lead_contact(cipher, r, channel)
            indexes.append(None if value is None else cipher.blind_index(channel, value))
        return (r["id"], *indexes)

    return _rekey(
        conn,
        "leads",
        temp="create temp table reindex_leads (id uuid primary key, email_index bytea, "
        "phone_index bytea) on commit drop",
        select="select id, email_ciphertext, phone_ciphertext from leads "
        "where email_ciphertext is not null or phone_ciphertext is not null",
        compute=compute,
        update="update leads l set email_index = r.email_index, phone_index = r.phone_index "
        "from reindex_leads r where l.id = r.id",
        on_batch=on_batch,
    )


def _contacts(conn: Conn, cipher: PiiCipher, on_batch: Callable[[str, int], None] | None) -> int:
    # A contact's ciphertext is bound to its index (its row key), so it is
    # re-encrypted for the new one as well.
    def compute(r: dict[str, Any]) -> tuple[object, ...]:
        channel, lead_id = r["channel"], r["lead_id"]
        old = aad_for("lead_contacts", channel, f"{lead_id}:{bytes(r['value_index']).hex()}")
        value = cipher.decrypt(r["value_ciphertext"], old)
        index = cipher.blind_index(channel, value)
        new = aad_for("lead_contacts", channel, f"{lead_id}:{index.hex()}")
        return (r["id"], index, cipher.encrypt(value, new))

    return _rekey(
        conn,
        "lead_contacts",
        temp="create temp table reindex_lead_contacts (id bigint primary key, value_index bytea, "
        "value_ciphertext bytea) on commit drop",
        select="select id, lead_id, channel::text as channel, value_index, value_ciphertext "
        "from lead_contacts",
        compute=compute,
        update="update lead_contacts c set value_index = r.value_index, "
        "value_ciphertext = r.value_ciphertext from reindex_lead_contacts r where c.id = r.id",
        on_batch=on_batch,
    )


def _suppressions(
    conn: Conn, cipher: PiiCipher, on_batch: Callable[[str, int], None] | None
) -> int:
    def compute(r: dict[str, Any]) -> tuple[object, ...]:
        value = cipher.decrypt(r["value_ciphertext"], value_aad(r["channel"]))
        return (r["id"], cipher.blind_index(r["channel"], value))

    return _rekey(
        conn,
        "suppressions",
        temp="create temp table reindex_suppressions (id bigint primary key, value_index bytea) "
        "on commit drop",
        select="select id, channel::text as channel, value_ciphertext from suppressions",
        compute=compute,
        update="update suppressions s set value_index = r.value_index "
        "from reindex_suppressions r where s.id = r.id",
        on_batch=on_batch,
    )
