"""Bulk loads rebuild leads' indexes instead of updating them row by row.

The rebuild must be invisible in the result (same leads, same lineage, same
indexes afterwards), must give way to a lock it cannot get, and must only
happen when the upload is a large share of the table.
"""

from __future__ import annotations

import dataclasses

from psycopg import sql

from equity_connect.db.pool import Conn, connect
from equity_connect.ingest.service import IngestLimits, UploadReport
from equity_connect.security.crypto import PiiCipher
from tests.ingest.helpers import csv_bytes, lineage, row, run_ingest

# Whatever the table's size estimate (other tests' ANALYZE leaves it behind).
BULK = IngestLimits(bulk_index_min_rows=1, bulk_index_min_share=0)
ROW_BY_ROW = IngestLimits(bulk_index_min_rows=None)


def sample_rows(tag: str) -> list[dict[str, str]]:
    """Singletons, in-file duplicates by each key, and a transitive chain."""
    rows = [row(mak=f"{tag}{i:06d}", property_address=f"{i + 1} Oak Ave") for i in range(40)]
    rows += [
        row(mak=f"{tag}000003", property_address="77 Birch Ln", owner_age="70"),
        row(apn="1234-567-890", county_fips="06037", property_address="5 Elm St"),
        row(apn="1234567890", county_fips="06037", property_address="6 Elm St"),
        row(property_address="6 ELM STREET", email="owner@example.com"),
        row(property_address="9 Pine St", property_zip="90002"),
    ]
    return rows


def indexes(conn: Conn) -> list[tuple[str, str]]:
    return [
        (r["indexname"], r["indexdef"])
        for r in conn.execute(
            "select indexname, indexdef from pg_indexes "
            "where schemaname = 'public' and tablename = 'leads' order by indexname"
        )
    ]


def outcome(conn: Conn, report: UploadReport) -> tuple[object, ...]:
    """What an upload produced, independent of generated ids."""
    lines = [
        (r["row_number"], r["status"], r["match_key"], r["field"])
        for r in lineage(conn, report.upload_id)
    ]
    leads = conn.execute(
        "select mak, county_fips, apn_normalized, property_address, owner_age, "
        "email_index is not null as has_email from leads order by property_address, mak"
    ).fetchall()
    return (report.rows, report.inserted, report.merged, report.rejected), lines, leads


def rebuilt(conn: Conn, report: UploadReport) -> bool:
    found = conn.execute(
        "select count(*) as n from pipeline_events "
        "where upload_id = %s and outcome = 'indexes_rebuilt'",
        [report.upload_id],
    ).fetchone()
    return found is not None and found["n"] == 1


def test_bulk_load_gives_the_same_result_and_restores_every_index(
    conn: Conn, cipher: PiiCipher
) -> None:
    body = csv_bytes(sample_rows("31"))
    before = indexes(conn)
    with conn.transaction(force_rollback=True):
        plain = run_ingest(conn, cipher, body, limits=ROW_BY_ROW)
        assert not rebuilt(conn, plain)
        expected = outcome(conn, plain)
    bulk = run_ingest(conn, cipher, body, limits=BULK)
    assert rebuilt(conn, bulk)
    assert outcome(conn, bulk) == expected
    assert indexes(conn) == before
    # The rebuilt unique indexes still refuse a second lead with the same key.
    again = run_ingest(conn, cipher, csv_bytes([row(mak="31000003", property_address="1 X St")]))
    assert (again.inserted, again.merged) == (0, 1)


def index_oids(conn: Conn) -> dict[str, tuple[int, bool, bool, str | None]]:
    """Each leads index: its oid (new when rebuilt), valid, primary, and its predicate."""
    return {
        r["name"]: (r["oid"], r["valid"], r["primary"], r["predicate"])
        for r in conn.execute(
            "select c.relname as name, c.oid::bigint as oid, i.indisvalid and i.indisready "
            "as valid, i.indisprimary as primary, pg_get_expr(i.indpred, i.indrelid) as predicate "
            "from pg_index i join pg_class c on c.oid = i.indexrelid "
            "where i.indrelid = 'public.leads'::regclass"
        )
    }


def test_bulk_load_rebuilds_every_index_a_new_lead_enters(conn: Conn, cipher: PiiCipher) -> None:
    # An index no list names (as a later migration would add, like the
    # blocking indexes of 0022 once were) is rebuilt as well.
    conn.execute("create index leads_test_owner_age_idx on public.leads (owner_age)")
    before = index_oids(conn)
    definitions = indexes(conn)
    report = run_ingest(conn, cipher, csv_bytes(sample_rows("38")), limits=BULK)
    assert rebuilt(conn, report)
    after = index_oids(conn)
    assert after.keys() == before.keys()
    assert indexes(conn) == definitions
    assert all(valid for _, valid, _, _ in after.values())
    kept = {name for name in after if after[name][0] == before[name][0]}
    assert {
        "leads_test_owner_age_idx",
        "leads_block_zip_number_idx",
        "leads_block_zip_street_idx",
        "leads_block_zip_surname_idx",
        "leads_block_city_number_idx",
        "leads_mak_key",
    }.isdisjoint(kept)
    for name in kept:
        _, _, primary, predicate = after[name]
        if primary:
            continue  # uuid7 ids fill the primary key at its right edge
        # Kept only if this upload's leads never enter it.
        assert predicate is not None, f"{name} is entered by every lead but was not rebuilt"
        entered = conn.execute(
            sql.SQL("select count(*) as n from public.leads where first_upload_id = %s and ({})")
            .format(sql.SQL(predicate))  # the catalog's own text, in a test only
            .as_string(conn),
            [report.upload_id],
        ).fetchone()
        assert entered == {"n": 0}, f"new leads enter {name}, which was not rebuilt"
    # The rebuilt indexes serve their queries: a blocking-key lookup finds the lead.
    found = conn.execute(
        "select count(*) as n from leads where property_zip = '90002' "
        "and split_part(property_address, ' ', 1) = '9'"
    ).fetchone()
    assert found == {"n": 1}


def test_bulk_load_goes_row_by_row_when_the_lock_is_not_granted(
    conn: Conn, cipher: PiiCipher, database_url: str
) -> None:
    before = indexes(conn)
    with connect(database_url) as reader:
        reader.execute("select count(*) from leads")  # holds ACCESS SHARE until rollback
        limits = dataclasses.replace(BULK, bulk_lock_timeout="50ms")
        report = run_ingest(conn, cipher, csv_bytes(sample_rows("32")), limits=limits)
        reader.rollback()
    assert not rebuilt(conn, report)
    assert (report.inserted, report.merged, report.rejected) == (42, 3, 0)
    assert indexes(conn) == before
    timeout = conn.execute("select current_setting('lock_timeout') as v").fetchone()
    assert timeout == {"v": "0"}  # the short wait did not leak into the rest of the upload


def test_bulk_load_gives_way_to_a_shorter_statement_timeout(
    conn: Conn, cipher: PiiCipher, database_url: str
) -> None:
    # The lock wait is cut short by statement_timeout (QueryCanceled), not
    # by lock_timeout: the upload still goes on, row by row.
    conn.execute("select set_config('statement_timeout', '300ms', true)")
    with connect(database_url) as reader:
        reader.execute("select count(*) from leads")
        limits = dataclasses.replace(BULK, bulk_lock_timeout="30s")
        report = run_ingest(conn, cipher, csv_bytes(sample_rows("37")), limits=limits)
        reader.rollback()
    assert not rebuilt(conn, report)
    assert (report.inserted, report.merged, report.rejected) == (42, 3, 0)


def test_small_share_of_a_large_table_is_loaded_row_by_row(conn: Conn, cipher: PiiCipher) -> None:
    first = run_ingest(conn, cipher, csv_bytes(sample_rows("33")), limits=BULK)
    assert rebuilt(conn, first)
    conn.execute("analyze leads")
    limits = dataclasses.replace(BULK, bulk_index_min_share=1 / 3)
    small = run_ingest(
        conn, cipher, csv_bytes([row(mak="3399999", property_address="1 New St")]), limits=limits
    )
    assert not rebuilt(conn, small)
    assert small.inserted == 1


def test_deleting_an_upload_deletes_its_lineage(conn: Conn, cipher: PiiCipher) -> None:
    report = run_ingest(conn, cipher, csv_bytes(sample_rows("34")))
    assert lineage(conn, report.upload_id)
    conn.execute("delete from uploads where id = %s", [report.upload_id])
    assert lineage(conn, report.upload_id) == []


def test_truncating_uploads_empties_the_lineage(conn: Conn, cipher: PiiCipher) -> None:
    report = run_ingest(conn, cipher, csv_bytes(sample_rows("35")))
    assert lineage(conn, report.upload_id)
    conn.execute("truncate uploads")
    assert conn.execute("select count(*) as n from upload_rows").fetchone() == {"n": 0}


def test_a_never_analyzed_table_is_counted_not_taken_for_empty(
    fresh_database_url: str, cipher: PiiCipher
) -> None:
    with connect(fresh_database_url) as fresh:
        never = fresh.execute(
            "select reltuples from pg_class where oid = 'public.leads'::regclass"
        ).fetchone()
        assert never == {"reltuples": -1}
        run_ingest(fresh, cipher, csv_bytes(sample_rows("36")), limits=ROW_BY_ROW)
        limits = dataclasses.replace(BULK, bulk_index_min_share=1 / 3)
        small = run_ingest(
            fresh,
            cipher,
            csv_bytes([row(mak="36999999", property_address="2 New St")]),
            limits=limits,
        )
        assert not rebuilt(fresh, small)
        fresh.rollback()
