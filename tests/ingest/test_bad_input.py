"""Issue 13: bad vendor files through the real entry points (CLI and HTTP).

Small files are staged in one process, files of 4 MB and more by worker
processes; both must account for every line: lines in = rows loaded +
merged + rejected.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from equity_connect.cli import app
from equity_connect.config import Settings, get_settings
from equity_connect.db.pool import Conn
from equity_connect.ingest.schemas import UploadStatus
from equity_connect.security import signatures
from equity_connect.security.crypto import PiiCipher, generate_key
from equity_connect.web.app import create_app
from tests.ingest.helpers import run_ingest

SECRET = "plain-text-upload-secret-13"
HEADER = [
    "MAK",
    "Owner First Name",
    "Owner Last Name",
    "Site Address",
    "City",
    "State",
    "Zip Code",
    "Notes",
]
runner = CliRunner()


def vendor_file(rows: int = 1000, *, notes_bytes: int = 0) -> bytes:
    """The issue's file: `"Unclosed` in row 3's owner name, nothing else quoted.

    ``notes_bytes`` pads every row's free-text column, to push the file past
    the size at which workers stage it.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADER)
    for i in range(1, rows + 1):
        note = f"note {i} " + "x" * notes_bytes
        writer.writerow(
            [2_300_000_000 + i, "Ana", "Garcia", f"{i} Oak St", "Denver", "CO", "80202", note]
        )
    text = out.getvalue().replace("Garcia", '"Unclosed', 3).replace('"Unclosed', "Garcia", 2)
    assert text.count('"') == 1  # only the damage: the third row's owner name
    return text.encode()


def data_lines(body: bytes) -> int:
    return body.count(b"\r\n") - 1  # minus the header


def upload_rows(url: str, upload_id: str) -> list[tuple[int, int, str, str | None]]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "select row_number, line_number, status::text, reason from upload_rows "
            "where upload_id = %s order by row_number",
            [upload_id],
        ).fetchall()


def assert_every_line_accounted_for(url: str, report: dict[str, object], body: bytes) -> None:
    lines = data_lines(body)
    assert report["status"] == "completed"
    assert report["rows"] == lines
    assert report["inserted"] + report["merged"] + report["rejected"] == lines  # type: ignore[operator]
    assert report["rejected"] == 1
    rows = upload_rows(url, str(report["upload_id"]))
    assert [r[0] for r in rows] == list(range(1, lines + 1))
    assert [r[1] for r in rows] == list(range(2, lines + 2))  # one row per physical line
    rejected = [r for r in rows if r[2] == "rejected"]
    assert rejected == [(3, 4, "rejected", "unmatched quote starting at line 4")]
    assert report["rejects_command"] == f"equity-connect uploads rejects {report['upload_id']}"
    assert list(report)[-1] == "rejects_command"


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, fresh_database_url: str) -> Iterator[str]:
    monkeypatch.setenv("DATABASE_URL", fresh_database_url)
    monkeypatch.setenv("EC_ENCRYPTION_KEYS", f"k1:{generate_key()}")
    monkeypatch.setenv("EC_INDEX_KEY", generate_key())
    monkeypatch.setenv("EC_INGEST_WORKERS", "2")
    get_settings.cache_clear()
    yield fresh_database_url
    get_settings.cache_clear()


@pytest.mark.parametrize("notes_bytes", [0, 4200], ids=["one-process", "workers"])
def test_cli_unclosed_quote_in_row_3_loses_no_line(
    cli_env: str, tmp_path: Path, notes_bytes: int
) -> None:
    body = vendor_file(notes_bytes=notes_bytes)
    assert (len(body) >= 4 << 20) == bool(notes_bytes)  # the path under test
    path = tmp_path / "vendor.csv"
    path.write_bytes(body)
    result = runner.invoke(app, ["ingest", str(path), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert_every_line_accounted_for(cli_env, report, body)
    assert (report["encoding"], report["delimiter"]) == ("utf-8", "comma")
    # The human report ends with the command that lists the rejects.
    path.write_bytes(body + b"2399999999,Ana,Garcia,1 Elm St,Denver,CO,80202,n\r\n")
    table = runner.invoke(app, ["ingest", str(path)])
    assert table.exit_code == 0, table.output
    assert (
        table.stdout.rstrip().splitlines()[-1].strip().startswith("equity-connect uploads rejects ")
    )
    listed = runner.invoke(app, ["uploads", "rejects", report["upload_id"]])
    assert listed.exit_code == 0 and "unmatched quote starting at line 4" in listed.stdout


@pytest.mark.parametrize("notes_bytes", [0, 4200], ids=["one-process", "workers"])
def test_http_unclosed_quote_in_row_3_loses_no_line(
    fresh_database_url: str, notes_bytes: int
) -> None:
    settings = Settings(
        upload_secrets=SECRET,
        encryption_keys=f"k1:{generate_key()}",
        index_key=generate_key(),
        ingest_workers=2,
        upload_wait_max_bytes=64 * 1024 * 1024,
    )
    body = vendor_file(notes_bytes=notes_bytes)
    ts = int(time.time())
    headers = {
        "webhook-id": "msg_13",
        "webhook-timestamp": str(ts),
        "webhook-signature": signatures.sign_standard(
            signatures.parse_secret(SECRET), "msg_13", ts, body
        ),
        "content-type": "text/csv",
    }
    with TestClient(create_app(settings, conninfo=fresh_database_url)) as client:
        response = client.post(
            "/v1/uploads", content=body, headers=headers, params={"wait": "true"}
        )
    assert response.status_code == 201, response.text
    assert_every_line_accounted_for(fresh_database_url, response.json()["report"], body)


# --- item 6: real vendor files, through the service --------------------------------


def stored_facts(conn: Conn, upload_id: object) -> dict[str, object] | None:
    return conn.execute(
        "select encoding, delimiter, warnings from uploads where id = %s", [upload_id]
    ).fetchone()


def test_cp1252_file_lands_with_its_accents_and_names_its_encoding(
    conn: Conn, cipher: PiiCipher
) -> None:
    body = "address;zip;owner_first_name\r\n1 Main St;90001;José\r\n2 Elm St;90002;Zoë\r\n"
    report = run_ingest(conn, cipher, body.encode("cp1252"))
    assert (report.status, report.inserted, report.rejected) == (UploadStatus.COMPLETED, 2, 0)
    names = conn.execute("select owner_first_name from leads order by property_address")
    assert [r["owner_first_name"] for r in names] == ["José", "Zoë"]
    assert (report.encoding, report.delimiter) == ("cp1252", "semicolon")
    assert any("re-save the file as CSV UTF-8" in w for w in report.warnings)
    assert stored_facts(conn, report.upload_id) == {
        "encoding": "cp1252",
        "delimiter": "semicolon",
        "warnings": list(report.warnings),
    }
    # A duplicate upload's report, read back from the record, says the same.
    again = run_ingest(conn, cipher, body.encode("cp1252"))
    assert again.duplicate_upload
    assert (again.encoding, again.delimiter, again.warnings) == (
        "cp1252",
        "semicolon",
        report.warnings,
    )


def test_utf16_tab_file_from_excel_is_read(conn: Conn, cipher: PiiCipher) -> None:
    body = "address\tzip\towner_last_name\r\n1 Main St\t90001\tNguyễn\r\n"
    report = run_ingest(conn, cipher, b"\xff\xfe" + body.encode("utf-16-le"), chunk=5)
    assert (report.inserted, report.encoding, report.delimiter) == (1, "utf-16-le", "tab")
    found = conn.execute("select owner_last_name from leads").fetchone()
    assert found == {"owner_last_name": "Nguyễn"}


def test_header_only_file_is_a_warning_not_a_silent_success(conn: Conn, cipher: PiiCipher) -> None:
    report = run_ingest(conn, cipher, b"address,zip,city\r\n")
    assert (report.status, report.rows) == (UploadStatus.COMPLETED, 0)
    assert report.warnings == ("the file has a header but no data rows: nothing was loaded",)
    assert report.rejects_command is None
    assert report.as_json()["warnings"] == list(report.warnings)


def test_ambiguous_delimiter_fails_the_upload_with_a_sentence(
    conn: Conn, cipher: PiiCipher
) -> None:
    report = run_ingest(conn, cipher, b"address,zip,a;street;zipcode\n1 Main,90210,x;y;z\n")
    assert report.status is UploadStatus.FAILED
    assert report.error is not None
    assert report.error.startswith("line 1: cannot tell the delimiter")
    assert "re-save" in report.error


def test_over_long_field_reject_names_the_field(conn: Conn, cipher: PiiCipher) -> None:
    body = b"address,zip,notes\n1 Main St,90001," + b"y" * 140_000 + b"\n2 Elm St,90002,ok\n"
    report = run_ingest(conn, cipher, body)
    assert (report.inserted, report.rejected) == (1, 1)
    got = conn.execute(
        "select field, reason from upload_rows where upload_id = %s and status = 'rejected'",
        [report.upload_id],
    ).fetchone()
    assert got == {"field": "notes", "reason": "field longer than 131072 bytes"}


def test_cli_warns_on_a_header_only_file(cli_env: str, tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(b"address,zip\n")
    result = runner.invoke(app, ["ingest", str(path)])
    assert result.exit_code == 0, result.output
    assert "warning: the file has a header but no data rows" in result.stdout


def test_rows_read_but_missing_from_lineage_fail_the_upload(
    conn: Conn, cipher: PiiCipher, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A fault that would lose a row between staging and lineage (simulated
    # here by a batch that claims a row its COPY text does not hold) must
    # fail the upload, never complete it with the row nowhere.
    from equity_connect.ingest import service
    from equity_connect.ingest.staging import StagedBatch

    real = service.staged_batches

    def losing_a_row(*args: object, **kwargs: object) -> Iterator[StagedBatch]:
        for batch in real(*args, **kwargs):  # type: ignore[arg-type]
            yield StagedBatch(batch.copy_text, batch.staged + 1, batch.rejects)

    monkeypatch.setattr(service, "staged_batches", losing_a_row)
    report = run_ingest(conn, cipher, b"address,zip\n1 Main St,90001\n2 Elm St,90002\n")
    assert report.status is UploadStatus.FAILED
    assert report.error is not None
    assert report.error.startswith("1 of 3 rows read are not accounted for; nothing was loaded")
    assert report.rows == 0  # nothing loaded
