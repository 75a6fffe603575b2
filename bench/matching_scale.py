"""Matching at scale: an upload of messy rows against a million existing leads (issue 19).

Usage: python bench/matching_scale.py [UPLOAD_ROWS] [EXISTING_LEADS] [--seed N]
(default 100,000 rows against 1,000,000 leads).

The existing leads are properties of ``bench/_messy_properties.py``'s
world, normalized as the ingest normalizes them and COPYed straight into
``leads`` (ingesting a million rows first would take minutes and measure
nothing more). The upload mixes re-appearances of existing leads, with one
to three of the generator's faults (no MAK and APN, typos, a transposed
house number, no ZIP, surname first, nicknames...), and new properties.

The database with the leads is cloned twice (CREATE DATABASE ... TEMPLATE),
and the same file is ingested into each by ``equity-connect ingest`` in its
own process: once with the exact cascade alone (EC_MATCHING=exact, the
baseline) and once with the probabilistic pass. Printed: both wall times
and their ratio, the probabilistic pass's own time (its pipeline event) as
a ratio against the exact cascade's dedupe step and against the whole exact
ingest, each child's peak RSS, and the pass's pair counts.
"""

from __future__ import annotations

import argparse
import base64
import csv
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _messy_properties import COLUMNS, REAPPEARANCE_FAULTS, _Maker, _row

from equity_connect.config import Settings
from equity_connect.db import migrate
from equity_connect.db.url import resolve_owner_url
from equity_connect.normalize import addr_hash, normalize_apn, parse_address

OUT = Path(__file__).resolve().parent / "out"
LEAD_COLUMNS = (
    "mak", "county_fips", "apn", "apn_normalized", "addr_hash", "owner_first_name",
    "owner_last_name", "property_address", "property_unit", "property_city", "property_state",
    "property_zip", "source",
)  # fmt: skip


def _lead_row(r: dict[str, str]) -> tuple[Any, ...] | None:
    address, _ = parse_address(
        r["property_address"], r["property_city"], r["property_state"], r["property_zip"]
    )
    if address is None:
        return None
    return (
        r["mak"] or None,
        r["county_fips"] or None,
        r["apn"] or None,
        normalize_apn(r["apn"] or None),
        addr_hash(address),
        r["owner_first_name"] or None,
        r["owner_last_name"] or None,
        address.delivery_line,
        address.unit,
        address.city,
        address.state,
        address.zip5,
        "bench-existing",
    )


def build_leads(url: str, leads: int, seed: int) -> list[Any]:
    """COPY ``leads`` clean properties into ``leads``; the properties, for re-appearances."""
    rng = random.Random(seed)
    maker = _Maker(rng)
    properties = []
    seen: set[bytes] = set()
    with psycopg.connect(url) as conn:
        copy_sql = sql.SQL("copy leads ({}) from stdin").format(
            sql.SQL(", ").join(sql.Identifier(c) for c in LEAD_COLUMNS)
        )
        with conn.cursor().copy(copy_sql) as copy:
            while len(properties) < leads:
                p = maker.new()
                row = _lead_row(_row(rng, p, set(), "vendor-a"))
                if row is None or row[4] in seen:
                    continue  # one lead per address, as the unique index wants
                seen.add(row[4])
                properties.append(p)
                # every MAK kept: the existing leads are the clean ones
                copy.write_row((p.mak, *row[1:]))
        conn.commit()
        conn.execute("analyze leads")
        conn.commit()
    return properties


def write_upload(path: Path, properties: list[Any], rows: int, seed: int) -> int:
    """The upload: a third re-appearances with faults, the rest new properties."""
    rng = random.Random(seed + 1)
    maker = _Maker(random.Random(seed + 2))
    maker.next_pid = len(properties)
    again = 0
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(COLUMNS))
        writer.writeheader()
        for _ in range(rows):
            if rng.random() < 1 / 3:
                p = rng.choice(properties)
                faults = set(rng.sample(REAPPEARANCE_FAULTS, rng.choice((1, 1, 2, 3))))
                writer.writerow(_row(rng, p, faults, "vendor-b"))
                again += 1
            else:
                writer.writerow(_row(rng, maker.new(), set(), "vendor-b"))
    return again


def ingest_child(url: str, path: Path, *, exact: bool) -> tuple[float, float, dict[str, Any]]:
    """``equity-connect ingest`` in its own process: wall seconds, peak RSS MB, report."""
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "EC_ENCRYPTION_KEYS": "bench:" + base64.b64encode(os.urandom(32)).decode(),
        "EC_INDEX_KEY": base64.b64encode(os.urandom(32)).decode(),
        "EC_MATCHING": "exact" if exact else "probabilistic",
    }
    exe = Path(sys.executable).with_name("equity-connect")
    started = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        child = subprocess.Popen(
            [str(exe), "ingest", str(path), "--json"], env=env, stdout=out, stderr=err
        )
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"ingest failed: {stderr.decode()[-2000:]}")
    return seconds, usage.ru_maxrss / 1024, json.loads(stdout)


def events(url: str) -> dict[str, dict[str, Any]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "select outcome, count, duration_ms, detail from pipeline_events where stage = 'dedupe'"
        ).fetchall()
    return {r[0]: {"count": r[1], "ms": r[2], "detail": r[3]} for r in rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rows", nargs="?", type=int, default=100_000)
    parser.add_argument("leads", nargs="?", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=20261201)
    args = parser.parse_args()
    server = resolve_owner_url(Settings())
    tag = uuid.uuid4().hex[:8]
    base, exact_db, prob_db = (f"ec_bench_{tag}_{n}" for n in ("base", "exact", "prob"))
    OUT.mkdir(parents=True, exist_ok=True)
    upload = OUT / f"matching_scale_{args.rows}_{args.seed}.csv"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(sql.SQL("create database {}").format(sql.Identifier(base)))
    try:
        url = make_conninfo(server, dbname=base)
        migrate.migrate(url)
        t0 = time.perf_counter()
        properties = build_leads(url, args.leads, args.seed)
        built = time.perf_counter() - t0
        again = write_upload(upload, properties, args.rows, args.seed)
        del properties
        with psycopg.connect(server, autocommit=True) as admin:
            for name in (exact_db, prob_db):
                admin.execute(
                    sql.SQL("create database {} template {}").format(
                        sql.Identifier(name), sql.Identifier(base)
                    )
                )
        exact_s, exact_rss, exact_report = ingest_child(
            make_conninfo(server, dbname=exact_db), upload, exact=True
        )
        prob_s, prob_rss, prob_report = ingest_child(
            make_conninfo(server, dbname=prob_db), upload, exact=False
        )
        exact_ev = events(make_conninfo(server, dbname=exact_db))
        prob_ev = events(make_conninfo(server, dbname=prob_db))
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            for name in (base, exact_db, prob_db):
                admin.execute(
                    sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
                )
    cascade_s = exact_ev["matched"]["ms"] / 1000
    pass_s = prob_ev["probabilistic"]["ms"] / 1000
    detail = prob_ev["probabilistic"]["detail"]
    print(
        f"{args.leads:,} existing leads COPYed in {built:.1f} s; upload {args.rows:,} rows "
        f"({again:,} re-appearances with faults)"
    )
    print(
        f"exact cascade alone: ingest {exact_s:.2f} s (dedupe step {cascade_s:.2f} s), "
        f"peak RSS {exact_rss:.0f} MB, merged {exact_report['merged']:,}"
    )
    print(
        f"with matching: ingest {prob_s:.2f} s, peak RSS {prob_rss:.0f} MB, "
        f"merged {prob_report['merged']:,}; probabilistic pass {pass_s:.2f} s "
        f"(pairs {detail.get('pairs')}, scored {detail.get('scored')}, joined "
        f"{prob_ev['probabilistic']['count']}, "
        f"review {detail.get('review')}, skipped blocks {detail.get('skipped_blocks')})"
    )
    print(
        f"ratios: ingest with matching / exact cascade alone {prob_s / exact_s:.2f}x; "
        f"pass / exact dedupe step {pass_s / cascade_s:.2f}x; "
        f"pass / exact ingest {pass_s / exact_s:.2f}x"
    )


if __name__ == "__main__":
    main()
