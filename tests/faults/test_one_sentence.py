"""Expected failures end in one sentence (what failed, what to do) and a non-zero exit."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from equity_connect.cli import app
from equity_connect.config import get_settings
from equity_connect.db.pool import connect
from equity_connect.jobs import service
from equity_connect.security.crypto import generate_key
from equity_connect.skiptrace.tasks import ENRICH_BATCH
from tests.faults.conftest import ROOT, process_env

runner = CliRunner()


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    monkeypatch.setenv("EC_ENCRYPTION_KEYS", f"k1:{generate_key()}")
    monkeypatch.setenv("EC_INDEX_KEY", generate_key())
    monkeypatch.setenv("EC_UPLOAD_SECRETS", "one-sentence-test-secret")
    monkeypatch.delenv("EC_SKIPTRACE_PROVIDERS", raising=False)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


def one_sentence(args: list[str]) -> str:
    result = runner.invoke(app, args)
    assert result.exit_code not in (0, 1), result.output  # 1 is an unhandled exception
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error: ")
    return lines[0]


@pytest.mark.parametrize("args", [["db", "status"], ["worker"], ["run-jobs"], ["serve"]])
def test_database_url_that_is_not_a_url(env: pytest.MonkeyPatch, args: list[str]) -> None:
    env.setenv("DATABASE_URL", "notaurl")
    get_settings.cache_clear()
    line = one_sentence(args)
    assert "DATABASE_URL is not a PostgreSQL connection URL" in line
    assert "postgresql://USER:PASSWORD@HOST:PORT/DBNAME" in line


@pytest.mark.parametrize(
    "args", [["db", "status"], ["worker"], ["run-jobs"], ["serve"], ["dlq", "list"]]
)
def test_unreachable_database(env: pytest.MonkeyPatch, args: list[str]) -> None:
    env.setenv("DATABASE_URL", f"postgresql://postgres@127.0.0.1:{closed_port()}/postgres")
    get_settings.cache_clear()
    line = one_sentence(args)
    assert "cannot reach the database" in line
    assert "check that PostgreSQL is running and that DATABASE_URL points at it" in line


def test_the_real_command_prints_no_traceback(tmp_path: Path) -> None:
    """Through the installed entry point (not the test runner): stderr is the one line."""
    url = f"postgresql://postgres:s3cret@127.0.0.1:{closed_port()}/postgres"
    done = subprocess.run(  # our own interpreter and module
        [sys.executable, "-m", "equity_connect.cli", "db", "status"],
        env=process_env(url),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 3
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().startswith("error: cannot reach the database")
    assert len(done.stderr.strip().splitlines()) == 1
    assert "s3cret" not in done.stderr  # the password never appears


def test_upload_to_an_unreachable_url(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "leads.csv"
    path.write_text("property_address\n1 Main St\n")
    port = closed_port()
    line = one_sentence(["upload", str(path), "--url", f"http://127.0.0.1:{port}"])
    assert f"cannot send the file to http://127.0.0.1:{port}/v1/uploads (ConnectError" in line
    assert "check --url (EC_UPLOAD_URL)" in line


class _HtmlErrorPage(BaseHTTPRequestHandler):
    """A proxy's error page: HTTP 500 with HTML, not our API's JSON."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        body = b"<html><body><h1>500 Internal Server Error</h1></body></html>"
        self.send_response(500)
        self.send_header("content-type", "text/html")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


def test_upload_answered_with_a_non_json_500(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _HtmlErrorPage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        path = tmp_path / "leads.csv"
        path.write_text("property_address\n1 Main St\n")
        url = f"http://127.0.0.1:{server.server_address[1]}"
        line = one_sentence(["upload", str(path), "--url", url])
    finally:
        server.shutdown()
        server.server_close()
    assert "answered HTTP 500 with a body that is not JSON" in line


@pytest.mark.parametrize("args", [["worker"], ["run-jobs"]])
def test_skiptrace_backlog_without_providers_refuses_to_start(
    env: pytest.MonkeyPatch, fresh_database_url: str, args: list[str]
) -> None:
    env.setenv("DATABASE_URL", fresh_database_url)
    get_settings.cache_clear()
    with connect(fresh_database_url) as conn:
        for i in range(3):
            service.enqueue(conn, ENRICH_BATCH, {"lead_ids": [], "n": i})
        conn.commit()
    line = one_sentence(args)
    assert "3 skip-trace jobs are queued but no skip-trace provider configured" in line
    assert "EC_SKIPTRACE_PROVIDERS" in line
    with psycopg.connect(fresh_database_url) as conn:
        assert conn.execute("select status::text, count(*) from jobs group by 1").fetchall() == [
            ("queued", 3)
        ]
        assert conn.execute("select count(*) from pipeline_dlq").fetchone() == (0,)


def test_run_jobs_starts_without_providers_when_no_skiptrace_job_waits(
    env: pytest.MonkeyPatch, fresh_database_url: str
) -> None:
    env.setenv("DATABASE_URL", fresh_database_url)
    get_settings.cache_clear()
    result = runner.invoke(app, ["run-jobs"])
    assert result.exit_code == 0, result.output
    assert "ran 0 jobs" in result.output
