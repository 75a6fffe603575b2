"""An upload's rejected rows, with their original cells decrypted, for an operator to fix."""

from __future__ import annotations

import dataclasses
import json
import uuid
from dataclasses import dataclass

from equity_connect.db import queries
from equity_connect.db.pool import Conn
from equity_connect.security.crypto import PiiCipher, aad_for

Q = queries.load("equity_connect.ingest")


@dataclass(frozen=True)
class RejectedRow:
    """One rejected data row: where, why, and (decrypted) what it held."""

    row_number: int
    line_number: int | None
    field: str | None
    reason: str
    cells: dict[str, str] = dataclasses.field(default_factory=dict)


def raw_aad(upload_id: uuid.UUID, row_number: int) -> bytes:
    """Associated data of a rejected row's stored cells."""
    return aad_for("upload_rows", "raw", f"{upload_id}:{row_number}")


def rejected_rows(
    conn: Conn, upload_id: uuid.UUID, cipher: PiiCipher | None = None
) -> list[RejectedRow]:
    """The upload's rejected rows in file order; their cells only when ``cipher`` is given."""
    out: list[RejectedRow] = []
    for r in conn.execute(Q["rejected_rows"], {"upload_id": upload_id}):
        cells: dict[str, str] = {}
        if cipher is not None and r["raw_ciphertext"] is not None:
            raw = cipher.decrypt(r["raw_ciphertext"], raw_aad(upload_id, r["row_number"]))
            cells = json.loads(raw)
        out.append(RejectedRow(r["row_number"], r["line_number"], r["field"], r["reason"], cells))
    return out


def rejects_table(rows: list[RejectedRow]) -> tuple[list[str], list[dict[str, str]]]:
    """The columns and records of the rejects CSV, the same from the CLI and the ops console:
    ``_row`` and ``_reason`` first (underscored so a vendor column named "reason" survives),
    then the original columns in the order they were first seen."""
    records = [{"_row": str(r.row_number), "_reason": r.reason, **r.cells} for r in rows]
    columns: list[str] = []
    for record in records:
        columns.extend(k for k in record if k not in columns)
    return columns, records
