"""Throughput of the streaming CSV reader against plain ``csv.reader``.

Usage: python bench/csv_reader.py [ROWS] [--chunk-size BYTES]

Generates ROWS (default 500,000) synthetic leads with
/work/shared/bench/gen_leads.py, then in this one process times
``csv.reader`` alone over the file and ``iter_csv_records`` (decode,
parse, validate, build records) over the same file fed as byte chunks.
Prints rows/s for both, the ratio, and the peak RSS of this process.
"""

from __future__ import annotations

import argparse
import csv
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from equity_connect.ingest.csv_reader import CsvRecord, iter_csv_records

GENERATOR = Path("/work/shared/bench/gen_leads.py")


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def byte_chunks(path: Path, size: int) -> Iterator[bytes]:
    """The file as an upload would arrive: a stream of raw byte chunks."""
    with path.open("rb") as f:
        while chunk := f.read(size):
            yield chunk


def time_plain_csv(path: Path) -> tuple[int, float]:
    """Rows and seconds for csv.reader alone (text decoding by TextIOWrapper)."""
    started = time.perf_counter()
    rows = 0
    with path.open(newline="", encoding="utf-8") as f:
        for _ in csv.reader(f):
            rows += 1
    return rows - 1, time.perf_counter() - started  # minus the header


def time_reader(path: Path, chunk_size: int) -> tuple[int, int, float]:
    """Records, rejects and seconds for the full streaming reader."""
    started = time.perf_counter()
    records = rejects = 0
    for result in iter_csv_records(byte_chunks(path, chunk_size)):
        if isinstance(result, CsvRecord):
            records += 1
        else:
            rejects += 1
    return records, rejects, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rows", nargs="?", type=int, default=500_000)
    parser.add_argument("--chunk-size", type=int, default=1 << 20)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "leads.csv"
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, str(GENERATOR), str(args.rows), str(path)],
            check=True,
        )
        size_mb = path.stat().st_size / 1e6
        print(
            f"generated {args.rows:,} rows ({size_mb:.1f} MB) "
            f"in {time.perf_counter() - started:.1f}s"
        )
        rss_before = peak_rss_mib()

        plain_rows, plain_s = time_plain_csv(path)
        rss_plain = peak_rss_mib()
        records, rejects, full_s = time_reader(path, args.chunk_size)
        rss_full = peak_rss_mib()

    assert plain_rows == records + rejects == args.rows, (plain_rows, records, rejects)
    print(f"csv.reader alone : {plain_rows / plain_s:>11,.0f} rows/s  ({plain_s:.2f}s)")
    print(
        f"iter_csv_records : {records / full_s:>11,.0f} rows/s  ({full_s:.2f}s, "
        f"{records:,} records, {rejects:,} rejects, {args.chunk_size:,}-byte chunks)"
    )
    print(f"ratio            : {full_s / plain_s:.2f}x the time of csv.reader alone")
    print(
        f"peak RSS         : {rss_before:.1f} MiB before, {rss_plain:.1f} MiB after "
        f"csv.reader, {rss_full:.1f} MiB after iter_csv_records"
    )


if __name__ == "__main__":
    main()
