"""The ingest pipeline: one uploaded CSV → leads, lineage and a report.

Everything happens in the caller's transaction, so an upload is all or
nothing: a crash leaves no half-merged file. The body's SHA-256 is claimed
first, which makes the same bytes a no-op the second time and serializes
concurrent identical uploads on the unique index.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any

from psycopg.types.json import Jsonb

from equity_connect.db import queries
from equity_connect.db.pool import Conn
from equity_connect.ingest.csv_reader import CsvFileError, CsvRecord, CsvReject, iter_csv_records
from equity_connect.ingest.dedupe import components
from equity_connect.ingest.rows import StagedRow, encrypt_reject_raw, stage_record
from equity_connect.ingest.schemas import SignatureScheme, UploadRowStatus, UploadStatus
from equity_connect.jobs import service as jobs
from equity_connect.security.crypto import PiiCipher, aad_for

Q = queries.load("equity_connect.ingest")


@dataclass(frozen=True)
class UploadMeta:
    """What is known about an upload before its rows are read."""

    sha256: bytes
    byte_size: int
    scheme: SignatureScheme
    source: str | None = None
    filename: str | None = None


@dataclass(frozen=True)
class UploadReport:
    """The outcome of an upload, as the API and ``ingest --json`` print it."""

    upload_id: uuid.UUID
    sha256: str
    status: UploadStatus
    rows: int
    inserted: int
    merged: int
    rejected: int
    duplicate_upload: bool
    seconds: float
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        """JSON-ready dict."""
        out = asdict(self)
        out["upload_id"] = str(self.upload_id)
        out["status"] = str(self.status)
        return out


@dataclass(frozen=True)
class IngestLimits:
    """Caps on one upload's shape (bytes are capped before this, by the caller)."""

    max_field_bytes: int = 131_072
    max_rows: int | None = 5_000_000


def _event(
    conn: Conn,
    upload_id: uuid.UUID,
    *,
    stage: str,
    outcome: str,
    count: int,
    started: float,
    **detail: Any,
) -> None:
    conn.execute(
        Q["record_event"],
        {
            "stage": stage,
            "outcome": outcome,
            "count": count,
            "duration_ms": (time.perf_counter() - started) * 1000,
            "upload_id": upload_id,
            "correlation_id": str(upload_id),
            "detail": Jsonb(detail),
        },
    )


def existing_report(conn: Conn, sha256: bytes) -> UploadReport | None:
    """The stored report of the upload with these bytes, marked as a duplicate."""
    row = conn.execute(Q["upload_by_sha256"], {"sha256": sha256}).fetchone()
    if row is None:
        return None
    return UploadReport(
        upload_id=row["id"],
        sha256=sha256.hex(),
        status=UploadStatus(row["status"]),
        rows=row["row_count"],
        inserted=row["inserted_count"],
        merged=row["merged_count"],
        rejected=row["rejected_count"],
        duplicate_upload=True,
        seconds=row["seconds"],
        error=row["error"],
    )


def ingest(
    conn: Conn,
    cipher: PiiCipher,
    chunks: Iterable[bytes],
    meta: UploadMeta,
    *,
    limits: IngestLimits | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> UploadReport:
    """Ingest one CSV body. ``chunks`` is consumed once, lazily, and never held whole.

    Returns the stored report with ``duplicate_upload`` set when these exact
    bytes were uploaded before (nothing is created then). A file-level fault
    (no usable header, too many rows) is recorded as a failed upload with
    its reason; row-level faults reject their row and the rest land.
    """
    started = time.perf_counter()
    limits = limits or IngestLimits()
    claimed = conn.execute(
        Q["claim_upload"],
        {
            "sha256": meta.sha256,
            "source": meta.source,
            "filename": meta.filename,
            "byte_size": meta.byte_size,
            "scheme": str(meta.scheme),
        },
    ).fetchone()
    if claimed is None:
        report = existing_report(conn, meta.sha256)
        if report is None:  # the first upload's transaction rolled back after we waited
            raise RuntimeError("upload vanished while waiting for a concurrent duplicate")
        return report
    upload_id: uuid.UUID = claimed["id"]
    _event(
        conn,
        upload_id,
        stage="upload",
        outcome="received",
        count=1,
        started=started,
        bytes=meta.byte_size,
    )

    error: str | None = None
    try:
        with conn.transaction():  # savepoint: a file-level fault undoes only the rows
            _stage_and_merge(
                conn, cipher, chunks, upload_id, limits=limits, on_progress=on_progress
            )
    except CsvFileError as exc:
        error = str(exc)
        _event(
            conn,
            upload_id,
            stage="upload",
            outcome="failed",
            count=1,
            started=started,
            reason=exc.reason,
        )

    counts = conn.execute(Q["count_lineage"], {"upload_id": upload_id}).fetchone()
    assert counts is not None  # an aggregate always returns a row
    status = UploadStatus.FAILED if error else UploadStatus.COMPLETED
    conn.execute(
        Q["finish_upload"],
        {**counts, "upload_id": upload_id, "status": str(status), "error": error},
    )
    seconds = time.perf_counter() - started
    return UploadReport(
        upload_id=upload_id,
        sha256=meta.sha256.hex(),
        status=status,
        rows=counts["rows"],
        inserted=counts["inserted"],
        merged=counts["merged"],
        rejected=counts["rejected"],
        duplicate_upload=False,
        seconds=seconds,
        error=error,
    )


def _stage_and_merge(
    conn: Conn,
    cipher: PiiCipher,
    chunks: Iterable[bytes],
    upload_id: uuid.UUID,
    *,
    limits: IngestLimits,
    on_progress: Callable[[int], None] | None,
) -> None:
    t0 = time.perf_counter()
    conn.execute(Q["create_stage"])
    rejects: list[CsvReject] = []
    staged = 0
    records = iter_csv_records(
        chunks, max_field_bytes=limits.max_field_bytes, max_row_count=limits.max_rows
    )
    with conn.cursor().copy(Q["copy_stage"]) as copy:
        for item in records:
            result = stage_record(item, upload_id, cipher) if isinstance(item, CsvRecord) else item
            if isinstance(result, StagedRow):
                copy.write_row(result.values)
                staged += 1
                if on_progress is not None and staged % 10_000 == 0:
                    on_progress(staged)
            else:
                rejects.append(result)
    if on_progress is not None:
        on_progress(staged)
    _event(conn, upload_id, stage="ingest", outcome="staged", count=staged, started=t0)

    t1 = time.perf_counter()
    if rejects:
        with conn.cursor().copy(Q["copy_rejects"]) as copy:
            for r in rejects:
                copy.write_row(
                    (
                        upload_id,
                        r.row_number,
                        r.line_number,
                        str(UploadRowStatus.REJECTED),
                        r.field,
                        r.reason,
                        encrypt_reject_raw(r, upload_id, cipher),
                    )
                )
    _event(conn, upload_id, stage="ingest", outcome="rejected", count=len(rejects), started=t1)
    if staged:
        _merge(conn, cipher, upload_id)
        # In the upload's own transaction: enrichment is queued exactly when
        # the leads it needs exist.
        jobs.enqueue(
            conn,
            "skiptrace.enrich_upload",
            {"upload_id": str(upload_id)},
            idempotency_key=str(upload_id),
        )
    conn.execute(Q["drop_scratch"])


def _merge(conn: Conn, cipher: PiiCipher, upload_id: uuid.UUID) -> None:
    t0 = time.perf_counter()
    conn.execute(Q["tune_merge"])
    conn.execute(Q["analyze_stage"])
    groups = [(r["key"], r["rows"]) for r in conn.execute(Q["duplicate_groups"])]
    comps = components(groups)
    conn.execute(Q["create_components"])
    if comps:
        with conn.cursor().copy(Q["copy_components"]) as copy:
            for row, (root, link) in comps.items():
                copy.write_row((row, root, str(link)))
        conn.execute("analyze ingest_components")
    any_lead = conn.execute(Q["any_lead_exists"]).fetchone()
    conn.execute(Q["create_targets"] if any_lead and any_lead["any"] else Q["create_empty_targets"])
    _event(conn, upload_id, stage="dedupe", outcome="matched", count=len(comps), started=t0)

    t1 = time.perf_counter()
    inserted = conn.execute(Q["insert_singletons"]).rowcount
    conn.execute(Q["lineage_singletons"])
    conn.execute(Q["create_merged"])
    inserted += conn.execute(Q["insert_new_components"], {"upload_id": upload_id}).rowcount
    merged_leads = conn.execute(Q["merge_into_existing"]).rowcount
    conn.execute(Q["lineage_components"])
    _rebind_moved_pii(conn, cipher)
    _event(conn, upload_id, stage="dedupe", outcome="inserted", count=inserted, started=t1)
    _event(conn, upload_id, stage="dedupe", outcome="merged", count=merged_leads, started=t1)


def _rebind_moved_pii(conn: Conn, cipher: PiiCipher) -> None:
    """Re-encrypt PII that a merge moved to another lead than the row it came from.

    Ciphertexts are bound to a row id before the merge decides which lead a
    row becomes; the few that land elsewhere are decrypted with their old
    binding and encrypted for their new one.
    """
    moved = conn.execute(Q["pii_to_rebind"]).fetchall()
    for m in moved:
        channel = m["channel"]
        value = cipher.decrypt(m["ciphertext"], aad_for("leads", channel, m["bound_to"]))
        ciphertext = cipher.encrypt(value, aad_for("leads", channel, m["lead_id"]))
        conn.execute(
            Q["rebind_email" if channel == "email" else "rebind_phone"],
            {"ciphertext": ciphertext, "lead_id": m["lead_id"]},
        )
