"""Fast address normalizer vs usaddress-scourgify on gen_leads-style rows.

Usage: python bench/normalize.py [N] [--sample 20000] [--seed 7] [--dup-rate 0.1]

Rows come from the shared generator (../shared/bench/gen_leads.py relative to the repo root,
imported by path and used unmodified). Both normalizers run in this process on the same first
``--sample`` rows; the fast path also runs over all N rows. Prints rows/s and the ratio.
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import sys
import time
from pathlib import Path
from types import ModuleType

REPO_ROOT = Path(__file__).resolve().parents[1]
GEN_LEADS = REPO_ROOT.parent / "shared" / "bench" / "gen_leads.py"

sys.path.insert(0, str(REPO_ROOT / "src"))

from scourgify import normalize_address_record  # noqa: E402

from equity_connect.normalize.address import (  # noqa: E402
    addr_hash,
    normalize_addresses,
)

Row = tuple[str, str, str, str]


def load_gen_leads() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_leads", GEN_LEADS)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {GEN_LEADS}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def generate(n: int, seed: int, dup_rate: float) -> tuple[list[Row], list[int]]:
    """Address columns and true entity id of gen_leads.main()'s rows, in the same order."""
    gen = load_gen_leads()
    rng = random.Random(seed)
    entities: list[dict[str, object]] = []
    rows: list[Row] = []
    truth: list[int] = []
    for _ in range(n):
        if entities and rng.random() < dup_rate:
            e = rng.choice(entities)
            row = gen.render(rng, e, messy=True)
        else:
            e = gen.entity(rng, len(entities))
            entities.append(e)
            row = gen.render(rng, e, messy=False)
        rows.append((row[5], row[6], row[7], row[8]))
        truth.append(int(str(e["id"])))
    return rows, truth


def dedupe_check(rows: list[Row], truth: list[int]) -> tuple[int, int, int]:
    """(repeat rows whose addr_hash equals their entity's first row, repeat rows, hashes
    shared by different entities)."""
    first_hash: dict[int, bytes] = {}
    owner: dict[bytes, int] = {}
    matched = repeats = shared = 0
    for address, entity in zip(normalize_addresses(rows), truth, strict=True):
        if address is None:
            continue
        h = addr_hash(address)
        if entity in first_hash:
            repeats += 1
            matched += first_hash[entity] == h
        else:
            first_hash[entity] = h
        if owner.setdefault(h, entity) != entity:
            shared += 1
    return matched, repeats, shared


def rate(rows: int, seconds: float) -> float:
    return rows / seconds if seconds > 0 else float("inf")


def time_fast(rows: list[Row]) -> tuple[float, int]:
    start = time.perf_counter()
    results = normalize_addresses(rows)
    elapsed = time.perf_counter() - start
    declined = sum(1 for r in results if r is None or r.needs_fallback)
    return elapsed, declined


def time_scourgify(rows: list[Row]) -> tuple[float, int]:
    failures = 0
    start = time.perf_counter()
    for street, city, state, zip_code in rows:
        record = {
            "address_line_1": street,
            "city": city,
            "state": state,
            "postal_code": zip_code,
        }
        try:
            normalize_address_record(record)
        except Exception:
            failures += 1
    return time.perf_counter() - start, failures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("n", nargs="?", type=int, default=200_000)
    parser.add_argument("--sample", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--dup-rate", type=float, default=0.1)
    args = parser.parse_args()

    rows, truth = generate(args.n, args.seed, args.dup_rate)
    sample = rows[: args.sample]

    # Warm both paths (imports, regex compilation, the CRF model) outside the timings.
    normalize_addresses(rows[:1000])
    time_scourgify(rows[:200])

    fast_all, declined_all = time_fast(rows)
    fast_sample, _ = time_fast(sample)
    slow_sample, slow_failures = time_scourgify(sample)

    start = time.perf_counter()
    hashes = {addr_hash(a) for a in normalize_addresses(rows) if a is not None}
    fast_and_hash = time.perf_counter() - start

    n_all, n_sample = f"{len(rows):,}", f"{len(sample):,}"
    matched, repeats, shared = dedupe_check(rows, truth)
    report = [
        ("rows generated", f"{n_all} (seed {args.seed}, dup-rate {args.dup_rate})"),
        (
            f"fast, all {n_all} rows",
            f"{rate(len(rows), fast_all):>9,.0f} rows/s  ({fast_all:.2f} s,"
            f" {declined_all} declined to fallback)",
        ),
        (
            "fast + addr_hash, all rows",
            f"{rate(len(rows), fast_and_hash):>9,.0f} rows/s  ({len(hashes):,} distinct hashes)",
        ),
        (f"fast, first {n_sample} rows", f"{rate(len(sample), fast_sample):>9,.0f} rows/s"),
        (
            f"scourgify, first {n_sample} rows",
            f"{rate(len(sample), slow_sample):>9,.0f} rows/s  ({slow_failures} raised)",
        ),
        ("ratio fast / scourgify", f"{slow_sample / fast_sample:>9.1f}x on the same rows"),
        ("messy repeats, same hash", f"{matched:,} of {repeats:,}"),
        ("rows on another's hash", f"{shared:,}"),
    ]
    width = max(len(label) for label, _ in report)
    for label, value in report:
        print(f"{label:<{width}} : {value}")


if __name__ == "__main__":
    main()
