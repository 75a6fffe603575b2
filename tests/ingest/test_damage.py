"""Random damage to a CSV (stray quotes, NUL bytes, truncation) never loses a line.

Every physical line after the header belongs to exactly one row result:
a row of one line, or a record over several lines that is a genuine
multi-line CSV record (it parses, alone, as one record of the header's
width). Checked on the staging output of both paths (one process, and
worker blocks), and on the database's lineage of real ingests.
"""

from __future__ import annotations

import csv
import io
import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from equity_connect.db.ids import Uuid7Sequence
from equity_connect.db.pool import Conn
from equity_connect.ingest.csv_reader import CsvFileError
from equity_connect.ingest.schemas import UploadStatus
from equity_connect.ingest.staging import StageJob, staged_batches
from equity_connect.security.crypto import Keyring, PiiCipher
from tests.ingest.helpers import run_ingest
from tests.ingest.test_staging import threads

COLUMNS = ["property_address", "property_zip", "owner_last_name", "notes", "estimated_value"]
HEADER = ",".join(COLUMNS) + "\r\n"
CELLS = st.sampled_from(["Oak", "O'Neil", "Smith, Jr.", "x y", "", "call 5551234", "1,200"])


@st.composite
def damaged_bodies(draw: st.DrawFn) -> bytes:
    """A clean vendor file of one-line rows, then stray quotes, NULs and a truncation."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=draw(st.sampled_from(["\n", "\r\n"])))
    for i in range(draw(st.integers(min_value=0, max_value=30))):
        writer.writerow([f"{i + 1} Oak St", "90001", draw(CELLS), draw(CELLS), draw(CELLS)])
    body = bytearray(out.getvalue().encode())
    for kind in draw(st.lists(st.sampled_from(['"', '"', "\x00", "cut"]), max_size=6)):
        if not body:
            break
        at = draw(st.integers(min_value=0, max_value=len(body)))
        if kind == "cut":
            del body[at:]
        else:
            body[at:at] = kind.encode()
    return HEADER.encode() + bytes(body)


def physical_lines(body: bytes) -> list[bytes]:
    """The data lines (after the header) as the reader counts them."""
    return body.splitlines(keepends=True)[1:]


def assert_every_line_accounted_for(body: bytes, starts: list[int]) -> tuple[int, int]:
    """(lines in, lines accounted) given each row's first physical line, in row order."""
    lines = physical_lines(body)
    assert starts == sorted(set(starts))
    if not lines:
        assert starts == []
        return 0, 0
    assert starts[0] == 2  # the row right after the header
    ends = [*starts[1:], len(lines) + 2]
    accounted = 0
    for start, end in zip(starts, ends, strict=True):
        span = end - start
        if span > 1:  # a record over several lines: only a genuine one
            text = b"".join(lines[start - 2 : end - 2]).decode("utf-8", "replace")
            records = list(csv.reader(io.StringIO(text, newline=""), strict=True))
            assert len(records) == 1 and len(records[0]) == len(COLUMNS), (start, text)
        accounted += span
    assert accounted == len(lines)
    return len(lines), accounted


def staged_starts(body: bytes, cipher: PiiCipher, *, workers: int) -> list[int] | None:
    """Each row's first line, staged or rejected, in row order; None for a file error."""
    job = StageJob(str(uuid.UUID(int=1)), Uuid7Sequence(), 4096, None)
    chunks = (body[i : i + 11] for i in range(0, len(body), 11))
    rows: dict[int, int] = {}
    try:
        for batch in staged_batches(
            chunks,
            job,
            cipher,
            workers=workers,
            byte_size=len(body) + 4 * 64,
            block_bytes=64,
            executor=threads,
        ):
            for line in batch.copy_text.splitlines():
                _, row, start, *_ = line.split("\t")
                rows[int(row)] = int(start)
            rows.update({r.row_number: r.line_number for r in batch.rejects})
    except CsvFileError:
        return None
    assert sorted(rows) == list(range(1, len(rows) + 1))  # one result per row number
    return [rows[r] for r in sorted(rows)]


TOTALS = {"lines in": 0, "lines accounted": 0}


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=damaged_bodies())
def test_random_damage_never_leaves_a_line_unaccounted_for(keyring: Keyring, body: bytes) -> None:
    cipher = PiiCipher(keyring)
    one = staged_starts(body, cipher, workers=1)
    many = staged_starts(body, cipher, workers=2)
    assert many == one
    assert one is not None  # the header is never damaged: no file-level error
    lines_in, accounted = assert_every_line_accounted_for(body, one)
    TOTALS["lines in"] += lines_in
    TOTALS["lines accounted"] += accounted


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=damaged_bodies())
def test_random_damage_ingested_every_line_is_a_lineage_row(
    conn: Conn, cipher: PiiCipher, body: bytes
) -> None:
    with conn.transaction(force_rollback=True):
        report = run_ingest(conn, cipher, body, chunk=13)
        assert report.status is UploadStatus.COMPLETED, report.error
        starts = [
            r["line_number"]
            for r in conn.execute(
                "select line_number from upload_rows where upload_id = %s order by row_number",
                [report.upload_id],
            )
        ]
        assert report.rows == len(starts) == report.inserted + report.merged + report.rejected
        assert_every_line_accounted_for(body, starts)
