"""``POST /v1/uploads``: a signed CSV body in, an upload report out."""

from __future__ import annotations

import hashlib
import tempfile
import time
from collections.abc import Iterator
from typing import IO

import anyio.to_thread
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from equity_connect.db import queries
from equity_connect.ingest.schemas import SignatureScheme, UploadStatus
from equity_connect.ingest.service import IngestLimits, UploadMeta, UploadReport, ingest
from equity_connect.security import signatures
from equity_connect.security.crypto import PiiCipher
from equity_connect.web.errors import DomainError, error_body
from equity_connect.web.guards import record_rejection, too_large
from equity_connect.web.state import state_of

router = APIRouter(tags=["uploads"])
Q = queries.load("equity_connect.ingest")

_SPOOL_IN_MEMORY = 8 * 1024 * 1024
_READ_CHUNK = 1024 * 1024
_CSV_TYPES = {"text/csv", "application/csv", "text/plain", "application/octet-stream"}


def _file_chunks(spool: IO[bytes]) -> Iterator[bytes]:
    spool.seek(0)
    while chunk := spool.read(_READ_CHUNK):
        yield chunk


def _scheme(headers: dict[str, str]) -> SignatureScheme:
    if signatures.STANDARD_SIGNATURE_HEADER in headers:
        return SignatureScheme.STANDARD_WEBHOOKS
    if signatures.PLAN_SIGNATURE_HEADER.lower() in headers:
        return SignatureScheme.PLAN_HMAC
    raise signatures.SignatureError(
        401,
        "missing_header",
        "no signature: send Standard Webhooks headers (webhook-id, webhook-timestamp, "
        "webhook-signature) or X-Signature, X-Content-SHA256 and X-Signature-Timestamp",
    )


async def _spool_body(request: Request, cap: int) -> tuple[IO[bytes], int, bytes]:
    """Stream the body to a spooled temp file; 413 as soon as it passes ``cap``."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > cap:
        raise too_large(cap)
    spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)  # noqa: SIM115 - returned
    digest = hashlib.sha256()
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            spool.close()
            raise too_large(cap)
        digest.update(chunk)
        spool.write(chunk)
    return spool, size, digest.digest()


def _preflight(content_type: str, headers: dict[str, str]) -> SignatureScheme:
    """What can be refused before reading the body: its type and missing signatures."""
    if content_type not in _CSV_TYPES:
        raise DomainError(415, "unsupported_media_type", "send the CSV as text/csv")
    return _scheme(headers)


@router.post(
    "/v1/uploads",
    status_code=201,
    responses={
        200: {"description": "The same bytes were uploaded before: the first upload's report"},
        201: {"description": "Ingested: the upload report"},
        400: {"description": "A signature header is missing or malformed"},
        401: {"description": "The signature does not verify, or its timestamp is outside ±5 min"},
        413: {"description": "The body is over the size limit"},
        415: {"description": "The body is not CSV"},
        422: {"description": "The file as a whole is unusable (e.g. no usable header)"},
    },
)
async def upload_csv(
    request: Request,
    source: str | None = Query(default=None, max_length=200, description="Vendor or list name"),
    filename: str | None = Query(default=None, max_length=500),
) -> JSONResponse:
    """Ingest a signed CSV sent as the raw request body (``Content-Type: text/csv``).

    The signature is verified over the exact bytes before any parsing. The
    body's SHA-256 is the upload's identity: sending the same bytes again
    returns the first report with ``duplicate_upload: true`` and changes nothing.
    """
    state = state_of(request)
    settings = state.settings
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    headers = {k.lower(): v for k, v in request.headers.items()}
    try:
        scheme = _preflight(content_type, headers)
        spool, size, sha256 = await _spool_body(request, settings.max_upload_bytes)
    except (DomainError, signatures.SignatureError) as exc:
        await record_rejection(state, request, "upload_rejected", exc.code, {"stage": "headers"})
        raise
    try:
        secrets = signatures.parse_secrets(settings.upload_secrets or "")

        def verify() -> None:
            body = lambda: _file_chunks(spool)  # noqa: E731 - re-iterable body
            now = time.time()
            tolerance = settings.signature_tolerance_seconds
            if scheme is SignatureScheme.STANDARD_WEBHOOKS:
                signatures.verify_standard(secrets, headers, body, now=now, tolerance=tolerance)
            else:
                signatures.verify_plan(secrets, headers, body, now=now, tolerance=tolerance)

        try:
            await anyio.to_thread.run_sync(verify)
        except signatures.SignatureError as exc:
            detail = {"scheme": str(scheme), "bytes": size}
            await record_rejection(state, request, "upload_rejected", exc.code, detail)
            raise

        def run() -> UploadReport:
            limits = IngestLimits.from_settings(settings)
            sender = f"api ({scheme}) from {request.client.host if request.client else 'unknown'}"
            meta = UploadMeta(sha256, size, scheme, source, filename, sender)
            with state.pool.connection() as conn:
                return ingest(
                    conn, PiiCipher(state.keyring), _file_chunks(spool), meta, limits=limits
                )

        report = await anyio.to_thread.run_sync(run)
    finally:
        spool.close()
    if report.status is UploadStatus.FAILED and not report.duplicate_upload:
        return JSONResponse(
            error_body("unusable_file", report.error or "unusable file", report=report.as_json()),
            status_code=422,
        )
    return JSONResponse(report.as_json(), status_code=200 if report.duplicate_upload else 201)
