"""Unknown CSV columns (vendor free text): encrypted per lead, never in clear at rest."""

from __future__ import annotations

import json
import uuid

import pytest
from psycopg.types.json import Jsonb

from equity_connect.db.pool import Conn
from equity_connect.ingest.extras import encrypt_legacy_extras
from equity_connect.security.crypto import DecryptionError, PiiCipher, aad_for
from equity_connect.security.pii import lead_extras
from tests.ingest.helpers import csv_bytes, lineage, run_ingest

# The free-text values, and more of the same: contact details in
# shapes a pattern filter misses (it kept 6 of 8 of them in clear).
FREE_TEXT = {
    "notes": "Cell: 415.867.5309",
    "memo": "call 4158675309 after 5",
    "comments": "prefers x at y dot com",
    "remarks": "son's email kid@example.com",
    "column_7": "(213) 555-0199",
    "phone2": "2135550100",
    "misc": "wk 415 867 5310 ext 4",
    "lot_size": "7200",
}
CANARIES = ["8675309", "4158675309", "y dot com", "kid@example", "555-0199", "2135550100", "5310"]


def ingest_one(conn: Conn, cipher: PiiCipher, extras: dict[str, str], **values: str) -> uuid.UUID:
    columns = ["mak", "property_address", "property_zip", *extras]
    body = csv_bytes(
        [{"property_address": "5 Lot Ln", "property_zip": "90005", **values, **extras}], columns
    )
    report = run_ingest(conn, cipher, body)
    assert report.rejected == 0
    [line] = lineage(conn, report.upload_id)
    lead_id = line["lead_id"]
    assert isinstance(lead_id, uuid.UUID)
    return lead_id


def test_free_text_columns_are_encrypted_bound_to_the_lead(conn: Conn, cipher: PiiCipher) -> None:
    lead_id = ingest_one(conn, cipher, FREE_TEXT)
    row = conn.execute("select * from leads where id = %s", [lead_id]).fetchone()
    assert row is not None
    assert row["raw"] == {}
    at_rest = json.dumps({k: str(v) for k, v in row.items()}) + str(
        conn.execute("select notes from upload_rows where lead_id = %s", [lead_id]).fetchall()
    )
    assert not [c for c in CANARIES if c in at_rest]  # 0 of 8 values in clear
    assert lead_extras(cipher, row) == FREE_TEXT  # 8 of 8 kept
    # Bound to this lead: the same ciphertext on another lead does not decrypt.
    with pytest.raises(DecryptionError):
        cipher.decrypt(row["raw_extra_ciphertext"], aad_for("leads", "raw_extra", uuid.uuid4()))


def test_no_unknown_columns_no_ciphertext(conn: Conn, cipher: PiiCipher) -> None:
    lead_id = ingest_one(conn, cipher, {})
    row = conn.execute("select raw, raw_extra_ciphertext from leads where id = %s", [lead_id])
    assert row.fetchone() == {"raw": {}, "raw_extra_ciphertext": None}


def test_merged_rows_fold_their_extras_later_wins(conn: Conn, cipher: PiiCipher) -> None:
    columns = ["mak", "property_address", "property_zip", "notes", "memo", "tag"]
    first = {"mak": "3100000001", "property_address": "1 A St", "property_zip": "90001"}
    body = csv_bytes(
        [
            {**first, "notes": "first note", "memo": "call 4158675309"},
            {**first, "notes": "second note", "tag": "vip"},
        ],
        columns,
    )
    report = run_ingest(conn, cipher, body)
    assert (report.inserted, report.merged) == (1, 1)
    row = conn.execute("select * from leads where mak = '3100000001'").fetchone()
    assert row is not None
    assert lead_extras(cipher, row) == {
        "notes": "second note",
        "memo": "call 4158675309",
        "tag": "vip",
    }
    # A later upload matching the lead folds in too, over its old clear values.
    conn.execute(
        "update leads set raw = %s where id = %s", [Jsonb({"legacy": "old", "tag": "x"}), row["id"]]
    )
    again = csv_bytes([{**first, "notes": "third note"}], columns)
    assert run_ingest(conn, cipher, again).merged == 1
    row = conn.execute("select * from leads where id = %s", [row["id"]]).fetchone()
    assert row is not None
    assert row["raw"] == {}
    assert lead_extras(cipher, row) == {
        "legacy": "old",
        "notes": "third note",
        "memo": "call 4158675309",
        "tag": "vip",
    }


def test_legacy_clear_values_are_moved_into_the_ciphertext(conn: Conn, cipher: PiiCipher) -> None:
    lead_id = ingest_one(conn, cipher, {"notes": "encrypted already"})
    plain = uuid.uuid4()
    conn.execute(
        "insert into leads (id, property_address, raw) values (%s, '9 Old Rd', %s)",
        [plain, Jsonb({"memo": "call 4158675309"})],
    )
    conn.execute(
        "update leads set raw = %s where id = %s", [Jsonb({"notes": "stale", "x": "1"}), lead_id]
    )
    assert encrypt_legacy_extras(conn, cipher, limit=1) == 1
    assert encrypt_legacy_extras(conn, cipher) == 1
    assert encrypt_legacy_extras(conn, cipher) == 0  # done: re-running is a no-op
    rows = {
        r["id"]: r
        for r in conn.execute("select * from leads where id = any(%s)", [[lead_id, plain]])
    }
    assert all(r["raw"] == {} for r in rows.values())
    assert lead_extras(cipher, rows[plain]) == {"memo": "call 4158675309"}
    assert lead_extras(cipher, rows[lead_id]) == {"notes": "encrypted already", "x": "1"}


def test_rebinding_and_extras_stream_across_batches(
    conn: Conn, cipher: PiiCipher, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Batches of 2 (instead of thousands): more merged leads than a batch,
    # with both PII channels moved, still all land bound to their own lead.
    from equity_connect.ingest import service

    monkeypatch.setattr(service, "_BATCH", 2)
    columns = ["mak", "property_address", "property_zip", "email", "phone", "notes"]
    rows = []
    for i in range(5):
        base = {"mak": f"32000000{i:02d}", "property_address": f"{i + 1} B St"}
        rows.append({**base, "property_zip": "90001", "notes": f"first {i}"})
        rows.append(
            {
                **base,
                "property_zip": "90001",
                "email": f"owner{i}@example.com",
                "phone": f"(213) 555-01{i:02d}",
                "notes": f"second {i}",
            }
        )
    report = run_ingest(conn, cipher, csv_bytes(rows, columns))
    assert (report.inserted, report.merged) == (5, 5)
    for i in range(5):
        lead = conn.execute("select * from leads where mak = %s", [f"32000000{i:02d}"]).fetchone()
        assert lead is not None
        email = cipher.decrypt(lead["email_ciphertext"], aad_for("leads", "email", lead["id"]))
        phone = cipher.decrypt(lead["phone_ciphertext"], aad_for("leads", "phone", lead["id"]))
        assert (email, phone) == (f"owner{i}@example.com", f"+121355501{i:02d}")
        assert lead_extras(cipher, lead) == {"notes": f"second {i}"}
