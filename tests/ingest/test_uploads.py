"""Asynchronous uploads: 202 and a status to poll, an encrypted waiting body, a job
that ingests it, and a sweeper that fails an upload whose process died."""

from __future__ import annotations

import hashlib
import json
import socket
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import uvicorn
from fastapi.testclient import TestClient
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool
from typer.testing import CliRunner

from equity_connect.cli import app
from equity_connect.config import Settings, get_settings
from equity_connect.db.pool import Conn, connect, open_pool
from equity_connect.ingest.schemas import SignatureScheme
from equity_connect.ingest.service import IngestLimits, UploadMeta
from equity_connect.ingest.uploads import (
    accept_upload,
    process_upload,
    status_document,
    status_signing_content,
    sweep_stale_uploads,
)
from equity_connect.jobs.catalog import registry
from equity_connect.jobs.worker import Worker
from equity_connect.observability.metrics import Q as OBS_Q
from equity_connect.security import signatures
from equity_connect.security.crypto import DecryptionError, Keyring, PiiCipher, generate_key
from equity_connect.web.app import create_app
from tests.faults.conftest import Proc, process_env, wait_until
from tests.ingest.helpers import csv_bytes, row

SECRET = "async-upload-test-secret"
MARKER = "owner.secret.marker@example.com"
BODY = csv_bytes(
    [row(mak="3300000001", email=MARKER), row(mak="3300000002", property_address="2 Oak St")]
)


@pytest.fixture
def settings() -> Settings:
    return Settings(
        upload_secrets=SECRET,
        encryption_keys=f"k1:{generate_key()}",
        index_key=generate_key(),
        upload_wait_max_bytes=4096,
    )


@pytest.fixture
def keyring(settings: Settings) -> Keyring:
    assert settings.encryption_keys and settings.index_key
    return Keyring.from_values(settings.encryption_keys, settings.index_key)


@pytest.fixture
def client(settings: Settings, fresh_database_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(settings, conninfo=fresh_database_url)) as c:
        yield c


@pytest.fixture
def pool(fresh_database_url: str, settings: Settings) -> Iterator[ConnectionPool[Conn]]:
    with open_pool(settings, conninfo=fresh_database_url) as p:
        yield p


def signed(body: bytes, *, secret: str = SECRET) -> dict[str, str]:
    ts = int(time.time())
    msg_id = f"msg_{uuid.uuid4().hex}"
    sig = signatures.sign_standard(signatures.parse_secret(secret), msg_id, ts, body)
    return {"webhook-id": msg_id, "webhook-timestamp": str(ts), "webhook-signature": sig}


def send(client: TestClient, body: bytes, **params: str) -> Any:
    return client.post(
        "/v1/uploads",
        content=body,
        headers={**signed(body), "content-type": "text/csv"},
        params=params,
    )


def poll(client: TestClient, upload_id: str, *, secret: str = SECRET) -> Any:
    content = status_signing_content(uuid.UUID(upload_id))
    return client.get(f"/v1/uploads/{upload_id}", headers=signed(content, secret=secret))


def process(pool: ConnectionPool[Conn], keyring: Keyring, upload_id: str) -> bool:
    return process_upload(
        pool, PiiCipher(keyring), uuid.UUID(upload_id), limits=IngestLimits(), heartbeat_seconds=0.2
    )


def scalar(url: str, query: str, *args: object) -> object:
    with psycopg.connect(url) as conn:
        found = conn.execute(query, list(args)).fetchone()
    assert found is not None
    return found[0]


def test_post_answers_202_with_a_location_and_the_worker_finishes_it(
    client: TestClient, pool: ConnectionPool[Conn], keyring: Keyring, fresh_database_url: str
) -> None:
    response = send(client, BODY)
    assert response.status_code == 202, response.text
    doc = response.json()
    upload_id = doc["upload_id"]
    assert response.headers["location"] == f"/v1/uploads/{upload_id}"
    assert (doc["status"], doc["phase"], doc["percent"], doc["report"]) == (
        "received",
        "queued",
        0.0,
        None,
    )
    assert scalar(fresh_database_url, "select count(*) from leads") == 0  # nothing ingested yet
    waiting = poll(client, upload_id)
    assert waiting.status_code == 200 and waiting.json()["phase"] == "queued"

    assert process(pool, keyring, upload_id)
    assert not process(pool, keyring, upload_id)  # the job again (at-least-once): a no-op
    done = poll(client, upload_id).json()
    assert (done["status"], done["phase"], done["percent"]) == ("completed", "completed", 100.0)
    assert (done["rows_read"], done["rows_staged"]) == (2, 2)
    assert done["report"]["inserted"] == 2 and done["report"]["rows"] == 2
    assert scalar(fresh_database_url, "select count(*) from leads") == 2
    # The waiting body is gone with the upload's commit; enrichment is queued.
    assert scalar(fresh_database_url, "select count(*) from upload_bodies") == 0
    assert (
        scalar(
            fresh_database_url,
            "select count(*) from jobs where task = 'skiptrace.enrich_upload'",
        )
        == 1
    )
    again = send(client, BODY)
    assert again.status_code == 200
    assert again.json()["upload_id"] == upload_id and again.json()["duplicate_upload"]


def test_status_needs_the_upload_signature_or_an_ops_key(client: TestClient) -> None:
    upload_id = send(client, BODY).json()["upload_id"]
    assert client.get(f"/v1/uploads/{upload_id}").status_code == 401
    assert poll(client, upload_id, secret="another-secret").status_code == 401
    # A signature for one upload's status does not read another's.
    other = str(uuid.uuid4())
    headers = signed(status_signing_content(uuid.UUID(upload_id)))
    assert client.get(f"/v1/uploads/{other}", headers=headers).status_code == 401
    assert poll(client, other).status_code == 404


def test_the_waiting_body_is_encrypted_and_bound_to_its_place(
    client: TestClient, keyring: Keyring, fresh_database_url: str
) -> None:
    upload_id = uuid.UUID(send(client, BODY).json()["upload_id"])
    blob = scalar(fresh_database_url, "select ciphertext from upload_bodies where seq = 0")
    assert isinstance(blob, bytes)
    assert MARKER.encode() not in blob and b"3300000001" not in blob
    cipher = PiiCipher(keyring)
    aad = f"upload_bodies.ciphertext.{upload_id}.0".encode()
    assert cipher.decrypt_bytes(blob, aad) == BODY
    with pytest.raises(DecryptionError):  # moved to another upload, or another position
        cipher.decrypt_bytes(blob, f"upload_bodies.ciphertext.{uuid.uuid4()}.0".encode())
    with pytest.raises(DecryptionError):
        cipher.decrypt_bytes(blob, f"upload_bodies.ciphertext.{upload_id}.1".encode())


def test_wait_true_answers_with_the_report_only_for_small_bodies(
    client: TestClient, fresh_database_url: str
) -> None:
    small = send(client, BODY, wait="true")
    assert small.status_code == 201, small.text
    assert small.json()["report"]["inserted"] == 2
    rows = [row(mak=f"44{i:08d}", property_address=f"{i + 1} Pine St") for i in range(90)]
    large = csv_bytes(rows)
    assert len(large) > 4096  # over upload_wait_max_bytes: answered at once
    answer = send(client, large, wait="true")
    assert answer.status_code == 202
    assert answer.json()["phase"] == "queued"


def test_a_stale_heartbeat_fails_the_upload_and_the_same_bytes_start_afresh(
    client: TestClient, pool: ConnectionPool[Conn], keyring: Keyring, fresh_database_url: str
) -> None:
    first = send(client, BODY).json()["upload_id"]
    with psycopg.connect(fresh_database_url) as conn:  # a process took it, then went silent
        conn.execute(
            "update uploads set status = 'processing', phase = 'merging', "
            "heartbeat_at = now() - interval '10 minutes' where id = %s",
            [first],
        )
    with connect(fresh_database_url) as conn:
        assert sweep_stale_uploads(conn, stale_seconds=3600) == []  # not stale yet by this bound
        assert sweep_stale_uploads(conn, stale_seconds=60) == [uuid.UUID(first)]
        conn.commit()
    failed = poll(client, first).json()
    assert (failed["status"], failed["phase"]) == ("failed", "failed")
    assert "processing stopped while merging" in failed["error"]
    assert "send the same file again" in failed["error"]
    assert scalar(fresh_database_url, "select count(*) from upload_bodies") == 0

    resent = send(client, BODY)
    assert resent.status_code == 202
    second = resent.json()["upload_id"]
    assert second != first
    assert process(pool, keyring, second)
    assert poll(client, second).json()["status"] == "completed"
    assert poll(client, first).json()["status"] == "failed"


def test_an_upload_whose_job_died_is_failed(client: TestClient, fresh_database_url: str) -> None:
    upload_id = send(client, BODY).json()["upload_id"]
    with psycopg.connect(fresh_database_url) as conn:
        conn.execute("update jobs set status = 'dead' where task = 'ingest.process_upload'")
    with connect(fresh_database_url) as conn:
        assert sweep_stale_uploads(conn, stale_seconds=60) == [uuid.UUID(upload_id)]
        conn.commit()
    assert "see the DLQ" in poll(client, upload_id).json()["error"]


def worker_backends(url: str) -> object:
    """The workers' backends in this test's database (a killed one lingers a moment)."""
    return scalar(
        url,
        "select count(*) from pg_stat_activity where datname = %s "
        "and application_name = 'equity-connect-worker'",
        str(conninfo_to_dict(url)["dbname"]),
    )


def worker_env(url: str, settings: Settings) -> dict[str, str]:
    """A worker process's environment: the keys the body was encrypted with, fast beats."""
    env = process_env(
        url,
        EC_UPLOAD_HEARTBEAT_SECONDS="0.2",
        EC_UPLOAD_STALE_SECONDS="1.5",
        EC_JOB_LEASE_SECONDS="3",  # the sweeper runs on every worker heartbeat (1 s)
    )
    assert settings.encryption_keys and settings.index_key
    env.update(EC_ENCRYPTION_KEYS=settings.encryption_keys, EC_INDEX_KEY=settings.index_key)
    return env


@pytest.mark.slow
def test_killing_the_worker_mid_ingest_leaves_a_failed_upload_and_a_resend_completes(
    fresh_database_url: str, settings: Settings, keyring: Keyring, tmp_path: Path
) -> None:
    body = csv_bytes(
        [row(mak=f"55{i:08d}", property_address=f"{i + 1} Birch St") for i in range(300)]
    )
    cipher = PiiCipher(keyring)
    meta = UploadMeta(hashlib.sha256(body).digest(), len(body), SignatureScheme.LOCAL, "kill")
    with connect(fresh_database_url) as conn:
        first = accept_upload(conn, cipher, [body], meta).upload_id
        conn.commit()
    env = worker_env(fresh_database_url, settings)
    args = [sys.executable, "-m", "equity_connect.cli", "worker", "--concurrency", "1"]
    blocker = psycopg.connect(fresh_database_url)
    procs: list[Proc] = []
    try:
        # Hold leads still, so the ingest is caught mid-merge, its rows staged.
        blocker.execute("lock table leads in share mode")
        doomed = Proc(args, env, tmp_path, "doomed")
        procs.append(doomed)

        def merging() -> bool:
            assert doomed.alive(), doomed.stderr
            with connect(fresh_database_url) as conn:
                doc = status_document(conn, first)
            return bool(doc["phase"] == "merging" and doc["rows_staged"] == 300)

        wait_until(merging, 60, "the worker to stage the upload and start merging")
        doomed.popen.kill()  # SIGKILL: no handler, no cleanup
        doomed.popen.wait(10)
        blocker.rollback()

        wait_until(lambda: worker_backends(fresh_database_url) == 0, 30, "its backend to end")
        survivor = Proc(args, env, tmp_path, "survivor")
        procs.append(survivor)

        def failed() -> bool:
            assert survivor.alive(), survivor.stderr
            with connect(fresh_database_url) as conn:
                return bool(status_document(conn, first)["status"] == "failed")

        wait_until(failed, 60, "the sweeper to fail the upload whose worker died")
        with connect(fresh_database_url) as conn:
            doc = status_document(conn, first)
        assert "processing stopped while merging" in doc["error"]
        # No half merge: not one lead or lineage row of the killed ingest.
        assert scalar(fresh_database_url, "select count(*) from leads") == 0
        assert scalar(fresh_database_url, "select count(*) from upload_rows") == 0

        with connect(fresh_database_url) as conn:
            again = accept_upload(conn, cipher, [body], meta)
            conn.commit()
        assert not again.duplicate and again.upload_id != first

        def completed() -> bool:
            assert survivor.alive(), survivor.stderr
            with connect(fresh_database_url) as conn:
                return bool(status_document(conn, again.upload_id)["status"] == "completed")

        wait_until(completed, 60, "the re-sent upload to complete")
        assert scalar(fresh_database_url, "select count(*) from leads") == 300
    finally:
        blocker.close()
        for proc in procs:
            if proc.alive():
                proc.popen.kill()
                proc.popen.wait(10)


@pytest.fixture
def live_api(settings: Settings, fresh_database_url: str, keyring: Keyring) -> Iterator[str]:
    """The API on a real port, and a worker thread (the real Worker) beside it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, conninfo=fresh_database_url),
            host="127.0.0.1",
            port=port,
            log_level="warning",
        )
    )
    serving = threading.Thread(target=server.run, daemon=True)
    serving.start()
    stop = threading.Event()
    with open_pool(settings, conninfo=fresh_database_url) as pool:
        worker = Worker(pool, registry, settings=settings, keyring=keyring, poll_seconds=0.05)
        working = threading.Thread(target=worker.run, args=(stop,), daemon=True)
        working.start()
        wait_until(lambda: bool(server.started), 20, "the API to start")
        yield f"http://127.0.0.1:{port}"
        stop.set()
        working.join(20)
    server.should_exit = True
    serving.join(10)


def test_cli_upload_waits_for_the_report_and_no_wait_returns_at_once(
    live_api: str, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EC_UPLOAD_SECRETS", SECRET)
    get_settings.cache_clear()
    path = tmp_path / "leads.csv"
    path.write_bytes(BODY)
    args = ["upload", str(path), "--url", live_api, "--json", "--poll-seconds", "0.1"]
    try:
        waited = CliRunner().invoke(app, args)
        other = tmp_path / "more.csv"
        other.write_bytes(csv_bytes([row(mak="3300000009", property_address="9 Ash St")]))
        quick = CliRunner().invoke(
            app, ["upload", str(other), "--url", live_api, "--json", "--no-wait"]
        )
    finally:
        get_settings.cache_clear()
    assert waited.exit_code == 0, waited.output
    doc = json.loads(waited.stdout)
    assert (doc["status"], doc["report"]["inserted"]) == ("completed", 2)
    assert quick.exit_code == 0, quick.output
    accepted = json.loads(quick.stdout)
    assert accepted["location"] == f"/v1/uploads/{accepted['upload_id']}"
    assert accepted["report"] is None  # answered before any ingest


def test_the_dashboard_uploads_query_shows_an_upload_in_progress(
    conn: Conn, cipher: PiiCipher
) -> None:
    meta = UploadMeta(hashlib.sha256(BODY).digest(), len(BODY), SignatureScheme.LOCAL, "live")
    upload_id = accept_upload(conn, cipher, [BODY], meta).upload_id
    conn.execute(
        "update uploads set status = 'processing', phase = 'reading', rows_read = 1, "
        "bytes_read = byte_size / 4 where id = %s",
        [upload_id],
    )
    [shown] = [r for r in conn.execute(OBS_Q["uploads"], {"limit": 50}) if r["id"] == upload_id]
    quarter = 100 * (len(BODY) // 4) // len(BODY)
    assert (shown["phase"], shown["rows_read"]) == ("reading", 1)
    assert shown["progress"] == f"reading {quarter}% · 1 rows"
    assert shown["percent"] == pytest.approx(100 * (len(BODY) // 4) / len(BODY), abs=0.1)


def test_deleting_or_truncating_uploads_takes_their_waiting_bodies(
    conn: Conn, cipher: PiiCipher
) -> None:
    meta = UploadMeta(hashlib.sha256(BODY).digest(), len(BODY), SignatureScheme.LOCAL, "gone")
    upload_id = accept_upload(conn, cipher, [BODY], meta).upload_id
    bodies = "select count(*) as n from upload_bodies where upload_id = %s"
    assert conn.execute(bodies, [upload_id]).fetchone() == {"n": 1}
    conn.execute("delete from uploads where id = %s", [upload_id])
    assert conn.execute(bodies, [upload_id]).fetchone() == {"n": 0}
    accept_upload(conn, cipher, [BODY], meta)
    conn.execute("truncate uploads")
    assert conn.execute("select count(*) as n from upload_bodies").fetchone() == {"n": 0}
