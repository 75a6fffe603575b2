"""Ingest benchmark: whole `equity-connect ingest` against a raw COPY of the same file.

Usage: python bench/ingest.py [ROWS] [--rows 500k,1M,5M] [--matching exact|probabilistic]

ROWS alone runs ROWS/2 then ROWS (default 1,000,000), to show memory stays
flat as the file doubles; ``--rows`` names the sizes instead (the 5M case
belongs here, never in CI). ``--matching`` picks the dedupe after the exact
cascade (default probabilistic, the product's default; ``exact`` leaves out
the probabilistic pass, to see the rest of the database work alone).

Both runs use the same PostgreSQL (embedded by default, or DATABASE_URL), in a
throwaway database. The baseline is `COPY ... FROM STDIN (FORMAT csv)` of the
same bytes into an unindexed all-text table: the floor for moving the file
into PostgreSQL at all. The ingest runs as a subprocess so its peak RSS is
its own (resource.getrusage of the child).
"""

from __future__ import annotations

import argparse
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


def ingest_run(url: str, path: Path, matching: str) -> tuple[float, float, dict[str, object]]:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "EC_MATCHING": matching,
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


def phase_seconds(url: str) -> list[tuple[str, float]]:
    """Where the ingest spent its time, from the pipeline events it recorded.

    Staging is reading, normalizing, encrypting and COPYing the rows; the
    exact cascade is the in-file dedupe (links, components) and the match
    against existing leads; the probabilistic pass runs after it (when on);
    the merge's own phases come from its last event (``phase_seconds``).
    """
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "select outcome, duration_ms, detail from pipeline_events "
            "where stage in ('ingest', 'dedupe') order by id"
        ).fetchall()
    names = {
        "staged": "stage",
        "rejected": "rejects",
        "matched": "exact cascade",
        "probabilistic": "probabilistic pass",
    }
    found = [(names[o], ms / 1000) for o, ms, _ in rows if o in names]
    merge = [detail.get("phase_seconds", {}) for o, _, detail in rows if o == "inserted"]
    labels = {
        "merge_existing": "merge into existing",
        "index_drop": "index drop",
        "insert_new_leads": "new leads insert",
        "lineage": "lineage",
        "index_rebuild": "index rebuild",
        "pii_rebind_extras": "PII rebind + extras",
    }
    for phases in merge:  # in the merge's order (jsonb keeps its keys sorted otherwise)
        found += [(label, float(phases[k])) for k, label in labels.items() if k in phases]
    return found


def run(server: str, rows: int, matching: str) -> None:
    path = generate(rows)
    name = f"ec_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    url = make_conninfo(server, dbname=name)
    try:
        migrate.migrate(url)
        copy_s = raw_copy_seconds(url, path)
        ingest_s, rss_mb, report = ingest_run(url, path, matching)
        phases = phase_seconds(url)
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(
                sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
            )
    print(
        f"rows={rows:,} staging={os.environ.get('EC_STAGING', 'columnar')} matching={matching} "
        f"bytes={path.stat().st_size:,} raw_copy={copy_s:.2f}s "
        f"ingest={ingest_s:.2f}s ratio={ingest_s / copy_s:.1f}x peak_rss={rss_mb:.0f}MB "
        f"inserted={report['inserted']:,} merged={report['merged']:,} "
        f"rejected={report['rejected']:,} load={os.getloadavg()[0]:.2f}",
        flush=True,
    )
    accounted = sum(sec for _, sec in phases)
    for label, sec in phases:
        print(f"  {label:<22} {sec:7.2f}s", flush=True)
    print(f"  {'other (startup, CLI)':<22} {ingest_s - accounted:7.2f}s", flush=True)


def row_count(text: str) -> int:
    """``500000``, ``500k``, ``1M``, ``5m`` or ``1_000_000`` as a number of rows."""
    text = text.strip().lower().replace("_", "").replace(",", "")
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    return int(float(text.rstrip("km")) * scale)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("size", nargs="?", type=row_count, help="runs SIZE/2 then SIZE")
    parser.add_argument(
        "--rows",
        type=lambda v: [row_count(x) for x in v.split(",") if x.strip()],
        help="comma-separated sizes, run in this order (e.g. 1M,5M)",
    )
    parser.add_argument("--matching", choices=("exact", "probabilistic"), default="probabilistic")
    args = parser.parse_args()
    if args.rows:
        sizes = args.rows
    else:
        size = args.size or 1_000_000
        # Smaller file first: each child's peak RSS then shows as its own.
        sizes = [size // 2, size]
    server = resolve_owner_url(Settings())
    for rows in sizes:
        run(server, rows, args.matching)


if __name__ == "__main__":
    main()
