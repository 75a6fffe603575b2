"""The ingest pipeline on the real database: dedupe, merge rules, lineage, rejects."""

from __future__ import annotations

import json
import uuid

from equity_connect.config import Settings
from equity_connect.db.pool import Conn
from equity_connect.ingest.schemas import UploadStatus
from equity_connect.ingest.service import IngestLimits
from equity_connect.ingest.staging import default_workers
from equity_connect.security.crypto import PiiCipher, aad_for
from tests.ingest.helpers import csv_bytes, lineage, row, run_ingest


def lead_count(conn: Conn) -> int:
    found = conn.execute("select count(*) as n from leads").fetchone()
    assert found is not None
    return int(found["n"])


def test_every_row_is_accounted_for(conn: Conn, cipher: PiiCipher) -> None:
    rows = [row(mak=f"10{i:08d}", property_address=f"{i + 1} Oak Ave") for i in range(50)]
    rows[10]["property_zip"] = "ABCDE"  # rejected: bad ZIP
    rows[20]["estimated_value"] = "lots"  # rejected: not a number
    report = run_ingest(conn, cipher, csv_bytes(rows))
    assert report.status is UploadStatus.COMPLETED
    assert (report.rows, report.inserted, report.merged, report.rejected) == (50, 48, 0, 2)
    lines = lineage(conn, report.upload_id)
    assert [r["row_number"] for r in lines] == list(range(1, 51))
    rejected = {r["row_number"]: r for r in lines if r["status"] == "rejected"}
    assert set(rejected) == {11, 21}
    assert rejected[11]["field"] == "property_zip"
    assert rejected[21]["field"] == "estimated_value"
    assert all(r["lead_id"] is not None for r in lines if r["status"] == "inserted")
    assert lead_count(conn) == 48


def test_same_bytes_twice_is_a_no_op(conn: Conn, cipher: PiiCipher) -> None:
    body = csv_bytes([row(mak="1000000001"), row(mak="1000000002", property_address="9 Elm St")])
    first = run_ingest(conn, cipher, body)
    second = run_ingest(conn, cipher, body)
    assert second.duplicate_upload
    assert second.upload_id == first.upload_id
    assert (second.rows, second.inserted, second.merged) == (first.rows, first.inserted, 0)
    assert lead_count(conn) == 2
    uploads = conn.execute("select count(*) as n from uploads").fetchone()
    assert uploads == {"n": 1}


def test_in_file_dedupe_by_each_key_and_transitively(conn: Conn, cipher: PiiCipher) -> None:
    rows = [
        # one property seen three ways, linked transitively
        row(mak="2000000001", property_address="10 N Main Street Apt 4"),
        row(apn="1111-222-333", county_fips="06037", property_address="10 NORTH MAIN ST #4"),
        row(apn="1111222333", county_fips="06037", property_address="999 Other Rd"),
        # another property: same MAK twice
        row(mak="2000000002", property_address="20 Pine St"),
        row(mak="2000000002", property_address="20 Pine Street", owner_age="70"),
    ]
    report = run_ingest(conn, cipher, csv_bytes(rows))
    assert (report.inserted, report.merged) == (2, 3)
    lines = lineage(conn, report.upload_id)
    assert lines[0]["lead_id"] == lines[1]["lead_id"] == lines[2]["lead_id"]
    assert lines[3]["lead_id"] == lines[4]["lead_id"] != lines[0]["lead_id"]
    assert [r["status"] for r in lines] == ["inserted", "merged", "merged", "inserted", "merged"]
    assert lines[2]["match_key"] == "apn"
    assert lines[4]["match_key"] == "mak"
    merged = conn.execute(
        "select mak, apn_normalized, owner_age from leads where id = %s", [lines[3]["lead_id"]]
    ).fetchone()
    assert merged == {"mak": "2000000002", "apn_normalized": None, "owner_age": 70}


def test_traps_that_must_not_merge(conn: Conn, cipher: PiiCipher) -> None:
    rows = [
        row(apn="5555-001", county_fips="06037", property_address="1 A St"),
        row(apn="5555-001", county_fips="06073", property_address="2 B St"),  # other county
        row(property_address="300 Main St Apt 4"),
        row(property_address="300 Main St Apt 5"),  # other unit
        row(property_address="302 Main St Apt 4"),  # neighbour number
        row(property_address="300 Main St Apt 4", property_zip="90002"),  # other ZIP
        row(property_address="300 S Main St Apt 4"),  # other directional
    ]
    report = run_ingest(conn, cipher, csv_bytes(rows))
    assert (report.inserted, report.merged, report.rejected) == (7, 0, 0)


def test_rows_match_existing_leads_and_blanks_never_overwrite(
    conn: Conn, cipher: PiiCipher
) -> None:
    first = run_ingest(
        conn,
        cipher,
        csv_bytes(
            [
                row(
                    mak="3000000001",
                    owner_first_name="Ada",
                    estimated_value="500000",
                    owner_age="80",
                )
            ]
        ),
    )
    lead = lineage(conn, first.upload_id)[0]["lead_id"]
    second = run_ingest(
        conn,
        cipher,
        csv_bytes(
            [
                row(
                    mak="3000000001",
                    owner_first_name="",
                    estimated_value="650000",
                    apn="777-1",
                    county_fips="06037",
                )
            ]
        ),
    )
    assert (second.inserted, second.merged) == (0, 1)
    [line] = lineage(conn, second.upload_id)
    assert line["lead_id"] == lead
    assert line["match_key"] == "mak"
    got = conn.execute(
        "select owner_first_name, estimated_value, owner_age, apn_normalized from leads "
        "where id = %s",
        [lead],
    ).fetchone()
    assert got == {
        "owner_first_name": "Ada",  # blank did not overwrite
        "estimated_value": 650000,  # newer non-blank value won
        "owner_age": 80,
        "apn_normalized": "7771",  # a key the lead lacked was filled in
    }


def test_an_apn_without_a_county_is_not_blanked_by_a_merge(conn: Conn, cipher: PiiCipher) -> None:
    first = run_ingest(conn, cipher, csv_bytes([row(mak="3100000001", apn="555-12")]))
    lead = lineage(conn, first.upload_id)[0]["lead_id"]
    second = run_ingest(conn, cipher, csv_bytes([row(mak="3100000001", owner_age="71")]))
    assert (second.inserted, second.merged) == (0, 1)
    got = conn.execute("select apn, owner_age from leads where id = %s", [lead]).fetchone()
    assert got == {"apn": "555-12", "owner_age": 71}


def test_a_key_held_by_another_lead_is_not_stolen(conn: Conn, cipher: PiiCipher) -> None:
    run_ingest(
        conn,
        cipher,
        csv_bytes(
            [
                row(mak="4000000001", property_address="1 First St"),
                row(property_address="77 Seventh Ave", property_zip="90077"),
            ]
        ),
    )
    # Matches lead A by MAK while its address belongs to lead B.
    report = run_ingest(
        conn,
        cipher,
        csv_bytes([row(mak="4000000001", property_address="77 Seventh Ave", property_zip="90077")]),
    )
    assert (report.inserted, report.merged) == (0, 1)
    assert lead_count(conn) == 2
    hashes = conn.execute("select count(distinct addr_hash) as n from leads").fetchone()
    assert hashes == {"n": 2}


def test_pii_is_encrypted_and_bound_to_its_final_lead(conn: Conn, cipher: PiiCipher) -> None:
    rows = [
        row(mak="5000000001", email=""),
        row(mak="5000000001", email="Owner@Example.com ", phone="(213) 555-0147"),
    ]
    report = run_ingest(conn, cipher, csv_bytes(rows))
    lead_id = lineage(conn, report.upload_id)[0]["lead_id"]
    got = conn.execute(
        "select email_ciphertext, email_index, phone_ciphertext, phone_index from leads "
        "where id = %s",
        [lead_id],
    ).fetchone()
    assert got is not None
    # The email came from row 2 but lives on row 1's lead: re-bound to it.
    assert cipher.decrypt(got["email_ciphertext"], aad_for("leads", "email", lead_id)) == (
        "owner@example.com"
    )
    assert got["email_index"] == cipher.blind_index("email", "owner@example.com")
    assert cipher.decrypt(got["phone_ciphertext"], aad_for("leads", "phone", lead_id)) == (
        "+12135550147"
    )
    assert got["phone_index"] == cipher.blind_index("phone", "+12135550147")


def test_invalid_contact_values_are_dropped_with_a_note(conn: Conn, cipher: PiiCipher) -> None:
    report = run_ingest(conn, cipher, csv_bytes([row(email="not-an-email", phone="12")]))
    assert report.inserted == 1
    [line] = lineage(conn, report.upload_id)
    assert "email dropped" in str(line["notes"])
    assert "phone dropped" in str(line["notes"])
    assert "not-an-email" not in str(line["notes"])
    got = conn.execute("select email_ciphertext, phone_ciphertext from leads").fetchone()
    assert got == {"email_ciphertext": None, "phone_ciphertext": None}


def test_rejected_rows_keep_their_cells_encrypted_for_replay(conn: Conn, cipher: PiiCipher) -> None:
    rows = [row(property_state="ZZ", email="keep@me.com"), row(mak="6000000001")]
    report = run_ingest(conn, cipher, csv_bytes(rows))
    assert (report.inserted, report.rejected) == (1, 1)
    got = conn.execute(
        "select row_number, raw_ciphertext, reason from upload_rows where status = 'rejected'"
    ).fetchone()
    assert got is not None
    assert b"keep@me.com" not in got["raw_ciphertext"]
    aad = aad_for("upload_rows", "raw", f"{report.upload_id}:{got['row_number']}")
    cells = json.loads(cipher.decrypt(got["raw_ciphertext"], aad))
    assert cells["email"] == "keep@me.com"
    assert cells["property_state"] == "ZZ"


def test_file_level_fault_records_a_failed_upload_and_no_leads(
    conn: Conn, cipher: PiiCipher
) -> None:
    body = b"name,favourite_colour\nAda,blue\n"
    report = run_ingest(conn, cipher, body)
    assert report.status is UploadStatus.FAILED
    assert report.error is not None and "property_address" in report.error
    assert lead_count(conn) == 0
    stored = conn.execute("select status, error from uploads where id = %s", [report.upload_id])
    assert stored.fetchone() == {"status": "failed", "error": report.error}


def test_row_cap_fails_the_upload_and_keeps_nothing(conn: Conn, cipher: PiiCipher) -> None:
    rows = [row(mak=f"70{i:08d}", property_address=f"{i + 1} Cap St") for i in range(6)]
    report = run_ingest(conn, cipher, csv_bytes(rows), limits=IngestLimits(max_rows=5))
    assert report.status is UploadStatus.FAILED
    assert lead_count(conn) == 0
    assert lineage(conn, report.upload_id) == []


def test_header_only_and_empty_files(conn: Conn, cipher: PiiCipher) -> None:
    header_only = run_ingest(conn, cipher, csv_bytes([]))
    assert (header_only.status, header_only.rows) == (UploadStatus.COMPLETED, 0)
    empty = run_ingest(conn, cipher, b"")
    assert empty.status is UploadStatus.FAILED
    assert empty.error is not None and "empty" in empty.error


def test_events_record_each_stage(conn: Conn, cipher: PiiCipher) -> None:
    report = run_ingest(conn, cipher, csv_bytes([row(mak="8000000001"), row(property_zip="x")]))
    events = conn.execute(
        "select stage, outcome, count from pipeline_events where upload_id = %s order by id",
        [report.upload_id],
    ).fetchall()
    seen = {(e["stage"], e["outcome"]): e["count"] for e in events}
    assert seen[("upload", "received")] == 1
    assert seen[("ingest", "staged")] == 1
    assert seen[("ingest", "rejected")] == 1
    assert seen[("dedupe", "inserted")] == 1


def test_lead_ids_are_fresh_uuids(conn: Conn, cipher: PiiCipher) -> None:
    report = run_ingest(conn, cipher, csv_bytes([row(mak="9000000001")]))
    [line] = lineage(conn, report.upload_id)
    assert isinstance(line["lead_id"], uuid.UUID)


def test_limits_follow_the_settings() -> None:
    configured = IngestLimits.from_settings(
        Settings(ingest_workers=3, ingest_bulk_index_min_rows=0, max_upload_rows=7)
    )
    assert (configured.staging_workers, configured.bulk_index_min_rows, configured.max_rows) == (
        3,
        None,
        7,
    )
    automatic = IngestLimits.from_settings(Settings(ingest_workers=0))
    assert automatic.staging_workers == default_workers() >= 1
    assert automatic.bulk_index_min_rows == 100_000


def test_rejects_wait_for_the_stage_copy_encrypted_and_off_the_heap(cipher: PiiCipher) -> None:
    # The spool a file's rejects wait in while the stage's COPY holds the
    # connection: it rolls over to a temporary file past max_size, never
    # holds a raw cell in clear, and gives back every reject in order.
    from equity_connect.ingest.csv_reader import CsvReject
    from equity_connect.ingest.rejects import raw_aad
    from equity_connect.ingest.service import _RejectSpool

    upload_id = uuid.uuid4()
    canary = "canary-4158675309"
    rejects = [
        CsvReject(i + 1, i + 2, None if i % 3 == 0 else "property_zip", f"bad zip {i}", raw=None)
        if i % 5 == 0
        else CsvReject(i + 1, i + 2, "property_zip", f"bad zip {i}", raw={"notes": f"{canary} {i}"})
        for i in range(300)
    ]
    spool = _RejectSpool(upload_id, cipher, max_size=1024)
    for r in rejects:
        spool.add(r)
    assert len(spool) == 300
    assert spool._file._rolled  # on disk, past max_size
    spool._file.seek(0)
    assert canary.encode() not in spool._file.read()
    got = list(spool)
    spool.close()
    assert [(g[0], g[1], g[2], g[3]) for g in got] == [
        (r.row_number, r.line_number, r.field, r.reason) for r in rejects
    ]
    for r, (_, _, _, _, ct) in zip(rejects, got, strict=True):
        if r.raw is None:
            assert ct is None
        else:
            assert ct is not None
            assert json.loads(cipher.decrypt(ct, raw_aad(upload_id, r.row_number))) == r.raw
