"""Asynchronous uploads: accept a signed body at once, ingest it in a worker job.

``POST /v1/uploads`` stores the body and answers 202; the job
``ingest.process_upload`` ingests it. The API and the worker may run on
different machines, so the body waits in the database (``upload_bodies``),
never on one machine's disk, and never in clear: each 1 MiB chunk is
AES-256-GCM under the PII envelope (a data key wrapped by the active key),
bound to its upload and position, so chunks cannot be moved, reordered or
swapped between uploads without failing to decrypt.

The ingest itself still runs in one transaction (all or nothing). Beside it,
a heartbeat thread on its own connection renews ``uploads.heartbeat_at`` and
publishes the phase and progress. A process that dies mid-ingest takes its
transaction with it (nothing half merged) and stops beating; the sweeper
(``sweep_stale_uploads``, on every worker's heartbeat) then marks the upload
failed with the reason, which frees its bytes for a fresh upload.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from psycopg_pool import ConnectionPool

from equity_connect.db import queries
from equity_connect.db.faults import is_connection_lost
from equity_connect.db.pool import Conn, connect
from equity_connect.ingest.schemas import SignatureScheme, UploadStatus
from equity_connect.ingest.service import (
    IngestLimits,
    UploadMeta,
    claim_upload,
    ingest_claimed,
    report_of,
)
from equity_connect.jobs import service as jobs
from equity_connect.security.crypto import PiiCipher

Q = queries.load("equity_connect.ingest")
_log = logging.getLogger(__name__)

TASK = "ingest.process_upload"
#: Size of one stored body chunk: large enough that a 150 MB body is 150 rows,
#: small enough that reading it back holds one chunk at a time.
CHUNK_BYTES = 1 << 20
_BODY_APP_NAME = "equity-connect-upload-body"
_BEAT_APP_NAME = "equity-connect-upload-heartbeat"


def _chunk_aad(upload_id: uuid.UUID, seq: int) -> bytes:
    return f"upload_bodies.ciphertext.{upload_id}.{seq}".encode()


def _rechunk(chunks: Iterable[bytes], size: int) -> Iterator[bytes]:
    pending = bytearray()
    for chunk in chunks:
        pending += chunk
        while len(pending) >= size:
            yield bytes(pending[:size])
            del pending[:size]
    if pending:
        yield bytes(pending)


def store_body(conn: Conn, cipher: PiiCipher, upload_id: uuid.UUID, chunks: Iterable[bytes]) -> int:
    """Store the body encrypted, in the caller's transaction; returns the chunk count.

    In pipeline mode: the next chunk is encrypted while the server writes the
    last, instead of waiting for each insert's answer.
    """
    seq = -1
    with conn.pipeline(), conn.cursor() as cur:
        for seq, piece in enumerate(_rechunk(chunks, CHUNK_BYTES)):
            ciphertext = cipher.encrypt_bytes(piece, _chunk_aad(upload_id, seq))
            params = {"upload_id": upload_id, "seq": seq, "ciphertext": ciphertext}
            cur.execute(Q["store_body_chunk"], params)
    return seq + 1


def body_chunks(
    conninfo: str, cipher: PiiCipher, upload_id: uuid.UUID, progress: Progress | None = None
) -> Iterator[bytes]:
    """The stored body, decrypted one chunk at a time, over a connection of its own.

    Its own connection because the ingest's is busy with COPY while it reads.
    """
    with connect(conninfo, autocommit=True, application_name=_BODY_APP_NAME) as conn:
        seq = 0
        while True:
            row = conn.execute(Q["body_chunk"], {"upload_id": upload_id, "seq": seq}).fetchone()
            if row is None:
                return
            piece = cipher.decrypt_bytes(row["ciphertext"], _chunk_aad(upload_id, seq))
            if progress is not None:
                progress.bytes_read += len(piece)
            yield piece
            seq += 1


def status_signing_content(upload_id: uuid.UUID) -> bytes:
    """What an uploader signs (Standard Webhooks) to read an upload's status."""
    return f"GET /v1/uploads/{upload_id}".encode()


@dataclass(frozen=True)
class Accepted:
    """What ``accept_upload`` did: the upload, and whether it was created now."""

    upload_id: uuid.UUID
    duplicate: bool


def accept_upload(
    conn: Conn, cipher: PiiCipher, chunks: Iterable[bytes], meta: UploadMeta
) -> Accepted:
    """Claim the bytes, store them encrypted and queue their processing (caller commits).

    The same bytes as a live upload (waiting, processing or completed) are
    that upload: nothing is stored. Concurrent identical requests serialize
    on the unique index, so they create one upload.
    """
    for _ in range(3):  # a live upload can fail between the claim and the look-up
        upload_id = claim_upload(conn, meta, status=UploadStatus.RECEIVED, phase="queued")
        if upload_id is None:
            found = conn.execute(Q["live_upload_by_sha256"], {"sha256": meta.sha256}).fetchone()
            if found is not None:
                return Accepted(found["id"], duplicate=True)
            continue
        store_body(conn, cipher, upload_id, chunks)
        jobs.enqueue(conn, TASK, {"upload_id": str(upload_id)}, idempotency_key=str(upload_id))
        return Accepted(upload_id, duplicate=False)
    raise RuntimeError("the upload for these bytes kept changing while it was claimed")


def status_document(conn: Conn, upload_id: uuid.UUID, *, duplicate: bool = False) -> dict[str, Any]:
    """The upload's status as ``GET /v1/uploads/{id}`` returns it; KeyError if unknown."""
    row = conn.execute(Q["upload_status"], {"upload_id": upload_id}).fetchone()
    if row is None:
        raise KeyError(upload_id)
    status = UploadStatus(row["status"])
    done = status in (UploadStatus.COMPLETED, UploadStatus.FAILED)
    size = row["byte_size"]
    read = size if done else row["bytes_read"]
    # Of the file read: the merge after it has no measurable progress, so a
    # merging upload shows 100 % read and phase "merging".
    percent = 100.0 if size == 0 else round(100.0 * read / size, 1)
    return {
        "upload_id": str(row["id"]),
        "sha256": bytes(row["sha256"]).hex(),
        "status": str(status),
        "phase": row["phase"],
        "rows_read": row["row_count"] if done else row["rows_read"],
        "rows_staged": row["rows_staged"],
        "bytes": size,
        "bytes_read": read,
        "percent": percent,
        "duplicate_upload": duplicate,
        "received_at": row["received_at"].isoformat(),
        "heartbeat_at": row["heartbeat_at"].isoformat() if row["heartbeat_at"] else None,
        "error": row["error"],
        "location": f"/v1/uploads/{row['id']}",
        "report": report_of(row, duplicate=duplicate).as_json() if done else None,
    }


class Progress:
    """The ingest's progress, written by the ingest, read by the heartbeat."""

    def __init__(self) -> None:
        self.phase_name = "reading"
        self.rows_read = 0
        self.rows_staged = 0
        self.bytes_read = 0

    def phase(self, name: str) -> None:
        """The ingest entered phase ``name``."""
        self.phase_name = name

    def rows(self, read: int, staged: int) -> None:
        """Rows read and staged so far."""
        self.rows_read, self.rows_staged = read, staged


class Heartbeat:
    """Renews an upload's heartbeat and progress on a connection of its own."""

    def __init__(
        self,
        conninfo: str,
        upload_id: uuid.UUID,
        processor: str,
        progress: Progress,
        interval: float,
    ) -> None:
        self._conninfo = conninfo
        self._upload_id = upload_id
        self._processor = processor
        self._progress = progress
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ec-upload-heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self, conn: Conn) -> None:
        p = self._progress
        conn.execute(
            Q["upload_heartbeat"],
            {
                "upload_id": self._upload_id,
                "processor": self._processor,
                "phase": p.phase_name,
                "rows_read": p.rows_read,
                "rows_staged": p.rows_staged,
                "bytes_read": p.bytes_read,
            },
        )

    def _run(self) -> None:
        conn: Conn | None = None
        while not self._stop.wait(self._interval):
            try:
                if conn is None or conn.closed:
                    conn = connect(self._conninfo, autocommit=True, application_name=_BEAT_APP_NAME)
                self._beat(conn)
            except Exception as exc:  # a missed beat is retried; a long outage goes stale
                _log.warning("upload heartbeat failed", extra={"error": type(exc).__name__})
                if conn is not None:
                    conn.close()
                conn = None
        if conn is not None:
            conn.close()


def processor_name() -> str:
    """Who processes an upload (host:pid), as stored in ``uploads.processed_by``."""
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


def process_upload(
    pool: ConnectionPool[Conn],
    cipher: PiiCipher,
    upload_id: uuid.UUID,
    *,
    limits: IngestLimits,
    heartbeat_seconds: float,
) -> bool:
    """Ingest a waiting upload; False if it was not waiting (another process has it, or done).

    Idempotent, as a job must be. The ingest and the upload's final report
    commit together; on an error the rows roll back, the upload is failed
    with the reason, and a lost connection is left to the sweeper.
    """
    processor = processor_name()
    with pool.connection() as conn:
        claimed = conn.execute(
            Q["start_processing"], {"upload_id": upload_id, "processor": processor}
        ).fetchone()
    if claimed is None:
        return False
    meta = UploadMeta(
        bytes(claimed["sha256"]),
        claimed["byte_size"],
        SignatureScheme(claimed["scheme"]),
        claimed["source"],
        claimed["filename"],
    )
    progress = Progress()
    # The pool's own target (a callable one resolves per connection, as the pool's do).
    conninfo = pool.conninfo if isinstance(pool.conninfo, str) else pool.conninfo()
    started = time.perf_counter()
    try:
        with (
            Heartbeat(conninfo, upload_id, processor, progress, heartbeat_seconds),
            pool.connection() as conn,
        ):
            chunks = body_chunks(conninfo, cipher, upload_id, progress)
            ingest_claimed(
                conn,
                cipher,
                chunks,
                upload_id,
                meta,
                limits=limits,
                tracker=progress,
                started=started,
            )
            conn.execute(Q["drop_body"], {"upload_id": upload_id})
    except Exception as exc:
        if is_connection_lost(exc):
            _hand_back(pool, upload_id, processor)
            raise  # the worker hands the job back (the API answers 503)
        _log.error("upload processing failed", extra={"upload_id": str(upload_id)}, exc_info=exc)
        with pool.connection() as conn:
            conn.execute(
                Q["fail_upload"],
                {
                    "upload_id": upload_id,
                    "error": f"processing failed ({type(exc).__name__}); nothing was loaded: "
                    "send the same file again, and report it if it fails again",
                },
            )
            conn.execute(Q["drop_body"], {"upload_id": upload_id})
    return True


def _hand_back(pool: ConnectionPool[Conn], upload_id: uuid.UUID, processor: str) -> None:
    """After a lost connection: the upload waits again, for its job's next run.

    Best effort: if the database is still away, the sweeper fails the upload
    once its heartbeat goes stale.
    """
    try:
        with pool.connection() as conn:
            conn.execute(Q["hand_back_upload"], {"upload_id": upload_id, "processor": processor})
    except Exception as exc:  # the database is still away: the sweeper settles it
        _log.warning("could not hand an upload back", extra={"error": type(exc).__name__})


def sweep_stale_uploads(conn: Conn, *, stale_seconds: float) -> list[uuid.UUID]:
    """Fail the uploads whose processing died (stale heartbeat, or a dead job); their ids.

    The caller commits. Their stored bodies are deleted with them.
    """
    ids = [
        r["id"] for r in conn.execute(Q["sweep_stale_uploads"], {"stale_seconds": stale_seconds})
    ]
    if ids:
        conn.execute(Q["drop_bodies"], {"ids": ids})
        _log.warning("uploads whose processing died were failed", extra={"count": len(ids)})
    return ids
