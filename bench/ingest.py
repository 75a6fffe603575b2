"""Ingest benchmark: whole `equity-connect ingest` against a raw COPY of the same file.

Usage: python bench/ingest.py [ROWS] (default 1,000,000; also runs ROWS/2 to
show memory stays flat as the file doubles).

Both runs use the same PostgreSQL (embedded by default, or DATABASE_URL), in a
throwaway database. The baseline is `COPY ... FROM STDIN (FORMAT csv)` of the
same bytes into an unindexed all-text table: the floor for moving the file
into PostgreSQL at all. The ingest runs as a subprocess so its peak RSS is
its own (resource.getrusage of the child).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from equity_connect.config import Settings
from equity_connect.db import migrate
from equity_connect.db.url import resolve_owner_url

ROOT = Path(__file__).resolve().parent.parent
GEN = ROOT.parent / "shared" / "bench" / "gen_leads.py"
OUT = ROOT / "bench" / "out"


def generate(rows: int) -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"leads_{rows}.csv"
    if not path.exists():
        subprocess.run([sys.executable, str(GEN), str(rows), str(path)], check=True)
    return path


def raw_copy_seconds(url: str, path: Path) -> float:
    with path.open("rb") as fh:
        header = fh.readline().decode().strip().split(",")
    columns = sql.SQL(", ").join(sql.SQL("{} text").format(sql.Identifier(c)) for c in header)
    with psycopg.connect(url) as conn:
        conn.execute(sql.SQL("create table bench_raw_copy ({})").format(columns))
        conn.commit()
        started = time.perf_counter()
        copy_sql = "copy bench_raw_copy from stdin (format csv, header true)"
        with conn.cursor().copy(copy_sql) as cp, path.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                cp.write(chunk)
        conn.commit()
        seconds = time.perf_counter() - started
        conn.execute("drop table bench_raw_copy")
        conn.commit()
    return seconds


def ingest_run(url: str, path: Path) -> tuple[float, float, dict[str, object]]:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "EC_ENCRYPTION_KEYS": "bench:" + base64.b64encode(os.urandom(32)).decode(),
        "EC_INDEX_KEY": base64.b64encode(os.urandom(32)).decode(),
    }
    exe = Path(sys.executable).with_name("equity-connect")
    started = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        child = subprocess.Popen(
            [str(exe), "ingest", str(path), "--json"], env=env, stdout=out, stderr=err
        )
        # wait4 reaps the child and gives its own peak RSS (RUSAGE_CHILDREN
        # would report the largest of every child, the data generator's too).
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if child.returncode != 0:
        raise SystemExit(f"ingest failed: {stderr.decode()[-2000:]}")
    peak_kib = usage.ru_maxrss
    return seconds, peak_kib / 1024, json.loads(stdout)


def stage_seconds(url: str) -> list[tuple[str, float]]:
    """Where the ingest spent its time, from the pipeline events it recorded.

    Each event's duration runs from the start of its step: staging (read,
    normalize, encrypt, COPY), dedupe (in-file duplicates and matches), the
    index rebuild, and the merge (new leads, merges, lineage).
    """
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "select outcome, duration_ms from pipeline_events "
            "where stage in ('ingest', 'dedupe') and outcome <> 'rejected' order by id"
        ).fetchall()
    names = {
        "staged": "stage",
        "matched": "dedupe",
        "indexes_rebuilt": "index rebuild",
        "inserted": "merge (index rebuild included)",
    }
    return [(names.get(o, "merge"), ms / 1000) for o, ms in rows if o != "merged"]


def run(server: str, rows: int) -> None:
    path = generate(rows)
    name = f"ec_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    url = make_conninfo(server, dbname=name)
    try:
        migrate.migrate(url)
        copy_s = raw_copy_seconds(url, path)
        ingest_s, rss_mb, report = ingest_run(url, path)
        stages = stage_seconds(url)
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(
                sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
            )
    print(
        f"rows={rows:,} staging={os.environ.get('EC_STAGING', 'columnar')} "
        f"bytes={path.stat().st_size:,} raw_copy={copy_s:.2f}s "
        f"ingest={ingest_s:.2f}s ratio={ingest_s / copy_s:.1f}x peak_rss={rss_mb:.0f}MB "
        f"inserted={report['inserted']:,} merged={report['merged']:,} "
        f"rejected={report['rejected']:,}",
        flush=True,
    )
    print("  stages: " + ", ".join(f"{name} {sec:.2f}s" for name, sec in stages), flush=True)


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    server = resolve_owner_url(Settings())
    # Smaller file first: each child's peak RSS then shows as its own.
    run(server, rows // 2)
    run(server, rows)


if __name__ == "__main__":
    main()
