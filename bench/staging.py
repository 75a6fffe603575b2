"""Staging benchmark: the Python half of an ingest, alone, against a raw COPY of the file.

Usage: python bench/staging.py [ROWS] (default 1,000,000).

Reads, validates, normalizes, encrypts and formats every row as COPY text
(``ingest.staging.staged_batches``), with one process and with one worker
per core, without writing to the database. Prints wall seconds, CPU seconds
(this process and the workers) and the ratio to a raw ``COPY`` of the same
file into an unindexed text table: what the staging alone costs before any
SQL runs, and so a floor under the whole ingest's ratio on this machine.
"""

from __future__ import annotations

import resource
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from _db import bench_database

from equity_connect.db.ids import Uuid7Sequence
from equity_connect.ingest.staging import StageJob, default_workers, staged_batches
from equity_connect.security.crypto import Keyring, PiiCipher, generate_key
from ingest import generate, raw_copy_seconds


def cpu_seconds(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def stage(path: Path, cipher: PiiCipher, workers: int) -> tuple[float, float, float, int]:
    """(wall s, this process's CPU s, workers' CPU s, rows staged) for one pass."""
    job = StageJob(str(uuid.uuid4()), Uuid7Sequence(), 131_072, None)

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


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    path = generate(rows)
    with bench_database() as url:
        copy_s = raw_copy_seconds(url, path)
    cipher = PiiCipher(Keyring.from_values(f"bench:{generate_key()}", generate_key()))
    print(f"rows={rows:,} raw_copy={copy_s:.2f}s", flush=True)
    for workers in sorted({1, default_workers()}):
        wall, own, children, staged = stage(path, cipher, workers)
        print(
            f"  workers={workers} staging={wall:.2f}s ratio={wall / copy_s:.1f}x "
            f"cpu: this process {own:.1f}s, workers {children:.1f}s "
            f"({(own + children) / staged * 1e6:.1f} us/row) staged={staged:,}",
            flush=True,
        )


if __name__ == "__main__":
    main()
