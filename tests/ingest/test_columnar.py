"""The columnar staging path stages a block exactly as the row-wise path does.

Differential: the same header + block through ``staging._stage_block`` with
``staging="rows"`` (csv_reader + rows.stage_record, one record at a time)
and through ``columnar.stage_block_columnar`` must give the same rows, row
and line numbers, staged values (ciphertexts compared by decrypting them
with their row's associated data), blind indexes and rejects.
"""

from __future__ import annotations

import csv
import io
import random
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from equity_connect.db.ids import Uuid7Sequence
from equity_connect.db.pool import Conn
from equity_connect.ingest import staging
from equity_connect.ingest.columnar import stage_block_columnar
from equity_connect.ingest.rows import extras_aad
from equity_connect.ingest.service import IngestLimits
from equity_connect.ingest.staging import StageJob, _BlockResult
from equity_connect.security.crypto import Keyring, PiiCipher, aad_for
from tests.ingest.helpers import COLUMNS, lineage, run_ingest

# Columns of a staged line (rows.stage_record's text) holding ciphertext, and
# the associated data each was encrypted for, given the row's lead id.
CIPHERTEXTS = {
    18: lambda lead: aad_for("leads", "email", lead),
    20: lambda lead: aad_for("leads", "phone", lead),
    22: extras_aad,
}

NUMBERS = ["1", "123", "20284", "0", "12-34", "123 1/2", "12.5", "", "A1", "1O"]
PREDIRS = ["", "N", "n.", "North", "SW", "Ne", "E", "West", "N W"]
NAMES = ["Main", "Oak", "Pine", "1st", "First", "Hwy", "Highway", "Martin Luther King"]
NAMES += ["North", "St", "O'Neil", "Café", "Nguyễn", "Lake View", "K", "A&B", "St. James"]
SUFFIXES = ["St", "Street", "Ave.", "AVE", "Blvd", "Ct", "Trail", "Rd", "Way", "", "Xyz"]
UNITS = ["", " Apt 4", " #4", " # 4", " Apt # 4", " Apt #4", " Unit B", " Ste 200A", " Rear"]
UNITS += [" Apt", " Bldg 4", " Lot 7", ", Apt. 36", " # #", " Apt ABC", " Fl 2 Rm 3", " #"]
CITIES = ["Los Angeles", "st. louis", "Denver", "", "Ciudad Juárez", "LA,", ".", " Miami  "]
STATES = ["CA", "ca", "NY", "California", "", "XX", "D.C.", "new york", "PR", "AA", "Tx"]
ZIPS = ["90001", "02134", "90001-1234", "2134", "900011234", "00000", "", "abcde", "9000"]
ZIPS += ["90001 1234", " 90001 ", "123456"]
EMAILS = ["a.b@example.com", "A.B@EXAMPLE.COM", "", "josé@example.com", "bad@", "x@localhost"]
EMAILS += ["a@b.test", "a--b@x--y.com", "o'brien@example.org", "a@xn--bcher-kva.ch"]
PHONES = ["(415) 555-2671", "+1 415 555 2671", "4155552671", "14155552671", "(411) 555-0123"]
PHONES += ["", "555-0123", "+44 20 7946 0958", "415.555.2671 x12", "(123) 456-7890", "+4155552671"]
AMOUNTS = ["", "1647000", "007", "$1,200,000", "12,34", "-5", "1234567890123", "1.5", "abc"]
AGES = ["", "91", "7", "130", "131", "72.0", "x"]
YEARS = ["", "1935", "0", "0000", "1599", "3000", "1999.0", "19x5"]
ODD = ["", " ", "\t", "\\", 'O"Brien', '"quoted"', "\x00", "\u00a0x", "a\x1fb", "x\ty"]


@st.composite
def addresses(draw: st.DrawFn) -> str:
    if draw(st.integers(0, 9)) == 0:
        return draw(st.sampled_from(["PO Box 12", "P.O. Box 7", "RR 2 Box 9", "", "  ", "Xyz"]))
    parts = [
        draw(mostly(NUMBERS)),
        draw(mostly(PREDIRS)),
        draw(mostly(NAMES)),
        draw(mostly(SUFFIXES, 6)),
        draw(mostly(["", "", "N", "SE", "South"])),
    ]
    text = " ".join(p for p in parts if p) + draw(mostly(UNITS, 7))
    case = draw(st.sampled_from([str, str.upper, str.lower]))
    return draw(st.sampled_from(["", "  ", "\t"])) + case(text) + draw(st.sampled_from(["", " "]))


def mostly(values: list[str], usual: int = 3) -> st.SearchStrategy[str]:
    """One of ``values``, usually one of the first ``usual`` (the common vendor forms)."""
    return st.integers(0, 19).flatmap(lambda k: st.sampled_from(values[:usual] if k else values))


def cell(values: list[str]) -> st.SearchStrategy[str]:
    """Mostly a value from ``values``; now and then odd characters or any text."""
    return st.integers(0, 79).flatmap(
        lambda k: (
            mostly(values) if k < 78 else st.sampled_from(ODD) if k == 78 else st.text(max_size=4)
        )
    )


@st.composite
def blocks(draw: st.DrawFn) -> tuple[bytes, bytes]:
    """(header, body): messy vendor rows, quotes, unicode, extra columns, damaged lines."""
    columns = list(COLUMNS)
    if draw(st.booleans()):
        columns.remove(draw(st.sampled_from(["mak", "apn", "email", "phone", "owner_age"])))
    if draw(st.booleans()):
        columns.append(draw(st.sampled_from(["mailing_zip", "notes", ""])))
    delimiter = draw(st.sampled_from([",", ",", ",", ";", "\t", "|"]))
    eol = draw(st.sampled_from(["\n", "\r\n"]))
    choices = {
        "mak": cell(["1000000001", "", "M-1"]),
        "apn": cell(["9313-319-000", "93133190", "", "ab.12", "ß-1"]),
        "county_fips": cell(["06037", "", "53033", "6037", "0603", "x"]),
        "owner_first_name": cell(["Maria", "José", "", "Nguyễn", "O'Brien"]),
        "owner_last_name": cell(["Johnson", "", "Smith Jr."]),
        "property_address": st.one_of(addresses(), cell(["1 Main St"])),
        "property_city": cell(CITIES),
        "property_state": cell(STATES),
        "property_zip": cell(ZIPS),
        "email": cell(EMAILS),
        "phone": cell(PHONES),
        "estimated_value": cell(AMOUNTS),
        "estimated_equity": cell(AMOUNTS),
        "owner_age": cell(AGES),
        "year_built": cell(YEARS),
        "source": cell(["vendor-a", ""]),
    }
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator=eol)
    writer.writerow(columns)
    header = out.getvalue().encode()
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator=eol)
    for _ in range(draw(st.integers(0, 40))):
        kind = draw(st.sampled_from(["good"] * 12 + ["raw", "blank", "short", "long", "stray"]))
        values = [draw(choices.get(c, cell(["x", ""]))) for c in columns]
        if kind == "good":
            writer.writerow(values)
        elif kind == "raw":  # joined without quoting: stray quotes and wrong field counts
            out.write(delimiter.join(values) + eol)
        elif kind == "blank":
            out.write(draw(st.sampled_from(["", " ", delimiter * 3])) + eol)
        elif kind == "short":
            writer.writerow(values[:3])
        elif kind == "long":
            writer.writerow([*values, "extra"])
        else:
            out.write(f'1 Oak St{delimiter}"never closed{eol}')
    return header, out.getvalue().encode()


def comparable(result: _BlockResult, seq: Uuid7Sequence, cipher: PiiCipher) -> object:
    """The block's outcome, ciphertexts replaced by their plaintexts (decrypted in place)."""
    lines = []
    for row, line, text in result.lines:
        cells = text.split("\t")
        lead = cells[0]
        assert lead == seq.at(7, row)  # the row's lead id, bound into its ciphertexts
        for i, aad in CIPHERTEXTS.items():
            if cells[i] != "\\N":
                blob = bytes.fromhex(cells[i].removeprefix("\\\\x"))
                cells[i] = "plain:" + cipher.decrypt(blob, aad(lead))
        lines.append((row, line, cells))
    return result.rows, lines, result.rejects, result.facts


def both(header: bytes, body: bytes, keyring: Keyring) -> tuple[object, object]:
    seq = Uuid7Sequence()
    cipher = PiiCipher(keyring)
    staging._init_worker(keyring)
    rows = staging._stage_block(StageJob("u", seq, 4096, None, "rows"), 7, header, body)
    columnar = stage_block_columnar(
        StageJob("u", seq, 4096, None, "columnar"), 7, header, body, cipher, min_lines=0
    )
    return comparable(rows, seq, cipher), comparable(columnar, seq, cipher)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(block=blocks())
def test_columnar_blocks_stage_exactly_like_rows(
    keyring: Keyring, block: tuple[bytes, bytes]
) -> None:
    rows, columnar = both(*block, keyring)
    assert columnar == rows


def messy_rows(n: int, seed: int) -> Iterator[list[str]]:
    """gen_leads-like vendor rows, a tenth messy and some damaged."""
    rng = random.Random(seed)
    for i in range(n):
        number = rng.randint(1, 29999)
        street = (
            f"{number} {rng.choice(PREDIRS)} {rng.choice(NAMES[:3])} {rng.choice(SUFFIXES[:6])}"
        )
        if rng.random() < 0.2:
            street += rng.choice(UNITS)
        values = [
            str(1000000000 + i % 3000) if rng.random() < 0.7 else "",
            f"{rng.randint(1000, 9999)}-{i % 1000:03d}",
            rng.choice(["06037", "53033", ""]),
            rng.choice(["Maria", "José", "Nguyễn", "O'Brien"]),
            rng.choice(["Smith", "Lee"]),
            street if rng.random() < 0.97 else rng.choice(["PO Box 5", "", '9 "Elm" St']),
            rng.choice(CITIES[:4]),
            rng.choice(STATES[:4]),
            rng.choice(ZIPS[:6]),
            rng.choice(EMAILS) if rng.random() < 0.6 else "",
            rng.choice(PHONES) if rng.random() < 0.5 else "",
            rng.choice(AMOUNTS[:3]),
            rng.choice(AMOUNTS[:2]),
            rng.choice(AGES[:3]),
            rng.choice(YEARS[:3]),
            "vendor-a",
        ]
        yield values


def test_columnar_blocks_of_a_vendor_file_stage_exactly_like_rows(keyring: Keyring) -> None:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    header = out.getvalue().encode()
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerows(messy_rows(3000, seed=3))
    rows, columnar = both(header, out.getvalue().encode(), keyring)
    assert columnar == rows


def test_columnar_path_takes_blocks_long_enough_to_pay(keyring: Keyring) -> None:
    """A block with fewer lines than MIN_COLUMNAR_LINES is staged row-wise (same result)."""
    header = (",".join(COLUMNS) + "\n").encode()
    body = b"1,2,06037,A,B,1 Main St,Denver,CO,80202,,,,,,,x\n"
    job = StageJob("u", Uuid7Sequence(), 4096, None)
    cipher = PiiCipher(keyring)
    short = stage_block_columnar(job, 0, header, body, cipher)
    assert short.rows == 1
    assert short.lines[0][2].split("\t")[9] == "1 MAIN ST"


def ingest_file(conn: Conn, cipher: PiiCipher, body: bytes, mode: str) -> dict[str, object]:
    """Ingest with worker processes staging ``mode``-wise; what the upload left behind."""
    limits = IngestLimits(staging_workers=2, staging_block_bytes=160_000, staging=mode)
    report = run_ingest(conn, cipher, body, limits=limits, chunk=65_536)
    by_row = lineage(conn, report.upload_id)
    leads = conn.execute(
        "select u.row_number, l.id, l.mak, l.county_fips, l.apn, l.apn_normalized, l.addr_hash,"
        " l.property_address, l.property_unit, l.property_city, l.property_state,"
        " l.property_zip, l.email_index, l.phone_index, l.email_ciphertext,"
        " l.phone_ciphertext from upload_rows u join leads l on l.id = u.lead_id"
        " where u.upload_id = %s and u.status = 'inserted' order by u.row_number",
        [report.upload_id],
    ).fetchall()
    first = {r["id"]: r["row_number"] for r in leads}
    decrypted = []
    for lead in leads:
        values = dict(lead)
        lead_id = values.pop("id")
        for column, channel in (("email_ciphertext", "email"), ("phone_ciphertext", "phone")):
            blob = values.pop(column)
            values[channel] = (
                None if blob is None else cipher.decrypt(blob, aad_for("leads", channel, lead_id))
            )
        decrypted.append(values)
    lines = [
        {k: (first.get(v, "?") if k == "lead_id" else v) for k, v in r.items()} for r in by_row
    ]
    rejects = conn.execute(
        "select row_number, line_number, field, reason from upload_rows"
        " where upload_id = %s and status = 'rejected' order by row_number",
        [report.upload_id],
    ).fetchall()
    counts = (report.rows, report.inserted, report.merged, report.rejected)
    return {"counts": counts, "leads": decrypted, "lineage": lines, "rejects": rejects}


@pytest.mark.slow
def test_an_upload_ingests_the_same_with_either_staging(conn: Conn, cipher: PiiCipher) -> None:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    writer.writerows(messy_rows(12_000, seed=11))
    body = out.getvalue().encode() + b'1 Oak St,"never closed\n'
    with conn.transaction(force_rollback=True):
        rows = ingest_file(conn, cipher, body, "rows")
    columnar = ingest_file(conn, cipher, body, "columnar")
    assert rows["counts"][3] > 0  # the file does exercise rejects
    assert columnar == rows


@given(values=st.lists(st.one_of(st.none(), st.text()), max_size=5), long_key=st.booleans())
def test_batched_crypto_matches_one_value_at_a_time(
    keyring: Keyring, values: list[str | None], long_key: bool
) -> None:
    if long_key:  # an index key longer than SHA-256's block is hashed first (RFC 2104)
        keyring = Keyring(keyring.keys, keyring.active_kid, keyring.index_key * 3)
    cipher = PiiCipher(keyring, data_key_uses=2)
    encoded = [None if v is None else v.encode() for v in values]
    indexes = cipher.blind_indexes("email", encoded)
    assert indexes == [None if v is None else cipher.blind_index("email", v) for v in values]
    aads = [aad_for("leads", "email", str(i)) for i in range(len(values))]
    blobs = cipher.encrypt_many(encoded, aads)
    for value, blob, aad in zip(values, blobs, aads, strict=True):
        assert (blob is None) == (value is None)
        if blob is not None:
            assert cipher.decrypt(blob, aad) == value
