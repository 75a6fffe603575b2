"""``POST /v1/uploads``: a signed CSV body in, 202 and a status to poll out."""

from __future__ import annotations

import tempfile
import time
import uuid
from collections.abc import Iterator
from typing import IO

import anyio.to_thread
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from equity_connect.db import queries
from equity_connect.ingest.schemas import SignatureScheme, UploadStatus
from equity_connect.ingest.service import IngestLimits, UploadMeta
from equity_connect.ingest.uploads import (
    Accepted,
    accept_upload,
    process_upload,
    status_document,
    status_signing_content,
)
from equity_connect.security import signatures
from equity_connect.security.apikeys import Scope
from equity_connect.security.crypto import PiiCipher
from equity_connect.web.auth import authenticate, require_ops
from equity_connect.web.errors import DomainError, error_body
from equity_connect.web.guards import record_rejection, too_large
from equity_connect.web.state import AppState, state_of

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


async def _spool_body(
    request: Request, cap: int, spool: IO[bytes], hashed: signatures.StreamedBody
) -> int:
    """Stream the body to ``spool``, hashing it as it comes; 413 as soon as it passes ``cap``.

    Hashing here (the SHA-256 identity and the signature's HMACs) overlaps
    the work with the body's arrival: verifying it later is a comparison.
    """
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > cap:
        raise too_large(cap)
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            raise too_large(cap)
        hashed.update(chunk)
        spool.write(chunk)
    return size


def _preflight(content_type: str, headers: dict[str, str]) -> SignatureScheme:
    """What can be refused before reading the body: its type and missing signatures."""
    if content_type not in _CSV_TYPES:
        raise DomainError(415, "unsupported_media_type", "send the CSV as text/csv")
    return _scheme(headers)


_STATUS_DOC = "The upload's status document (see GET /v1/uploads/{upload_id})"


@router.post(
    "/v1/uploads",
    status_code=202,
    responses={
        200: {"description": "The same bytes are a live upload already: " + _STATUS_DOC},
        201: {"description": "With ?wait=true, ingested: " + _STATUS_DOC + ", report filled"},
        202: {"description": "Accepted and queued: " + _STATUS_DOC + "; poll its Location"},
        400: {"description": "A signature header is missing or malformed"},
        401: {"description": "The signature does not verify, or its timestamp is outside ±5 min"},
        413: {"description": "The body is over the size limit"},
        415: {"description": "The body is not CSV"},
        422: {"description": "With ?wait=true: the file as a whole is unusable"},
    },
)
async def upload_csv(
    request: Request,
    source: str | None = Query(default=None, max_length=200, description="Vendor or list name"),
    filename: str | None = Query(default=None, max_length=500),
    wait: bool = Query(
        default=False,
        description="Answer with the finished report (only for a body up to "
        "EC_UPLOAD_WAIT_MAX_BYTES, processed within EC_UPLOAD_WAIT_SECONDS; else 202)",
    ),
) -> JSONResponse:
    """Accept a signed CSV sent as the raw request body (``Content-Type: text/csv``).

    The signature and size are checked over the exact bytes before anything
    is stored; the body is then stored encrypted and processed by a worker.
    The answer is ``202 Accepted`` with ``Location: /v1/uploads/{id}``: poll
    it until ``status`` is ``completed`` or ``failed``. The body's SHA-256 is
    the upload's identity: the same bytes again return the first upload
    (``duplicate_upload: true``, 200), finished or not, unless it failed.
    """
    state = state_of(request)
    settings = state.settings
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    headers = {k.lower(): v for k, v in request.headers.items()}
    secrets = signatures.parse_secrets(settings.upload_secrets or "")
    spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)  # noqa: SIM115 - closed below
    hashed = signatures.StreamedBody(secrets, headers, lambda: _file_chunks(spool))
    try:
        scheme = _preflight(content_type, headers)
        size = await _spool_body(request, settings.max_upload_bytes, spool, hashed)
    except (DomainError, signatures.SignatureError) as exc:
        spool.close()
        await record_rejection(state, request, "upload_rejected", exc.code, {"stage": "headers"})
        raise
    sha256 = hashed.sha256()
    cipher = PiiCipher(state.keyring)
    try:

        def verify() -> None:
            body = hashed
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

        def accept() -> Accepted:
            sender = f"api ({scheme}) from {request.client.host if request.client else 'unknown'}"
            meta = UploadMeta(sha256, size, scheme, source, filename, sender)
            with state.pool.connection() as conn:  # commits: the upload is queued
                return accept_upload(conn, cipher, _file_chunks(spool), meta)

        accepted = await anyio.to_thread.run_sync(accept)
    finally:
        spool.close()
    # A duplicate is answered at once, finished or not: its processing is another's.
    if wait and not accepted.duplicate and size <= settings.upload_wait_max_bytes:
        return await anyio.to_thread.run_sync(_answer_when_done, state, cipher, accepted)
    return _answer(state, accepted, waited=False)


def _answer(state: AppState, accepted: Accepted, *, waited: bool) -> JSONResponse:
    with state.pool.connection() as conn:
        doc = status_document(conn, accepted.upload_id, duplicate=accepted.duplicate)
    headers = {"location": doc["location"]}
    finished = doc["status"] in (UploadStatus.COMPLETED, UploadStatus.FAILED)
    if waited and finished and not accepted.duplicate:
        if doc["status"] == UploadStatus.FAILED:
            return JSONResponse(
                error_body("unusable_file", doc["error"] or "unusable file", upload=doc),
                status_code=422,
                headers=headers,
            )
        return JSONResponse(doc, status_code=201, headers=headers)
    return JSONResponse(doc, status_code=200 if accepted.duplicate else 202, headers=headers)


def _answer_when_done(state: AppState, cipher: PiiCipher, accepted: Accepted) -> JSONResponse:
    """``?wait=true``: process here unless a worker already took it, then wait for the end."""
    settings = state.settings
    process_upload(
        state.pool,
        cipher,
        accepted.upload_id,
        limits=IngestLimits.from_settings(settings),
        heartbeat_seconds=settings.upload_heartbeat_seconds,
    )
    deadline = time.monotonic() + settings.upload_wait_seconds
    while True:
        with state.pool.connection() as conn:
            doc = status_document(conn, accepted.upload_id)
        if doc["status"] in (UploadStatus.COMPLETED, UploadStatus.FAILED):
            break
        if time.monotonic() >= deadline:
            break
        time.sleep(0.1)
    return _answer(state, accepted, waited=True)


def _authorize_status_read(request: Request, upload_id: uuid.UUID) -> None:
    """An ops key (scope ``leads:read``), or the uploader's own Standard Webhooks signature.

    The uploader holds only the upload secret, so it may sign the request
    target (``GET /v1/uploads/{id}``) as the signed content, as the CLI does.
    """
    state = state_of(request)
    headers = {k.lower(): v for k, v in request.headers.items()}
    if signatures.STANDARD_SIGNATURE_HEADER in headers:
        secrets = signatures.parse_secrets(state.settings.upload_secrets or "")
        signatures.verify_standard(
            secrets,
            headers,
            status_signing_content(upload_id),
            now=time.time(),
            tolerance=state.settings.signature_tolerance_seconds,
        )
        return
    require_ops(authenticate(request), Scope.LEADS_READ)


@router.get(
    "/v1/uploads/{upload_id}",
    responses={
        200: {"description": _STATUS_DOC},
        401: {"description": "No valid ops key or upload signature"},
        403: {"description": "The key lacks scope leads:read"},
        404: {"description": "No such upload"},
    },
)
def upload_status(upload_id: uuid.UUID, request: Request) -> JSONResponse:
    """The upload's status document: phase (``queued``, ``reading``, ``merging``,
    ``completed``, ``failed``), rows read and staged, percent of the file read,
    and, once finished, its report. Authenticated with an ops API key
    (``X-API-Key``, scope ``leads:read``) or with Standard Webhooks headers
    signed with ``EC_UPLOAD_SECRETS`` over the content ``GET /v1/uploads/{id}``.
    """
    _authorize_status_read(request, upload_id)
    state = state_of(request)
    with state.pool.connection() as conn:
        try:
            doc = status_document(conn, upload_id)
        except KeyError:
            raise DomainError(404, "no_such_upload", "no upload has this id") from None
    return JSONResponse(doc, headers={"location": doc["location"]})
