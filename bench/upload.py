"""Upload benchmark: time to the 202 of ``POST /v1/uploads`` against just receiving the body.

Usage: python bench/upload.py [ROWS] (default 1,000,000; the file comes from
the shared bench generator, as bench/ingest.py's does).

The API runs as its own process (uvicorn, the real app), in a throwaway
database, with one extra route mounted by this script only: ``POST
/bench/receive``, which reads the body to its end and answers 200. That is
the in-run baseline: what any server needs just to receive these bytes over
this machine's loopback. ``POST /v1/uploads`` also hashes and verifies the
signature, encrypts the body in 1 MiB AES-GCM chunks and stores them in
PostgreSQL before its 202. Each is timed three times; medians are printed.
The encryption alone is measured in this process too, over the same bytes.
"""

from __future__ import annotations

import base64
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import uvicorn
from fastapi import Request
from fastapi.responses import JSONResponse

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _db import bench_database

from equity_connect.config import Settings
from equity_connect.db.pool import connect
from equity_connect.ingest.schemas import SignatureScheme
from equity_connect.ingest.service import UploadMeta
from equity_connect.ingest.uploads import accept_upload
from equity_connect.security import signatures
from equity_connect.security.crypto import Keyring, PiiCipher, generate_key
from equity_connect.web.app import create_app
from ingest import OUT

SECRET = "bench-upload-secret"  # noqa: S105 - a throwaway secret for a throwaway database
CHUNK = 1 << 20
RUNS = 3


def _generator() -> Path:
    """The shared bench generator, beside the checkout (a worktree sits one level deeper)."""
    for parent in Path(__file__).resolve().parents:
        found = parent / "shared" / "bench" / "gen_leads.py"
        if found.exists():
            return found
    raise SystemExit("shared/bench/gen_leads.py not found beside this checkout")


def generate(rows: int) -> Path:
    """The generated file of ``rows`` rows (cached in bench/out, as bench/ingest.py does)."""
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"leads_{rows}.csv"
    if not path.exists():
        subprocess.run([sys.executable, str(_generator()), str(rows), str(path)], check=True)
    return path


def serve(port: int) -> None:
    """The server process: the real app plus the receive-only baseline route."""
    settings = Settings()
    app = create_app(settings, conninfo=os.environ["DATABASE_URL"])

    async def receive(request: Request) -> JSONResponse:
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
        return JSONResponse({"bytes": size})

    app.add_api_route("/bench/receive", receive, methods=["POST"])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            yield chunk


def _signed(path: Path) -> dict[str, str]:
    msg_id = f"bench_{uuid.uuid4().hex}"
    ts = int(time.time())
    sig = signatures.sign_standard(
        signatures.parse_secret(SECRET), msg_id, ts, lambda: _chunks(path)
    )
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": sig,
        "content-type": "text/csv",
    }


def _post(client: httpx.Client, url: str, path: Path, headers: dict[str, str]) -> float:
    started = time.perf_counter()
    response = client.post(url, content=_chunks(path), headers=headers)
    seconds = time.perf_counter() - started
    if response.status_code not in (200, 202):
        raise SystemExit(f"{url} answered {response.status_code}: {response.text[:300]}")
    return seconds


def _encrypt_seconds(path: Path) -> float:
    cipher = PiiCipher(Keyring.from_values(f"k1:{generate_key()}", generate_key()))
    started = time.perf_counter()
    for seq, chunk in enumerate(_chunks(path)):
        cipher.encrypt_bytes(chunk, f"upload_bodies.ciphertext.bench.{seq}".encode())
    return time.perf_counter() - started


def _breakdown(url: str, path: Path) -> dict[str, float]:
    """The route's steps after receiving, one by one in this process, over the same bytes."""
    out: dict[str, float] = {}
    secrets = [signatures.parse_secret(SECRET)]
    headers = _signed(path)
    started = time.perf_counter()
    with tempfile.SpooledTemporaryFile(max_size=8 << 20) as spool:
        # As the route does while the body arrives: spool it, SHA-256 and HMAC it.
        hashed = signatures.StreamedBody(secrets, headers, lambda: _chunks(path))
        for chunk in _chunks(path):
            hashed.update(chunk)
            spool.write(chunk)
        out["spool+hash (during receive)"] = time.perf_counter() - started
        started = time.perf_counter()
        signatures.verify_standard(secrets, headers, hashed, now=time.time())
        out["verify"] = time.perf_counter() - started
    cipher = PiiCipher(Keyring.from_values(f"k1:{generate_key()}", generate_key()))
    meta = UploadMeta(hashed.sha256(), path.stat().st_size, SignatureScheme.LOCAL)
    with connect(url) as conn:
        conn.execute("update uploads set status = 'failed'")
        started = time.perf_counter()
        accept_upload(conn, cipher, _chunks(path), meta)
        conn.commit()
        out["encrypt+store+commit"] = time.perf_counter() - started
    return out


def run(rows: int) -> None:
    path = generate(rows)
    size = path.stat().st_size
    port = _free_port()
    with bench_database() as url:
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "EC_UPLOAD_SECRETS": SECRET,
            "EC_ENCRYPTION_KEYS": "bench:" + base64.b64encode(os.urandom(32)).decode(),
            "EC_INDEX_KEY": base64.b64encode(os.urandom(32)).decode(),
            "EC_LOG_LEVEL": "ERROR",
        }
        server = subprocess.Popen(  # our own interpreter and this script
            [sys.executable, __file__, "--serve", str(port)], env=env
        )
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("the API did not start")
                time.sleep(0.2)
            receive: list[float] = []
            accept: list[float] = []
            with httpx.Client(timeout=httpx.Timeout(300.0)) as client:
                for _ in range(RUNS):  # interleaved, so both see the same machine load
                    receive.append(_post(client, f"{base}/bench/receive", path, {}))
                    accept.append(_post(client, f"{base}/v1/uploads", path, _signed(path)))
                    # Failed, the same bytes start a fresh upload (not a duplicate) next run.
                    with psycopg.connect(url) as conn:
                        conn.execute("update uploads set status = 'failed'")
                        conn.execute("truncate upload_bodies")
        finally:
            server.terminate()
            server.wait(30)
        steps = _breakdown(url, path)
    encrypt = _encrypt_seconds(path)
    recv, acc = statistics.median(receive), statistics.median(accept)
    print(
        f"rows={rows:,} bytes={size:,} receive={recv:.2f}s to_202={acc:.2f}s "
        f"ratio={acc / recv:.2f}x over_receive={acc - recv:.2f}s (budget 2 s) "
        f"encrypt_alone={encrypt:.2f}s ({size / encrypt / 1e6:.0f} MB/s)",
        flush=True,
    )
    print(
        "  samples: receive "
        + ", ".join(f"{s:.2f}" for s in receive)
        + "; to_202 "
        + ", ".join(f"{s:.2f}" for s in accept),
        flush=True,
    )
    print("  after receive, in-process: " + ", ".join(f"{k} {v:.2f}s" for k, v in steps.items()))


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--serve":
        serve(int(sys.argv[2]))
        return
    run(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)


if __name__ == "__main__":
    main()
