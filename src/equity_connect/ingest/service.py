"""The ingest pipeline: one uploaded CSV → leads, lineage and a report.

Everything happens in the caller's transaction, so an upload is all or
nothing: a crash leaves no half-merged file. The body's SHA-256 is claimed
first, which makes the same bytes a no-op the second time and serializes
concurrent identical uploads on the unique index.
"""

from __future__ import annotations

import json
import struct
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing
from dataclasses import asdict, dataclass
from typing import Any, LiteralString, Protocol

from psycopg import errors, sql
from psycopg.types.json import Jsonb

from equity_connect.config import Settings
from equity_connect.db import queries
from equity_connect.db.ids import Uuid7Sequence
from equity_connect.db.pool import Conn
from equity_connect.ingest import matching_pass
from equity_connect.ingest.csv_reader import DELIMITER_NAMES, CsvFileError, CsvReject
from equity_connect.ingest.dedupe import components_of_links
from equity_connect.ingest.rows import encrypt_reject_raw, extras_aad
from equity_connect.ingest.schemas import SignatureScheme, UploadRowStatus, UploadStatus
from equity_connect.ingest.staging import FileFacts, StageJob, default_workers, staged_batches
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
    uploaded_by: str | None = None  # what the request could prove of its sender (ops console)


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
    #: How the file was read: ``utf-8``, ``cp1252``, ``utf-8 + cp1252``,
    #: ``utf-16-le``/``-be``; and its delimiter (``comma``, ``tab``, ...).
    encoding: str | None = None
    delimiter: str | None = None
    warnings: tuple[str, ...] = ()

    @property
    def rejects_command(self) -> str | None:
        """The command that lists this upload's rejected rows (None when there are none)."""
        return f"equity-connect uploads rejects {self.upload_id}" if self.rejected else None

    def as_json(self) -> dict[str, Any]:
        """JSON-ready dict; it ends with the command that lists the rejects."""
        out = asdict(self)
        out["upload_id"] = str(self.upload_id)
        out["status"] = str(self.status)
        out["warnings"] = list(self.warnings)
        out["rejects_command"] = self.rejects_command
        return out


@dataclass(frozen=True)
class IngestLimits:
    """Caps on one upload's shape (bytes are capped before this, by the caller)."""

    max_field_bytes: int = 131_072
    max_rows: int | None = 5_000_000
    #: An upload adding at least this many leads (and a third of the table)
    #: rebuilds leads' indexes instead of updating them row by row; None: never.
    bulk_index_min_rows: int | None = 100_000
    #: ...and at least this share of the rows the table already has.
    bulk_index_min_share: float = 1 / 3
    #: How long a bulk load waits for its exclusive lock before going row by row.
    bulk_lock_timeout: str = "2s"
    bulk_index_memory: str = "256MB"
    #: Parallel workers per index rebuild (bounded by the server's max_parallel_workers).
    bulk_index_workers: int = 2
    #: Processes that read and encrypt a large upload's rows (see ingest.staging).
    staging_workers: int = 1
    staging_block_bytes: int = 1 << 20
    #: How worker blocks are staged: "columnar" or "rows" (see ingest.staging).
    staging: str = "columnar"
    #: The second dedupe pass (ingest.matching_pass) after the exact cascade.
    probabilistic_matching: bool = True

    @classmethod
    def from_settings(cls, settings: Settings) -> IngestLimits:
        """The limits the deployment configured."""
        return cls(
            max_field_bytes=settings.max_field_bytes,
            max_rows=settings.max_upload_rows,
            bulk_index_min_rows=settings.ingest_bulk_index_min_rows or None,
            staging_workers=settings.ingest_workers or default_workers(),
            staging=settings.staging,
            probabilistic_matching=settings.matching == "probabilistic",
        )


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
    return None if row is None else report_of(row, duplicate=True)


def report_of(row: dict[str, Any], *, duplicate: bool) -> UploadReport:
    """The report stored in an ``uploads`` row (as ``upload_by_sha256`` selects it)."""
    return UploadReport(
        upload_id=row["id"],
        sha256=bytes(row["sha256"]).hex(),
        status=UploadStatus(row["status"]),
        rows=row["row_count"],
        inserted=row["inserted_count"],
        merged=row["merged_count"],
        rejected=row["rejected_count"],
        duplicate_upload=duplicate,
        seconds=row["seconds"],
        error=row["error"],
        encoding=row["encoding"],
        delimiter=row["delimiter"],
        warnings=tuple(row["warnings"]),
    )


class Tracker(Protocol):
    """Who hears how an ingest is going (the async upload's heartbeat); all optional."""

    def phase(self, name: str) -> None:
        """The ingest entered phase ``name`` (``reading``, ``merging``)."""

    def rows(self, read: int, staged: int) -> None:
        """``read`` data rows were read so far, ``staged`` of them staged."""


def claim_upload(
    conn: Conn, meta: UploadMeta, *, status: UploadStatus, phase: str
) -> uuid.UUID | None:
    """Create the upload for these bytes; None when a live upload already holds them.

    A concurrent claim of the same bytes waits on the unique index until the
    first commits, then gets None (or, if that one failed, its own upload).
    """
    claimed = conn.execute(
        Q["claim_upload"],
        {
            "sha256": meta.sha256,
            "source": meta.source,
            "filename": meta.filename,
            "byte_size": meta.byte_size,
            "scheme": str(meta.scheme),
            "status": str(status),
            "phase": phase,
            "uploaded_by": meta.uploaded_by,
        },
    ).fetchone()
    return None if claimed is None else claimed["id"]


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
    upload_id = claim_upload(conn, meta, status=UploadStatus.PROCESSING, phase="reading")
    if upload_id is None:
        report = existing_report(conn, meta.sha256)
        if report is None:  # the first upload's transaction rolled back after we waited
            raise RuntimeError("upload vanished while waiting for a concurrent duplicate")
        return report
    return ingest_claimed(
        conn,
        cipher,
        chunks,
        upload_id,
        meta,
        limits=limits,
        on_progress=on_progress,
        started=started,
    )


def ingest_claimed(
    conn: Conn,
    cipher: PiiCipher,
    chunks: Iterable[bytes],
    upload_id: uuid.UUID,
    meta: UploadMeta,
    *,
    limits: IngestLimits | None = None,
    on_progress: Callable[[int], None] | None = None,
    tracker: Tracker | None = None,
    started: float | None = None,
) -> UploadReport:
    """Ingest the body of an upload already claimed (``claim_upload``), in ``conn``'s transaction.

    Everything, the rows and the upload's final report, lands at the
    caller's commit or not at all.
    """
    started = time.perf_counter() if started is None else started
    limits = limits or IngestLimits()
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
    facts = FileFacts()
    try:
        with conn.transaction():  # savepoint: a file-level fault undoes only the rows
            _stage_and_merge(
                conn,
                cipher,
                chunks,
                upload_id,
                limits=limits,
                byte_size=meta.byte_size,
                on_progress=on_progress,
                facts=facts,
                tracker=tracker,
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
    warnings = _warnings(facts, counts["rows"], failed=error is not None)
    encoding = facts.encoding
    delimiter = DELIMITER_NAMES[facts.delimiter]
    conn.execute(
        Q["finish_upload"],
        {
            **counts,
            "upload_id": upload_id,
            "status": str(status),
            "error": error,
            "encoding": encoding,
            "delimiter": delimiter,
            "warnings": list(warnings),
        },
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
        encoding=encoding,
        delimiter=delimiter,
        warnings=warnings,
    )


def _warnings(facts: FileFacts, rows: int, *, failed: bool) -> tuple[str, ...]:
    """What the uploader should know about a file that loaded (or, for encodings, failed)."""
    out: list[str] = []
    if not failed and rows == 0:
        out.append("the file has a header but no data rows: nothing was loaded")
    if facts.cp1252:
        out.append(
            "some lines were not UTF-8 and were read as cp1252 (Excel's Windows CSV); "
            "if accented names look wrong, re-save the file as CSV UTF-8"
        )
    return tuple(out)


_Reject = tuple[int, int, str | None, str, bytes | None]


class _RejectSpool:
    """A file's rejects, kept off the heap until the stage's COPY is done.

    The connection is busy with that COPY while rows are read, so rejects
    wait for it; a file of millions of bad rows held them all in a list.
    Each is encrypted as it arrives (the spool never holds a raw cell in
    clear) and framed into a temporary file that stays in memory up to
    ``max_size`` bytes.
    """

    _HEAD = struct.Struct(">qqiii")  # row, line, then lengths of field (-1: none), reason, ct

    def __init__(self, upload_id: uuid.UUID, cipher: PiiCipher, max_size: int = 4 << 20) -> None:
        self._upload_id, self._cipher = upload_id, cipher
        # Closed by close() (the ingest holds the spool in contextlib.closing).
        self._file = tempfile.SpooledTemporaryFile(max_size=max_size)  # noqa: SIM115
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def add(self, r: CsvReject) -> None:
        ct = encrypt_reject_raw(r, self._upload_id, self._cipher)
        field = None if r.field is None else r.field.encode()
        reason = r.reason.encode()
        self._file.write(
            self._HEAD.pack(
                r.row_number,
                r.line_number,
                -1 if field is None else len(field),
                len(reason),
                -1 if ct is None else len(ct),
            )
        )
        self._file.write((field or b"") + reason + (ct or b""))
        self._count += 1

    def __iter__(self) -> Iterator[_Reject]:
        self._file.seek(0)
        read = self._file.read
        for _ in range(self._count):
            row, line, n_field, n_reason, n_ct = self._HEAD.unpack(read(self._HEAD.size))
            field = None if n_field < 0 else read(n_field).decode()
            reason = read(n_reason).decode()
            ct = None if n_ct < 0 else read(n_ct)
            yield row, line, field, reason, ct

    def close(self) -> None:
        self._file.close()


class _Unaccounted(CsvFileError):
    """Lineage does not hold one row per row read: the upload must not complete."""

    def __str__(self) -> str:
        return self.reason  # no line is at fault


def _stage_and_merge(
    conn: Conn,
    cipher: PiiCipher,
    chunks: Iterable[bytes],
    upload_id: uuid.UUID,
    *,
    limits: IngestLimits,
    byte_size: int,
    on_progress: Callable[[int], None] | None,
    facts: FileFacts,
    tracker: Tracker | None = None,
) -> None:
    t0 = time.perf_counter()
    conn.execute(Q["create_stage"])
    with closing(_RejectSpool(upload_id, cipher)) as rejects:
        staged = 0
        job = StageJob(
            str(upload_id),
            Uuid7Sequence(),
            limits.max_field_bytes,
            limits.max_rows,
            staging=limits.staging,
        )
        batches = staged_batches(
            chunks,
            job,
            cipher,
            workers=limits.staging_workers,
            byte_size=byte_size,
            block_bytes=limits.staging_block_bytes,
            on_progress=on_progress,
            facts=facts,
        )
        with closing(batches), conn.cursor().copy(Q["copy_stage"]) as copy:
            for batch in batches:
                if batch.staged:
                    copy.write(batch.copy_text.encode())
                    staged += batch.staged
                for reject in batch.rejects:
                    rejects.add(reject)
                if tracker is not None:
                    tracker.rows(staged + len(rejects), staged)
        _event(conn, upload_id, stage="ingest", outcome="staged", count=staged, started=t0)
        if tracker is not None:
            tracker.phase("merging")

        t1 = time.perf_counter()
        if len(rejects):
            conn.execute(Q["create_rejects"])
            with conn.cursor().copy(Q["copy_rejects"]) as copy:
                for row_number, line_number, field, reason, raw_ciphertext in rejects:
                    copy.write_row(
                        (
                            upload_id,
                            row_number,
                            line_number,
                            str(UploadRowStatus.REJECTED),
                            field,
                            reason,
                            raw_ciphertext,
                        )
                    )
            conn.execute(Q["insert_rejects"])
    _event(conn, upload_id, stage="ingest", outcome="rejected", count=len(rejects), started=t1)
    if staged:
        _merge(conn, cipher, upload_id, staged, limits)
        # In the upload's own transaction: enrichment is queued exactly when
        # the leads it needs exist.
        jobs.enqueue(
            conn,
            "skiptrace.enrich_upload",
            {"upload_id": str(upload_id)},
            idempotency_key=str(upload_id),
        )
    counts = conn.execute(Q["count_lineage"], {"upload_id": upload_id}).fetchone()
    assert counts is not None  # an aggregate always returns a row
    if counts["rows"] != staged + len(rejects):
        # Every row read must be a lead, a merge or a reject; never report a
        # completed upload with rows nowhere (the savepoint undoes the rows).
        raise _Unaccounted(
            0,
            f"{staged + len(rejects) - counts['rows']} of {staged + len(rejects)} rows read "
            "are not accounted for; nothing was loaded, please report this upload",
        )
    conn.execute(Q["drop_scratch"])


def _merge(
    conn: Conn, cipher: PiiCipher, upload_id: uuid.UUID, staged: int, limits: IngestLimits
) -> None:
    t0 = time.perf_counter()
    conn.execute(Q["tune_merge"])
    conn.execute(Q["analyze_stage"])
    matched = matching_pass.PassResult() if limits.probabilistic_matching else None
    conn.execute(Q["create_links"])
    if matched is not None:
        matching_pass.guard_links(conn, matched)
    linked = components_of_links(conn)
    # Hard constraints hold across the cascade's transitive joins too.
    conn.execute(Q["create_released"])
    matching_pass.constrain_components(conn, guard=matched is not None)
    any_lead = conn.execute(Q["any_lead_exists"]).fetchone()
    conn.execute(Q["create_targets"] if any_lead and any_lead["any"] else Q["create_empty_targets"])
    # ...and against the lead each component matched.
    constrained = (
        matching_pass.constrain_targets(conn, guard=matched is not None)
        if any_lead and any_lead["any"]
        else 0
    )
    _event(
        conn,
        upload_id,
        stage="dedupe",
        outcome="matched",
        count=linked.rows,
        started=t0,
        constrained_targets=constrained,
    )
    if matched is not None:
        t_match = time.perf_counter()
        matching_pass.run(conn, matched)
        _event(
            conn,
            upload_id,
            stage="dedupe",
            outcome="probabilistic",
            count=matched.joined,
            started=t_match,
            guarded=matched.guarded,
            review=matched.review,
            pairs=matched.pairs,
            scored=matched.scored,
            skipped_blocks=matched.skipped_blocks,
        )

    # Where the merge's time goes, in its last event (bench/ingest.py prints it).
    phases: dict[str, float] = {}
    t1 = mark = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal mark
        now = time.perf_counter()
        phases[name] = round(now - mark, 3)
        mark = now

    conn.execute(Q["create_merged"])
    conn.execute(Q["analyze_merged"])
    merged_leads = conn.execute(Q["merge_into_existing"]).rowcount
    lap("merge_existing")
    # New leads: every staged row but those folded into another (an estimate
    # until targets are known, which is all the index decision needs).
    new_leads = staged - linked.rows + linked.components
    rebuild = _drop_lead_indexes_for_bulk_load(conn, new_leads, limits)
    lap("index_drop")
    inserted = conn.execute(Q["insert_new_leads"], {"upload_id": upload_id}).rowcount
    lap("insert_new_leads")
    conn.execute(Q["lineage"])
    if matched is not None:
        matching_pass.record(conn, upload_id)
    lap("lineage")
    if rebuild:
        t2 = time.perf_counter()
        for definition in rebuild:
            conn.execute(definition)
        _event(
            conn,
            upload_id,
            stage="dedupe",
            outcome="indexes_rebuilt",
            count=len(rebuild),
            started=t2,
        )
        lap("index_rebuild")
    _rebind_moved_pii(conn, cipher)
    _merge_extras(conn, cipher)
    lap("pii_rebind_extras")
    _event(
        conn,
        upload_id,
        stage="dedupe",
        outcome="inserted",
        count=inserted,
        started=t1,
        phase_seconds=phases,
    )
    _event(conn, upload_id, stage="dedupe", outcome="merged", count=merged_leads, started=t1)


def _leads_now(conn: Conn, new_leads: int, limits: IngestLimits) -> int:
    """How many leads there are, as far as the bulk-load decision needs to know.

    The planner's estimate, which ANALYZE and autovacuum keep; a table never
    analyzed has none, and is then counted, but only as far as the decision
    goes.
    """
    found = conn.execute(Q["leads_estimate"]).fetchone()
    if found is not None and found["rows"] >= 0:
        return int(found["rows"])
    enough = int(new_leads / limits.bulk_index_min_share) + 1 if limits.bulk_index_min_share else 0
    counted = conn.execute(Q["leads_count_up_to"], {"limit": enough}).fetchone()
    return int(counted["rows"]) if counted is not None else 0


def _drop_lead_indexes_for_bulk_load(conn: Conn, new_leads: int, limits: IngestLimits) -> list[str]:
    """Drop leads' key indexes when rebuilding them is cheaper; their definitions.

    Inserting a million rows into B-trees with random keys (hashes, blind
    indexes) touches a random page per key and writes a full-page WAL image
    for most of them; building the same indexes afterwards sorts once.
    Measured with ``bench/ingest.py`` (a million rows into an empty table),
    a rebuilt row costs about a quarter of a row updated in place, so a
    rebuild wins once the upload adds about a third of the table's rows
    (``bulk_index_min_share``). The price is an ACCESS EXCLUSIVE lock on
    leads until the upload commits, so it is taken only if it comes within
    ``bulk_lock_timeout`` (else the load goes row by row, as a small one
    does), and only for uploads of at least ``bulk_index_min_rows``.
    Returns an empty list when nothing was dropped.
    """
    threshold = limits.bulk_index_min_rows
    if threshold is None or new_leads < threshold:
        return []
    if new_leads < _leads_now(conn, new_leads, limits) * limits.bulk_index_min_share:
        return []
    indexes = conn.execute(Q["leads_secondary_indexes"]).fetchall()
    previous = conn.execute(Q["lock_timeout"]).fetchone()
    assert previous is not None
    try:
        with conn.transaction():  # savepoint: a refused lock leaves the upload untouched
            conn.execute(Q["set_lock_timeout"], {"value": limits.bulk_lock_timeout})
            conn.execute(Q["lock_leads_for_bulk_load"])
            for index in indexes:
                conn.execute(sql.SQL("drop index public.{}").format(sql.Identifier(index["name"])))
    except (
        errors.LockNotAvailable,
        errors.DeadlockDetected,
        errors.InsufficientPrivilege,
        errors.QueryCanceled,  # a statement_timeout shorter than the lock wait
    ):
        return []
    finally:
        conn.execute(Q["set_lock_timeout"], {"value": previous["value"]})
    conn.execute(
        Q["set_index_build_memory"],
        {"value": limits.bulk_index_memory, "workers": str(limits.bulk_index_workers)},
    )
    return [index["definition"] for index in indexes]


#: Rows the PII rebinding and the extras merge hold at once (they stream
#: through a server-side cursor, so memory stays flat however many merge).
_BATCH = 5_000


def _batches(conn: Conn, name: str, query: LiteralString) -> Iterator[list[dict[str, Any]]]:
    """The rows of ``query`` in lists of at most ``_BATCH``, from a server-side cursor.

    Between two batches the connection is free for other statements (the
    COPYs that write the results), as a cursor inside the transaction allows.
    """
    with conn.cursor(name=name) as cur:
        cur.execute(query)
        while rows := cur.fetchmany(_BATCH):
            yield rows


def _rebind_moved_pii(conn: Conn, cipher: PiiCipher) -> None:
    """Re-encrypt PII that a merge moved to another lead than the row it came from.

    Ciphertexts are bound to a row id before the merge decides which lead a
    row becomes; the few that land elsewhere are decrypted with their old
    binding and encrypted for their new one. The new ciphertexts are
    COPYed into a scratch table and written by one UPDATE per channel
    (an UPDATE per lead was a round trip each).
    """
    created = False
    for batch in _batches(conn, "ingest_pii_to_rebind", Q["pii_to_rebind"]):
        if not created:
            conn.execute(Q["create_rebound"])
            created = True
        with conn.cursor().copy(Q["copy_rebound"]) as copy:
            for m in batch:
                channel = m["channel"]
                value = cipher.decrypt(m["ciphertext"], aad_for("leads", channel, m["bound_to"]))
                ciphertext = cipher.encrypt(value, aad_for("leads", channel, m["lead_id"]))
                copy.write_row((m["lead_id"], channel, ciphertext))
    if created:
        conn.execute(Q["store_rebound_email"])
        conn.execute(Q["store_rebound_phone"])


def _merge_extras(conn: Conn, cipher: PiiCipher) -> None:
    """Fold the unknown columns of merged rows into their lead, encrypted for it.

    Later rows' values win, and this upload's over the lead's (as the other
    facts of a merge); clear values a lead still has from before migration
    0013 are folded in and leave ``raw``. A lone new row's ciphertext is
    already bound to its lead and never comes here.
    """
    created = False
    for batch in _batches(conn, "ingest_extras_to_merge", Q["extras_to_merge"]):
        if not created:
            conn.execute(Q["create_merged_extras"])
            created = True
        with conn.cursor().copy(Q["copy_merged_extras"]) as copy:
            for u in batch:
                lead_id = u["lead_id"]
                merged: dict[str, Any] = dict(u["legacy"] or {})
                if u["current"] is not None:
                    merged.update(json.loads(cipher.decrypt(u["current"], extras_aad(lead_id))))
                for ct, bound_to in zip(u["extra_cts"], u["extra_bound_to"], strict=True):
                    merged.update(json.loads(cipher.decrypt(ct, extras_aad(bound_to))))
                text = json.dumps(merged, ensure_ascii=False)
                copy.write_row((lead_id, cipher.encrypt(text, extras_aad(lead_id))))
    if created:
        conn.execute(Q["store_merged_extras"])
