"""Build CSV bodies and run ingests for the ingest tests."""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Sequence

from equity_connect.db.pool import Conn
from equity_connect.ingest.csv_reader import CANONICAL_FIELDS
from equity_connect.ingest.schemas import SignatureScheme
from equity_connect.ingest.service import IngestLimits, UploadMeta, UploadReport, ingest
from equity_connect.security.crypto import PiiCipher

COLUMNS = list(CANONICAL_FIELDS)


def row(**values: object) -> dict[str, str]:
    """A CSV row with sensible defaults for the required columns."""
    base = {
        "property_address": "123 Main St",
        "property_city": "Los Angeles",
        "property_state": "CA",
        "property_zip": "90001",
    }
    base.update({k: "" if v is None else str(v) for k, v in values.items()})
    return base


def csv_bytes(rows: Sequence[dict[str, str]], columns: Sequence[str] = COLUMNS) -> bytes:
    """The rows as CSV bytes with the given header."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(columns), extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def run_ingest(
    conn: Conn,
    cipher: PiiCipher,
    body: bytes,
    *,
    source: str | None = "test",
    chunk: int = 4096,
    limits: IngestLimits | None = None,
) -> UploadReport:
    """Ingest ``body`` in ``chunk``-byte pieces, as the API would stream it."""
    meta = UploadMeta(hashlib.sha256(body).digest(), len(body), SignatureScheme.LOCAL, source)
    chunks = (body[i : i + chunk] for i in range(0, len(body), chunk))
    return ingest(conn, cipher, chunks, meta, limits=limits)


def lineage(conn: Conn, upload_id: object) -> list[dict[str, object]]:
    """The upload's lineage rows in row order."""
    return conn.execute(
        "select row_number, lead_id, status, match_key, field, reason, notes "
        "from upload_rows where upload_id = %s order by row_number",
        [upload_id],
    ).fetchall()
