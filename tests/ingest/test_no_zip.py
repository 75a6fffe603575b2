"""A property without a ZIP is placed by street, city and state, never refused."""

from __future__ import annotations

from equity_connect.db.pool import Conn
from equity_connect.normalize.address import addr_hash, parse_address, place_without_zip
from equity_connect.security.crypto import PiiCipher
from tests.ingest.helpers import csv_bytes, lineage, row, run_ingest


def test_a_row_with_street_city_and_state_but_no_zip_becomes_a_lead(
    conn: Conn, cipher: PiiCipher
) -> None:
    report = run_ingest(conn, cipher, csv_bytes([row(property_zip="")]))
    (line,) = lineage(conn, report.upload_id)
    assert line["status"] == "inserted"
    assert "no ZIP" in str(line["notes"])
    lead = conn.execute(
        "select property_address, property_city, property_state, property_zip, addr_hash "
        "from leads where id = %s",
        [line["lead_id"]],
    ).fetchone()
    assert lead is not None
    assert (lead["property_address"], lead["property_zip"]) == ("123 MAIN ST", None)
    assert lead["addr_hash"] is not None


def test_two_zipless_rows_of_one_street_city_and_state_are_one_lead(
    conn: Conn, cipher: PiiCipher
) -> None:
    body = csv_bytes(
        [row(property_zip=""), row(property_address="123 MAIN STREET", property_zip="")]
    )
    report = run_ingest(conn, cipher, body)
    first, second = lineage(conn, report.upload_id)
    assert second["lead_id"] == first["lead_id"]
    assert second["match_key"] == "addr_hash"


def test_the_same_street_in_another_city_is_another_lead(conn: Conn, cipher: PiiCipher) -> None:
    body = csv_bytes([row(property_zip=""), row(property_city="Pasadena", property_zip="")])
    report = run_ingest(conn, cipher, body)
    first, second = lineage(conn, report.upload_id)
    assert second["lead_id"] != first["lead_id"]


def test_without_city_or_state_a_keyless_row_is_still_refused_with_the_reason(
    conn: Conn, cipher: PiiCipher
) -> None:
    report = run_ingest(conn, cipher, csv_bytes([row(property_zip="", property_city="")]))
    (line,) = lineage(conn, report.upload_id)
    assert line["status"] == "rejected"
    assert "property_city + property_state" in str(line["reason"])


def test_a_zipless_hash_never_equals_a_zip_placed_one() -> None:
    with_zip, _ = parse_address("123 Main St", "Los Angeles", "CA", "90001")
    without = place_without_zip("123 Main St", "Los Angeles", "CA")
    assert with_zip is not None and without is not None
    assert addr_hash(with_zip) != addr_hash(without)
    assert without.zip5 == ""
