"""The API answers 503 (never a 500 or a hang) while its database is away, and recovers.

``equity-connect serve`` runs as its own process (real uvicorn, real pool);
its backends are terminated mid-work, or its network cut by a simulated
proxy. Uploads a client sent again after a 503 all land exactly once.
"""

from __future__ import annotations

import socket
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest

from equity_connect.db import migrate
from equity_connect.security import signatures
from equity_connect.web.app import API_APPLICATION_NAME
from tests.conftest import create_database, drop_database
from tests.faults.conftest import Proc, process_env, terminate_backends, wait_until
from tests.faults.proxy import SimulatedNetworkCut
from tests.ingest.helpers import csv_bytes, row

SECRET = "fault-test-upload-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Api:
    """A running ``equity-connect serve``."""

    def __init__(self, database_url: str, tmp: Path, **settings: str) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc = Proc(
            [sys.executable, "-m", "equity_connect.cli", "serve"],
            process_env(
                database_url,
                EC_PORT=str(self.port),
                EC_UPLOAD_SECRETS=SECRET,
                EC_POOL_TIMEOUT_SECONDS="2",
                **settings,
            ),
            tmp,
            "api",
        )
        wait_until(self._up, 60, "the API to answer /healthz")

    def _up(self) -> bool:
        assert self.proc.alive(), self.proc.stderr
        try:
            return httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False


@dataclass
class Served:
    """One API process for this module (start-up costs seconds), behind a cuttable proxy."""

    api: Api
    db: str
    proxy: SimulatedNetworkCut


@pytest.fixture(scope="module")
def served(server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    name = f"ec_faults_api_{uuid.uuid4().hex[:12]}"
    url = create_database(server_url, name)
    migrate.migrate(url)
    proxy = SimulatedNetworkCut(url)
    api = Api(proxy.url, tmp_path_factory.mktemp("api"), EC_REQUEST_BODY_TIMEOUT_SECONDS="1")
    try:
        yield Served(api, url, proxy)
    finally:
        api.proc.stop()
        proxy.close()
        drop_database(server_url, name)


def upload(base: str, body: bytes) -> httpx.Response:
    msg_id = f"msg_{uuid.uuid4().hex}"
    ts = int(time.time())
    sig = signatures.sign_standard(signatures.parse_secret(SECRET), msg_id, ts, body)
    headers = {
        "webhook-id": msg_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": sig,
        "content-type": "text/csv",
    }
    # ?wait=true: the API ingests it in the request, so its backends are busy when cut.
    return httpx.post(
        f"{base}/v1/uploads", content=body, headers=headers, params={"wait": "true"}, timeout=30
    )


def upload_count(url: str) -> int:
    with psycopg.connect(url) as conn:
        found = conn.execute("select count(*) from uploads").fetchone()
    assert found is not None
    return int(found[0])


def test_api_rides_out_terminated_backends_twice(served: Served, server_url: str) -> None:
    api, fault_db = served.api, served.db
    before = upload_count(fault_db)
    bodies = [
        csv_bytes([row(mak=f"77{i:08d}", property_address=f"{i + 1} Fault Ave") for _ in range(1)])
        for i in range(30)
    ]
    codes: list[int] = []
    slowest = [0.0]
    lock = threading.Lock()
    pending = list(bodies)

    def client() -> None:
        while True:
            with lock:
                if not pending:
                    return
                body = pending.pop()
            for _ in range(20):  # a 503 says "retry shortly": the client does
                started = time.monotonic()
                answer = upload(api.base, body)
                with lock:
                    codes.append(answer.status_code)
                    slowest[0] = max(slowest[0], time.monotonic() - started)
                if answer.status_code != 503:
                    break
                time.sleep(0.2)

    def scraper(stop: threading.Event) -> None:
        while not stop.is_set():
            answer = httpx.get(f"{api.base}/metrics", timeout=30)
            with lock:
                codes.append(answer.status_code)

    stop = threading.Event()
    threads = [threading.Thread(target=client) for _ in range(3)]
    threads.append(threading.Thread(target=scraper, args=(stop,)))
    for t in threads:
        t.start()
    terminated = 0
    for left in (20, 10):  # two rounds, while uploads are in flight
        wait_until(lambda n=left: len(pending) <= n, 60, f"{left} uploads left")
        terminated += terminate_backends(server_url, fault_db, API_APPLICATION_NAME)
    for t in threads[:-1]:
        t.join(timeout=120)
    stop.set()
    threads[-1].join(timeout=30)
    print(
        f"[faults] terminate API backends x2: faults injected {terminated}, "
        f"uploads lost {len(bodies) - (upload_count(fault_db) - before)}, "
        f"answers {sorted(set(codes))}, 503s {codes.count(503)}, slowest {slowest[0]:.2f} s"
    )
    assert terminated > 0
    assert set(codes) <= {200, 201, 503}, codes  # never a 500
    assert upload_count(fault_db) - before == len(bodies)  # every upload landed, once
    assert slowest[0] < 15
    assert api.proc.alive()
    assert httpx.get(f"{api.base}/metrics", timeout=10).status_code == 200


def test_api_answers_503_while_the_database_is_away_and_recovers(served: Served) -> None:
    api, cuttable = served.api, served.proxy
    assert httpx.get(f"{api.base}/metrics", timeout=10).status_code == 200
    cuttable.cut()
    for path in ("/metrics", "/readyz"):
        started = time.monotonic()
        answer = httpx.get(f"{api.base}{path}", timeout=30)
        assert answer.status_code == 503, (path, answer.text)
        assert time.monotonic() - started < 8  # bounded by EC_POOL_TIMEOUT_SECONDS, no hang
    answer = upload(api.base, csv_bytes([row(mak="7700000999")]))
    assert answer.status_code == 503, answer.text
    assert answer.json()["error"] == "database_unavailable"
    assert answer.headers["retry-after"] == "5"
    time.sleep(3)
    cuttable.restore()
    wait_until(
        lambda: httpx.get(f"{api.base}/metrics", timeout=30).status_code == 200,
        30,
        "the API to recover by itself",
    )
    assert upload(api.base, csv_bytes([row(mak="7700000999")])).status_code == 201
    assert api.proc.alive()
    assert "Traceback" not in api.proc.stderr


def _raw_request(port: int, body: bytes, length: int) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    ts = int(time.time())
    sig = signatures.sign_standard(signatures.parse_secret(SECRET), "msg_slow", ts, body)
    head = (
        "POST /v1/uploads?wait=true HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/csv\r\n"
        f"Content-Length: {length}\r\nwebhook-id: msg_slow\r\nwebhook-timestamp: {ts}\r\n"
        f"webhook-signature: {sig}\r\n\r\n"
    )
    s.sendall(head.encode())
    return s


def _read_all(s: socket.socket) -> bytes:
    chunks = []
    while chunk := s.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_a_body_that_stops_arriving_is_answered_408(served: Served) -> None:
    before = upload_count(served.db)
    body = csv_bytes([row(mak="7700000500")])
    s = _raw_request(served.api.port, body, len(body))
    s.sendall(body[: len(body) // 2])  # half a body, then silence
    started = time.monotonic()
    answer = _read_all(s)  # the server answers and closes; recv returns b""
    s.close()
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b"body_timeout" in answer
    assert time.monotonic() - started < 5  # EC_REQUEST_BODY_TIMEOUT_SECONDS=1, plus slack
    assert upload_count(served.db) == before


def test_a_slow_but_live_body_is_not_timed_out(served: Served) -> None:
    before = upload_count(served.db)
    body = csv_bytes([row(mak=f"77000006{i:02d}") for i in range(6)])
    s = _raw_request(served.api.port, body, len(body))
    step = max(1, len(body) // 6)
    for start in range(0, len(body), step):  # ~3 s in all, each gap under the 1 s timeout
        s.sendall(body[start : start + step])
        time.sleep(0.5)
    answer = _read_all_response(s)
    s.close()
    assert answer.startswith(b"HTTP/1.1 201"), answer[:300]
    assert upload_count(served.db) == before + 1


def _read_all_response(s: socket.socket) -> bytes:
    """Read until the JSON body is complete (the connection stays open: keep-alive)."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += s.recv(65536)
    head, _, rest = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length")
    )
    while len(rest) < length:
        rest += s.recv(65536)
    return head + b"\r\n\r\n" + rest
