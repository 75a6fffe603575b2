"""Staging benchmark: the Python half of an ingest, alone, against a raw COPY of the file.

Usage: python bench/staging.py [ROWS] (default 1,000,000).

First, in this process alone (one core), the file's 1 MB staging blocks go
through both block stagers, ``rows`` (csv_reader + rows.stage_record per
record) and ``columnar`` (ingest/columnar.py), with the CPU seconds of each
phase (read, normalize, encrypt, HMAC, COPY text) and the ratio old/new.
The row-wise path interleaves its phases per row, so its phases are timed
by running each one alone over every row (the record objects read first),
and its COPY text is what the whole path costs beyond the others.

Reads, validates, normalizes, encrypts and formats every row as COPY text
(``ingest.staging.staged_batches``), with one process and with one worker
per core, without writing to the database. Prints wall seconds, CPU seconds
(this process and the workers) and the ratio to a raw ``COPY`` of the same
file into an unindexed text table: what the staging alone costs before any
SQL runs, and so a floor under the whole ingest's ratio on this machine.
"""

from __future__ import annotations

import os
import resource
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from _db import bench_database

from equity_connect.db.ids import Uuid7Sequence
from equity_connect.ingest.columnar import PHASE_SECONDS, stage_block_columnar
from equity_connect.ingest.csv_reader import CsvRecord, iter_csv_records
from equity_connect.ingest.staging import (
    StageJob,
    _Blocks,
    _init_worker,
    _stage_block,
    default_workers,
    staged_batches,
)
from equity_connect.normalize import addr_hash, normalize_apn, parse_address
from equity_connect.normalize.address import place_without_zip
from equity_connect.normalize.email import validate_email
from equity_connect.normalize.phone import validate_phone
from equity_connect.security.crypto import Keyring, PiiCipher, aad_for, generate_key
from ingest import generate, raw_copy_seconds


def cpu_seconds(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def stage(
    path: Path, cipher: PiiCipher, workers: int, mode: str
) -> tuple[float, float, float, int]:
    """(wall s, this process's CPU s, workers' CPU s, rows staged) for one pass."""
    job = StageJob(str(uuid.uuid4()), Uuid7Sequence(), 131_072, None, mode)

    def chunks() -> Iterator[bytes]:
        with path.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                yield chunk

    own, children = cpu_seconds(resource.RUSAGE_SELF), cpu_seconds(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    rows = 0
    for batch in staged_batches(
        chunks(),
        job,
        cipher,
        workers=workers,
        byte_size=path.stat().st_size,
    ):
        rows += batch.staged
    wall = time.perf_counter() - started
    return (
        wall,
        cpu_seconds(resource.RUSAGE_SELF) - own,
        cpu_seconds(resource.RUSAGE_CHILDREN) - children,
        rows,
    )


def _blocks(path: Path, rows: int) -> tuple[bytes, list[bytes]]:
    data = path.read_bytes()
    blocks = _Blocks(iter([data]), 1 << 20)
    assert blocks.read_header()
    return blocks.header, [b for b in blocks if b]


def row_phases(header: bytes, bodies: list[bytes], cipher: PiiCipher) -> dict[str, float]:
    """CPU seconds per phase of the row-wise path, each phase run alone, block by block."""
    out = dict.fromkeys(["read", "normalize", "encrypt", "hmac"], 0.0)
    seq = Uuid7Sequence()
    clock = time.process_time
    for body in bodies:
        t = clock()
        records = [r for r in iter_csv_records([header, body]) if isinstance(r, CsvRecord)]
        out["read"] += clock() - t
        t = clock()
        emails, phones, addresses = [], [], []
        for r in records:
            address, why = parse_address(
                r.property_address, r.property_city, r.property_state, r.property_zip
            )
            if address is None and why == "missing_zip":
                address = place_without_zip(r.property_address, r.property_city, r.property_state)
            normalize_apn(r.apn)
            emails.append(validate_email(r.email)[0] if r.email else None)
            phones.append(validate_phone(r.phone)[0] if r.phone else None)
            addresses.append(address)
        out["normalize"] += clock() - t
        t = clock()
        for i, (e, p) in enumerate(zip(emails, phones, strict=True)):
            lead = seq.at(0, i)
            if e:
                cipher.encrypt(e, aad_for("leads", "email", lead))
            if p:
                cipher.encrypt(p, aad_for("leads", "phone", lead))
        out["encrypt"] += clock() - t
        t = clock()
        for e, p, a in zip(emails, phones, addresses, strict=True):
            if e:
                cipher.blind_index("email", e)
            if p:
                cipher.blind_index("phone", p)
            if a is not None:
                addr_hash(a)
        out["hmac"] += clock() - t
    job = StageJob("u", seq, 131_072, None, "rows")
    _init_worker(cipher.keyring)
    t = clock()
    for i, body in enumerate(bodies):
        _stage_block(job, i, header, body)
    total = clock() - t
    out["copy text"] = max(0.0, total - sum(out.values()))
    out["total"] = total
    return out


def columnar_phases(header: bytes, bodies: list[bytes], cipher: PiiCipher) -> dict[str, float]:
    """CPU seconds per phase of the columnar path, as it times itself."""
    job = StageJob("u", Uuid7Sequence(), 131_072, None, "columnar")
    PHASE_SECONDS.clear()
    t = time.process_time()
    for i, body in enumerate(bodies):
        stage_block_columnar(job, i, header, body, cipher)
    total = time.process_time() - t
    out = dict(PHASE_SECONDS)
    out["total"] = total
    return out


def phases(path: Path, rows: int, cipher: PiiCipher) -> None:
    os.environ.setdefault("POLARS_MAX_THREADS", "1")  # one core, as each worker has
    header, bodies = _blocks(path, rows)
    old = row_phases(header, bodies, cipher)
    new = columnar_phases(header, bodies, cipher)
    print(f"  one process, {len(bodies)} blocks, CPU seconds per phase (rows -> columnar):")
    names = ["read", "normalize", "row-wise", "lead ids", "encrypt", "hmac", "copy text"]
    for name in [*names, "total"]:
        a, b = old.get(name), new.get(name, 0.0)
        ratio = f"{a / b:.1f}x" if a and b else "-"
        shown = "-" if a is None else f"{a:.2f}s"
        print(f"    {name:<10} {shown:>8} -> {b:6.2f}s  {ratio}", flush=True)
    print(
        f"    per million rows: rows {old['total'] / rows * 1e6:.1f} CPU-s, "
        f"columnar {new['total'] / rows * 1e6:.1f} CPU-s",
        flush=True,
    )


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    path = generate(rows)
    with bench_database() as url:
        copy_s = raw_copy_seconds(url, path)
    cipher = PiiCipher(Keyring.from_values(f"bench:{generate_key()}", generate_key()))
    print(f"rows={rows:,} raw_copy={copy_s:.2f}s load={os.getloadavg()[0]:.2f}", flush=True)
    phases(path, rows, cipher)
    runs = [(1, "rows")] + [(default_workers(), m) for m in ("rows", "columnar")]
    for workers, mode in runs:
        wall, own, children, staged = stage(path, cipher, workers, mode)
        print(
            f"  workers={workers} {mode:<8} staging={wall:.2f}s ratio={wall / copy_s:.1f}x "
            f"cpu: this process {own:.1f}s, workers {children:.1f}s "
            f"({(own + children) / staged * 1e6:.1f} us/row) staged={staged:,}",
            flush=True,
        )


if __name__ == "__main__":
    main()
