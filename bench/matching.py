"""Matching benchmark: pairwise precision and recall of the dedupe on messy rows.

Usage: python bench/matching.py [ENTITIES] [--seed N] [--heldout-seed M]

Three measurements on the same rows: the whole ingest with the exact
cascade alone (EC_MATCHING=exact, the baseline), the whole ingest with its
probabilistic pass (the default), and the matching engine alone
(``equity_connect.matching``) in memory.

Rows come from ``bench/_messy_properties.py`` (re-appearances without MAK and
APN, misspellings, transposed numbers, missing ZIPs, name layouts, and
traps). Each file is ingested by the real pipeline into a throwaway
database; lineage (``upload_rows``) tells which lead each line became.
A pair of rows is predicted to match when both became the same lead, and
truly matches when both came from the same property. A refused row matches
nothing. The tuning seed is for looking at; the held-out seed is reported
and never tuned on. The time is printed against a raw COPY of the same
bytes in the same run (the ingest benchmark's baseline).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _db import bench_database
from _messy_properties import COLUMNS, generate

from equity_connect.db.pool import connect
from equity_connect.ingest.schemas import SignatureScheme
from equity_connect.ingest.service import IngestLimits, UploadMeta, ingest
from equity_connect.matching.link import candidate_of_row, link
from equity_connect.security.crypto import Keyring, PiiCipher, generate_key


@dataclass(frozen=True)
class Quality:
    rows: int
    refused: int
    precision: float
    recall: float
    true_pairs: int
    predicted_pairs: int
    seconds: float
    copy_seconds: float


def _pairs(counts: Counter[object]) -> int:
    return sum(n * (n - 1) // 2 for n in counts.values())


def _csv(rows: list[dict[str, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(COLUMNS), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def _raw_copy_seconds(url: str, body: bytes) -> float:
    with psycopg.connect(url) as conn:
        columns = ", ".join(f"{c} text" for c in COLUMNS)
        conn.execute(f"create temp table raw_copy ({columns})")
        started = time.perf_counter()
        with conn.cursor().copy("copy raw_copy from stdin (format csv, header true)") as cp:
            cp.write(body)
        return time.perf_counter() - started


def measure(entities: int, seed: int, *, probabilistic: bool) -> Quality:
    rows, truth = generate(entities, seed)
    body = _csv(rows)
    cipher = PiiCipher(Keyring.from_values(f"k1:{generate_key()}", generate_key()))
    with bench_database() as url:
        copy_seconds = _raw_copy_seconds(url, body)
        conn = connect(url)
        try:
            meta = UploadMeta(hashlib.sha256(body).digest(), len(body), SignatureScheme.LOCAL)
            started = time.perf_counter()
            limits = IngestLimits(probabilistic_matching=probabilistic)
            report = ingest(conn, cipher, [body], meta, limits=limits)
            conn.commit()
            seconds = time.perf_counter() - started
            lineage = conn.execute(
                "select line_number, lead_id from upload_rows where upload_id = %s",
                [report.upload_id],
            ).fetchall()
        finally:
            conn.close()
    lead_of = {r["line_number"]: r["lead_id"] for r in lineage}
    refused = sum(1 for line in range(2, len(rows) + 2) if lead_of.get(line) is None)
    predicted: Counter[object] = Counter()
    both: Counter[object] = Counter()
    for i, pid in enumerate(truth):
        lead = lead_of.get(i + 2)  # line 1 is the header
        if lead is None:
            continue
        predicted[lead] += 1
        both[(lead, pid)] += 1
    true_pairs, predicted_pairs, agreed = _pairs(Counter(truth)), _pairs(predicted), _pairs(both)
    return Quality(
        rows=len(rows),
        refused=refused,
        precision=agreed / predicted_pairs if predicted_pairs else 1.0,
        recall=agreed / true_pairs if true_pairs else 1.0,
        true_pairs=true_pairs,
        predicted_pairs=predicted_pairs,
        seconds=seconds,
        copy_seconds=copy_seconds,
    )


def _pairwise(labels: list[object], truth: list[int]) -> tuple[float, float]:
    agreed = _pairs(Counter(zip(labels, truth, strict=True)))
    predicted, true = _pairs(Counter(labels)), _pairs(Counter(truth))
    return (agreed / predicted if predicted else 1.0, agreed / true if true else 1.0)


def measure_linker(entities: int, seed: int) -> tuple[float, float, int, float, float]:
    """The matching engine in memory (exact cascade + match weights): P, R, review, s, s exact."""
    rows, truth = generate(entities, seed)
    started = time.perf_counter()
    candidates = [candidate_of_row(r, apn_column="apn") for r in rows]
    linkage = link(candidates)
    seconds = time.perf_counter() - started
    precision, recall = _pairwise(list(linkage.labels), truth)
    return precision, recall, len(linkage.review), seconds, len(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("entities", nargs="?", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=19)
    parser.add_argument("--heldout-seed", type=int, default=20261201)
    args = parser.parse_args()
    for label, seed in (("tuning", args.seed), ("held-out", args.heldout_seed)):
        exact = measure(args.entities, seed, probabilistic=False)
        q = measure(args.entities, seed, probabilistic=True)
        for name, m in (("ingest, exact cascade only", exact), ("ingest, with matching", q)):
            print(
                f"{label} seed {seed}, {name}: {m.rows:,} rows, precision {m.precision:.4f}, "
                f"recall {m.recall:.4f} ({m.true_pairs:,} true pairs, {m.predicted_pairs:,} "
                f"predicted), refused {m.refused:,}; {m.seconds:.2f} s = "
                f"{m.seconds / m.copy_seconds:.1f}x raw COPY ({m.copy_seconds:.3f} s)"
            )
        print(
            f"{label} seed {seed}: matching costs {q.seconds / exact.seconds:.2f}x the exact cascade"
        )
        p, r, review, seconds, n = measure_linker(args.entities, seed)
        print(
            f"{label} seed {seed}, matching engine alone, in memory: "
            f"precision {p:.4f}, recall {r:.4f}, {review:,} pairs to review, "
            f"{seconds:.2f} s for {n:,} rows"
        )


if __name__ == "__main__":
    main()
