"""``equity-connect ingest | upload | uploads``: CSV files in, reports and rejects out."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import socket
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from equity_connect.cli_support import fail, keyring_or_exit, migrated_database_url
from equity_connect.config import get_settings
from equity_connect.db.pool import connect
from equity_connect.ingest.extras import encrypt_legacy_extras
from equity_connect.ingest.rejects import rejected_rows, rejects_table
from equity_connect.ingest.schemas import SignatureScheme
from equity_connect.ingest.service import IngestLimits, UploadMeta, UploadReport, ingest
from equity_connect.ingest.uploads import status_signing_content
from equity_connect.security import signatures
from equity_connect.security.crypto import DecryptionError, PiiCipher

_console = Console()
_CHUNK = 1024 * 1024


def _sha256_of(path: Path) -> tuple[bytes, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.digest(), size


def _read(path: Path, progress: Progress | None = None, task: int | None = None) -> Iterator[bytes]:
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            if progress is not None and task is not None:
                progress.advance(task, len(chunk))  # type: ignore[arg-type]
            yield chunk


def _print_report(report: UploadReport, as_json: bool) -> None:
    if as_json:
        print(json.dumps(report.as_json()))
        return
    table = Table(title=f"upload {report.upload_id}", show_header=False)
    for key, value in report.as_json().items():
        if key in {"warnings", "rejects_command"}:
            continue
        table.add_row(key, "" if value is None else str(value))
    _console.print(table)
    for warning in report.warnings:
        _console.print(f"warning: {warning}", markup=False)
    if report.rejects_command is not None:
        # Last, so the next thing to type is on the last line.
        _console.print(f"{report.rejected} rows rejected; list them with:", markup=False)
        _console.print(f"  {report.rejects_command}", markup=False)


def ingest_cmd(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    source: Annotated[str | None, typer.Option(envvar="EC_INGEST_SOURCE")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
) -> None:
    """Ingest a CSV file directly (same pipeline as the upload API, no HTTP)."""
    settings = get_settings()
    keyring = keyring_or_exit(settings)
    url = migrated_database_url(settings)
    sha256, size = _sha256_of(file)
    sender = f"cli: {os.environ.get('USER') or 'unknown'}@{socket.gethostname()}"
    meta = UploadMeta(sha256, size, SignatureScheme.LOCAL, source, file.name, sender)
    limits = IngestLimits.from_settings(settings)
    progress = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=not sys.stderr.isatty(),
    )
    with progress, connect(url) as conn:
        task = progress.add_task(f"ingest {file.name}", total=size)
        report = ingest(conn, PiiCipher(keyring), _read(file, progress, task), meta, limits=limits)
        conn.commit()
    _print_report(report, as_json)
    if report.status == "failed" and not report.duplicate_upload:
        raise typer.Exit(1)


def _signed_headers(secret: bytes, scheme: str, body: signatures.Body) -> dict[str, str]:
    if scheme == "standard":
        msg_id = f"upl_{uuid.uuid4().hex}"
        now = int(time.time())
        return {
            "webhook-id": msg_id,
            "webhook-timestamp": str(now),
            "webhook-signature": signatures.sign_standard(secret, msg_id, now, body),
        }
    if scheme == "plan":
        stamp = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        return signatures.sign_plan(secret, stamp, body)
    raise fail(f"unknown scheme {scheme!r}: use standard or plan")


def _json_of(response: httpx.Response, endpoint: str) -> dict[str, Any]:
    try:
        found = response.json()
    except ValueError:
        found = None
    if not isinstance(found, dict):
        # A proxy's HTML error page or a crashed server: not our API's answer.
        raise fail(
            f"{endpoint} answered HTTP {response.status_code} with a body that is not JSON: "
            "check that --url points at `equity-connect serve` and see that server's log"
        ) from None
    return found


def _poll_until_done(
    client: httpx.Client, base: str, secret: bytes, doc: dict[str, Any], interval: float
) -> dict[str, Any]:
    """Poll the upload's Location, showing its phase and progress, until it finishes."""
    upload_id = uuid.UUID(doc["upload_id"])
    target = f"{base}{doc['location']}"
    progress = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        "[progress.percentage]{task.percentage:>3.0f}%",
        "{task.fields[rows]}",
        TimeElapsedColumn(),
        console=Console(stderr=True),
        disable=not sys.stderr.isatty(),
    )
    with progress:
        task = progress.add_task(f"upload {doc['phase']}", total=100, rows="")
        while doc["status"] not in ("completed", "failed"):
            time.sleep(interval)
            headers = _signed_headers(secret, "standard", status_signing_content(upload_id))
            try:
                response = client.get(target, headers=headers)
            except httpx.TransportError as exc:
                raise fail(
                    f"lost the API while waiting for upload {upload_id} ({type(exc).__name__}); "
                    f"it goes on there: see `equity-connect uploads list` or GET {target}"
                ) from None
            doc = _json_of(response, target)
            if response.status_code >= 400:
                raise fail(f"cannot read upload {upload_id}'s status: {doc.get('detail')}")
            rows = f"{doc['rows_read']:,} rows read, {doc['rows_staged']:,} staged"
            progress.update(
                task, completed=doc["percent"], description=f"upload {doc['phase']}", rows=rows
            )
    return doc


def upload_cmd(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    *,
    url: Annotated[str, typer.Option(envvar="EC_UPLOAD_URL", help="API base URL")],
    scheme: Annotated[
        str, typer.Option(help="standard (Standard Webhooks) or plan (X-Signature headers)")
    ] = "standard",
    source: Annotated[str | None, typer.Option(envvar="EC_INGEST_SOURCE")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    wait: Annotated[
        bool,
        typer.Option(
            "--wait/--no-wait",
            help="Wait for the ingest, showing its phases (default), or return once accepted",
        ),
    ] = True,
    poll_seconds: Annotated[float, typer.Option(help="How often to poll while waiting")] = 1.0,
) -> None:
    """Sign a CSV file with the first of EC_UPLOAD_SECRETS and send it to the upload API.

    The API accepts it at once (202); by default this then polls the upload
    until it is ingested, showing its phase, and prints the report.
    """
    settings = get_settings()
    secrets = signatures.parse_secrets(settings.upload_secrets or "")
    if not secrets:
        raise fail("EC_UPLOAD_SECRETS is not set: nothing to sign with")
    body = lambda: _read(file)  # noqa: E731 - re-iterable body for signing
    headers = _signed_headers(secrets[0], scheme, body)
    base = url.rstrip("/").removesuffix("/v1/uploads")
    endpoint = f"{base}/v1/uploads"
    params = {"filename": file.name, **({"source": source} if source else {})}
    with httpx.Client(timeout=httpx.Timeout(30.0, read=None)) as client:
        try:
            response = client.post(
                endpoint,
                content=_read(file),
                headers={**headers, "content-type": "text/csv"},
                params=params,
            )
        except (httpx.TransportError, httpx.InvalidURL) as exc:
            raise fail(
                f"cannot send the file to {endpoint} ({type(exc).__name__}: {exc}): "
                "check --url (EC_UPLOAD_URL) and that `equity-connect serve` is running there"
            ) from None
        doc = _json_of(response, endpoint)
        status_code = response.status_code
        if wait and status_code < 400 and "location" in doc:
            doc = _poll_until_done(client, base, secrets[0], doc, poll_seconds)
    if as_json:
        print(json.dumps(doc))
    else:
        _console.print(f"HTTP {status_code}")
        _console.print_json(json.dumps(doc))
    if status_code >= 400 or doc.get("status") == "failed":
        raise typer.Exit(1)


uploads_app = typer.Typer(help="Inspect uploads and their rejected rows.", no_args_is_help=True)


@uploads_app.command("list")
def uploads_list(limit: int = 20) -> None:
    """The latest uploads with their counts."""
    url = migrated_database_url()
    table = Table("id", "received", "source", "status", "rows", "ins", "merged", "rejected")
    with connect(url) as conn:
        for r in conn.execute(
            "select id, received_at, source, status, row_count, inserted_count, merged_count, "
            "rejected_count from uploads order by received_at desc limit %s",
            [limit],
        ):
            table.add_row(
                str(r["id"]),
                r["received_at"].isoformat(timespec="seconds"),
                r["source"] or "",
                r["status"],
                *(
                    str(r[k])
                    for k in ("row_count", "inserted_count", "merged_count", "rejected_count")
                ),
            )
    _console.print(table)


@uploads_app.command("rejects")
def uploads_rejects(
    upload_id: uuid.UUID,
    as_csv: Annotated[
        bool, typer.Option("--csv", help="The original rows as CSV, to fix and re-upload")
    ] = False,
) -> None:
    """The rejected rows of an upload: row, line, field and reason (and, with --csv, the row)."""
    settings = get_settings()
    url = migrated_database_url(settings)
    cipher = PiiCipher(keyring_or_exit(settings)) if as_csv else None
    with connect(url) as conn:
        try:
            rows = rejected_rows(conn, upload_id, cipher)
        except DecryptionError as exc:
            raise fail(f"a rejected row cannot be decrypted: {exc}") from exc
    if not as_csv:
        table = Table("row", "line", "field", "reason")
        for r in rows:
            table.add_row(str(r.row_number), str(r.line_number), r.field or "", r.reason)
        _console.print(table)
        return
    columns, decoded = rejects_table(rows)
    writer = csv.DictWriter(sys.stdout, fieldnames=columns)
    writer.writeheader()
    writer.writerows(decoded)


@uploads_app.command("encrypt-extras")
def uploads_encrypt_extras(batch: int = 1000) -> None:
    """Encrypt the unknown CSV columns that leads ingested before migration 0013 hold in
    clear (leads.raw); safe to re-run, and to run while ingests go on."""
    settings = get_settings()
    url = migrated_database_url(settings)
    cipher = PiiCipher(keyring_or_exit(settings))
    total = 0
    with connect(url) as conn:
        while done := encrypt_legacy_extras(conn, cipher, limit=batch):
            conn.commit()  # one batch per transaction: locks stay short
            total += done
    _console.print(f"encrypted the unknown columns of {total} leads")
