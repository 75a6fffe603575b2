"""Matching engines compared: our engine, splink 5 on DuckDB, and our ingest end to end.

Usage: python bench/matching_engines.py [ENTITIES] [--seeds 20261201,20261202]
       [--batch N] [--threshold P] [--repeats K] [--sweep] [--no-ingest]

Needs the bench extra (``pip install -e '.[bench]'``; ``make bench`` installs
it). Each seed's rows come from ``bench/_messy_properties.py``, as in
``bench/matching.py`` (20261201 is its held-out seed; 20261202 is a second
one nobody tuned on; 19 is the tuning seed, for ``--sweep``). For each engine:

- **whole file**: pairwise precision and recall, and the wall seconds;
- **incremental**: the file less its last N rows is linked first; then the
  N rows (new properties and re-appearances of linked ones, in the file's
  shuffled order) are linked against that linked set, and that step is timed.
  Precision and recall are over all rows after it.
  - ours in memory: the new rows with the existing clusters that share a
    blocking or exact key with them (one candidate per cluster, as a lead
    holds one row), found through a key index (the database's indexes);
  - splink: ``predict_between(linked, new)`` + ``predict_within(new)``,
    splink 5's incremental API, with the model trained on the linked set;
    edges at the threshold join the new rows to the linked clusters;
  - the ingest: a second upload into the database holding the first.
- **hard constraints broken**: pairs of rows put in one cluster that have
  two MAKs, two APNs in one county, or two units of one house number.
  splink has no constraints, only weights, so it is given the nearest it
  offers: near-veto levels with their m fixed, not learned.

Every time is a median of K runs, printed as a ratio to our engine in
memory in the same run. splink is given the same blocking keys as our
engine (ZIP + house number, ZIP + street prefix, city + state + house
number, ZIP + surname, and our exact keys MAK and county + APN) and the
same comparison levels, built from splink's level library, in two models:

- **EM**: m and u learned (u by random sampling, m by EM), except for the
  levels that never occur between true matches, whose m is fixed from
  ``weights.toml``; the threshold is the best F1 on the tuning seed;
- **our weights**: every m and u fixed from ``weights.toml`` and our merge
  threshold, so the scores are ours and only splink's clustering and
  runtime differ.

The figures and what they decided: docs/matching.md, "Engine choice, measured".
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import logging
import os
import statistics
import sys
import time
import tomllib
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from importlib import resources
from itertools import combinations
from pathlib import Path
from typing import Any, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _db import bench_database
from _messy_properties import COLUMNS as VENDOR_COLUMNS
from _messy_properties import generate
from _splink_frame import COLUMNS, splink_records

from equity_connect.db.pool import connect
from equity_connect.ingest.schemas import SignatureScheme
from equity_connect.ingest.service import IngestLimits, UploadMeta, ingest
from equity_connect.matching.compare import Candidate, hard_conflict
from equity_connect.matching.link import (
    address_key,
    blocking_keys,
    candidate_of_row,
    link,
)
from equity_connect.matching.score import default_weights
from equity_connect.security.crypto import Keyring, PiiCipher, generate_key

try:
    import pyarrow as pa  # type: ignore[import-untyped]
    import splink.comparison_level_library as cll
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on
    from splink.comparison_library import CustomComparison
except ImportError:  # pragma: no cover - the bench extra is missing
    pa = None

T = TypeVar("T")
# splink's level for a hard constraint: no veto exists, so the nearest is a
# level whose m is fixed this small (a weight of about -20 bits).
VETO_M = 1e-6


def _pairs(counts: Counter[object]) -> int:
    return sum(n * (n - 1) // 2 for n in counts.values())


def _pairwise(labels: Sequence[object], truth: Sequence[int]) -> tuple[float, float]:
    """Pairwise precision and recall of cluster labels against true property ids
    (as bench/matching.py counts them)."""
    agreed = _pairs(Counter(zip(labels, truth, strict=True)))
    predicted, true = _pairs(Counter(labels)), _pairs(Counter(truth))
    return (agreed / predicted if predicted else 1.0, agreed / true if true else 1.0)


def _csv(rows: list[dict[str, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(VENDOR_COLUMNS), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


@dataclass
class Run:
    """One engine on one seed."""

    name: str
    precision: float
    recall: float
    seconds: float
    broken: Counter[str]
    broken_clusters: int
    inc_precision: float = float("nan")
    inc_recall: float = float("nan")
    inc_seconds: float = float("nan")
    note: str = ""


def broken_constraints(
    candidates: Sequence[Candidate], labels: Sequence[object]
) -> tuple[Counter[str], int]:
    """Pairs in one cluster that a hard constraint forbids, by reason; and how many clusters."""
    members: dict[object, list[int]] = defaultdict(list)
    for i, label in enumerate(labels):
        members[label].append(i)
    reasons: Counter[str] = Counter()
    clusters = 0
    for rows in members.values():
        found = False
        for i, j in combinations(rows, 2):
            why = hard_conflict(candidates[i], candidates[j])
            if why is not None:
                reasons[why] += 1
                found = True
        clusters += found
    return reasons, clusters


# --- our engine in memory ------------------------------------------------------------


def _index_keys(c: Candidate) -> Iterator[tuple[str, ...]]:
    """Every key a lead is found by: the exact cascade's and the blocking keys."""
    if c.mak is not None:
        yield ("mak", c.mak)
    if c.county is not None and c.apn is not None:
        yield ("apn", c.county, c.apn)
    address = address_key(c)
    if address is not None:
        yield ("address", *address)
    yield from blocking_keys(c)


def ours_incremental(
    candidates: list[Candidate], existing_labels: list[int], batch: list[Candidate]
) -> tuple[list[int], float]:
    """Link ``batch`` against linked clusters; labels for all rows, and the step's seconds.

    Each cluster stands as one lead (its first row, as a lead keeps the row
    that created it); the key index over leads is what the database keeps
    in its indexes, so it is built before the clock starts.
    """
    leads = {label: replace(candidates[label], lead=str(label)) for label in set(existing_labels)}
    index: dict[tuple[str, ...], list[int]] = defaultdict(list)
    for label, lead in leads.items():
        for key in _index_keys(lead):
            index[key].append(label)
    started = time.perf_counter()
    found: dict[int, None] = {}
    for c in batch:
        for key in _index_keys(c):
            for label in index.get(key, ()):
                found.setdefault(label, None)
    found_labels = list(found)
    linkage = link([*batch, *(leads[label] for label in found_labels)])
    n = len(batch)
    lead_of_cluster = {linkage.labels[n + k]: label for k, label in enumerate(found_labels)}
    new_labels = [
        lead_of_cluster.get(cluster, len(candidates) + cluster) for cluster in linkage.labels[:n]
    ]
    seconds = time.perf_counter() - started
    return [*existing_labels, *new_labels], seconds


def timed(step: Callable[[int], T], repeats: int) -> tuple[T, float]:
    """The last result of ``step(k)`` for k in range(repeats), and its median wall seconds
    (the machine is shared: one sample is noise)."""
    samples = []
    for k in range(repeats):
        started = time.perf_counter()
        result = step(k)
        samples.append(time.perf_counter() - started)
    return result, statistics.median(samples)


def run_ours(
    candidates: list[Candidate], truth: list[int], batch: int, repeats: int
) -> tuple[Run, list[int]]:
    linkage, seconds = timed(lambda _: link(candidates), repeats)
    labels = linkage.labels
    precision, recall = _pairwise(list(labels), truth)
    broken, clusters = broken_constraints(candidates, labels)
    base = link(candidates[:-batch]).labels
    steps = [ours_incremental(candidates, base, candidates[-batch:]) for _ in range(repeats)]
    inc_labels = steps[-1][0]
    inc_seconds = statistics.median(s for _, s in steps)
    inc_p, inc_r = _pairwise(list(inc_labels), truth)
    run = Run("ours, in memory", precision, recall, seconds, broken, clusters,
              inc_p, inc_r, inc_seconds)  # fmt: skip
    return run, labels


# --- splink 5 on DuckDB --------------------------------------------------------------


# Levels that never occur between true matches: their m is fixed from our
# weights, not learned (EM would learn that an investor's houses are one).
# The rest are learned. A hard constraint of ours has no veto in splink: the
# nearest it offers is a level with m fixed at VETO_M.
FIXED_BY_REASON = frozenset(
    {
        ("house_number", "one_digit"),
        ("house_number", "different"),
        ("street", "different"),
        ("place", "different"),
        ("unit", "different"),
        ("mak", "different"),
        ("apn", "different"),
    }
)


def _our_levels() -> dict[str, dict[str, tuple[float, float]]]:
    """m and u per field and level, from the engine's ``weights.toml``."""
    text = resources.files("equity_connect.matching").joinpath("weights.toml").read_text()
    doc = tomllib.loads(text)
    levels = {
        field: {level: (float(p["m"]), float(p["u"])) for level, p in doc[field].items()}
        for field in ("house_number", "street", "unit", "place", "owner")
    }
    levels["unit"]["different"] = (VETO_M, 1.0)  # m = 0 there: log2(0) has no place in SQL
    # Our exact cascade joins on a shared MAK or APN whatever the score: a
    # weight of about +20 bits does the same in a sum.
    for key in ("mak", "apn"):
        levels[key] = {"exact": (1.0, VETO_M), "different": (VETO_M, 1.0)}
    return levels


@dataclass(frozen=True)
class Model:
    """How splink's parameters are set: ``em`` learns them, ``ours`` fixes all of them."""

    name: str
    levels: dict[str, dict[str, tuple[float, float]]]

    def level(self, field: str, name: str, creator: Any) -> Any:
        m, u = self.levels[field][name]
        if self.name == "ours":
            return creator.configure(
                m_probability=m, u_probability=u, fix_m_probability=True, fix_u_probability=True
            )
        if (field, name) in FIXED_BY_REASON:
            return creator.configure(m_probability=m, fix_m_probability=True)
        return creator


def splink_settings(model: Model) -> Any:
    """Blocking and comparisons equivalent to our engine's (``compare.py``, ``link.py``).

    Each level names the level of ``compare.py`` it stands for. A level our
    engine scores 0 ("missing") is a null level here, which splink scores 0.
    """
    lv = model.level
    hn_l, hn_r = "house_number_l", "house_number_r"
    same_len = f"length({hn_l}) = length({hn_r})"
    house_number = CustomComparison(
        output_column_name="house_number",
        comparison_levels=[
            cll.NullLevel("house_number"),
            lv("house_number", "exact", cll.ExactMatchLevel("house_number")),
            lv("house_number", "transposed", cll.CustomLevel(
                f"{same_len} and damerau_levenshtein({hn_l}, {hn_r}) = 1 "
                f"and levenshtein({hn_l}, {hn_r}) = 2",
                "transposed",
            )),
            lv("house_number", "one_key_off", cll.CustomLevel(
                f"{same_len} and levenshtein({hn_l}, {hn_r}) = 1 and "
                f"abs(try_cast({hn_l} as bigint) - try_cast({hn_r} as bigint)) "
                "in (1, 10, 100, 1000, 10000)",
                "one key off",
            )),
            lv("house_number", "one_digit", cll.CustomLevel(
                f"{same_len} and levenshtein({hn_l}, {hn_r}) = 1", "one digit"
            )),
            lv("house_number", "different", cll.ElseLevel()),
        ],
    )  # fmt: skip
    s_l, s_r = "street_l", "street_r"
    shortest = f"least(length({s_l}), length({s_r}))"
    street = CustomComparison(
        output_column_name="street",
        comparison_levels=[
            cll.NullLevel("street"),
            lv("street", "exact", cll.ExactMatchLevel("street")),
            lv("street", "close", cll.Or(
                cll.JaroWinklerLevel("street", 0.94),
                cll.CustomLevel(f"damerau_levenshtein({s_l}, {s_r}) <= 1 and {shortest} >= 5"),
            )),
            lv("street", "similar", cll.Or(
                cll.JaroWinklerLevel("street", 0.86),
                cll.CustomLevel(f"damerau_levenshtein({s_l}, {s_r}) <= 2 and {shortest} >= 8"),
            )),
            lv("street", "different", cll.ElseLevel()),
        ],
    )  # fmt: skip
    unit = CustomComparison(
        output_column_name="unit",
        comparison_levels=[
            lv("unit", "both_missing",
               cll.CustomLevel("unit_l is null and unit_r is null", "both missing")),
            lv("unit", "one_missing",
               cll.CustomLevel("unit_l is null or unit_r is null", "one missing")),
            lv("unit", "exact", cll.ExactMatchLevel("unit")),
            lv("unit", "different", cll.ElseLevel()),
        ],
    )  # fmt: skip
    both_zips = "zip5_l is not null and zip5_r is not null"
    same_city = "city_l = city_r and state_l = state_r"
    place = CustomComparison(
        output_column_name="place",
        comparison_levels=[
            lv("place", "zip", cll.ExactMatchLevel("zip5")),
            lv("place", "city_not_zip",
               cll.CustomLevel(f"{both_zips} and {same_city}", "city, not zip")),
            lv("place", "different", cll.CustomLevel(both_zips, "different")),
            lv("place", "city_no_zip", cll.CustomLevel(same_city, "city, no zip")),
            lv("place", "different", cll.CustomLevel("state_l <> state_r", "other state")),
            lv("place", "missing", cll.ElseLevel()),
        ],
    )  # fmt: skip
    first_agrees = (
        "(first_name_l = first_name_r "
        "or jaro_winkler_similarity(first_name_l, first_name_r) >= 0.92 "
        "or ((first_name_l is null or first_name_r is null) "
        "and first_initial_l = first_initial_r))"
    )
    surname_close = (
        "(least(length(surname_l), length(surname_r)) >= 4 and "
        "(jaro_winkler_similarity(surname_l, surname_r) >= 0.9 "
        "or damerau_levenshtein(surname_l, surname_r) <= 1))"
    )
    owner = CustomComparison(
        output_column_name="owner",
        comparison_levels=[
            cll.NullLevel("surname"),
            lv("owner", "full", cll.CustomLevel(f"surname_l = surname_r and {first_agrees}", "full")),
            lv("owner", "fuzzy", cll.CustomLevel(f"{surname_close} and {first_agrees}", "fuzzy")),
            lv("owner", "surname", cll.CustomLevel("surname_l = surname_r", "surname only")),
            lv("owner", "different", cll.ElseLevel()),
        ],
    )  # fmt: skip
    mak = CustomComparison(
        output_column_name="mak",
        comparison_levels=[
            cll.NullLevel("mak"),
            lv("mak", "exact", cll.ExactMatchLevel("mak")),
            lv("mak", "different", cll.ElseLevel()),
        ],
    )
    apn = CustomComparison(
        output_column_name="apn",
        comparison_levels=[
            cll.CustomLevel(
                "apn_l is null or apn_r is null or county_l is null or county_r is null "
                "or county_l <> county_r",
                "not comparable",
            ).configure(is_null_level=True),
            lv("apn", "exact", cll.ExactMatchLevel("apn")),
            lv("apn", "different", cll.ElseLevel()),
        ],
    )
    return SettingsCreator(
        link_type="dedupe_only",
        comparisons=[house_number, street, unit, place, owner, mak, apn],
        blocking_rules_to_generate_predictions=[
            block_on("mak"),
            block_on("county", "apn"),
            block_on("zip5", "house_number"),
            block_on("zip5", "street_prefix"),
            block_on("city", "state", "house_number"),
            block_on("zip5", "surname"),
        ],
        # Our weights are log2(m/u) among blocked pairs with no prior: a prior
        # of one half makes splink's match weight the same sum.
        probability_two_random_records_match=0.5,
        retain_matching_columns=False,
    )


def _table(records: list[dict[str, Any]]) -> Any:
    # An explicit schema: a column null in every row would otherwise be typed
    # null, and DuckDB's string functions refuse it.
    schema = pa.schema(
        [("unique_id", pa.int64()), *((c, pa.string()) for c in COLUMNS if c != "unique_id")]
    )
    return pa.Table.from_pylist(records, schema=schema)


def train(records: list[dict[str, Any]], seed: int, model: Model) -> tuple[Any, Any, Any]:
    """A splink linker over ``records``, trained as splink's docs train one (``em``), or
    with every parameter fixed from our weights (``ours``): then nothing is learned."""
    db_api = DuckDBAPI()
    frame = db_api.register(_table(records), table_name="linked")
    linker = Linker(frame, splink_settings(model), log_level=logging.ERROR)
    if model.name == "ours":
        return db_api, linker, frame
    # The prior from rules that admit almost no false positives (our exact keys).
    linker.training.estimate_probability_two_random_records_match(
        [block_on("mak"), block_on("county", "apn")], recall=0.6
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=5e6, seed=seed)
    # Each EM pass learns the comparisons its blocking rule does not fix.
    for rule in (
        block_on("zip5", "house_number"),
        block_on("zip5", "surname"),
        block_on("house_number", "street"),
    ):
        linker.training.estimate_parameters_using_expectation_maximisation(rule)
    return db_api, linker, frame


def _edges(frame: Any, threshold: float) -> list[tuple[int, int]]:
    return [
        (int(r["unique_id_l"]), int(r["unique_id_r"]))
        for r in frame.as_record_list()
        if r["match_probability"] >= threshold
    ]


def _components(n: int, labels: list[int], edges: list[tuple[int, int]]) -> list[int]:
    """Connected components over fixed starting labels (splink's clustering, in memory)."""
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(i: int, j: int) -> None:
        a, b = find(i), find(j)
        if a != b:
            parent[max(a, b)] = min(a, b)

    for i, label in enumerate(labels):
        union(i, label)
    for i, j in edges:
        union(i, j)
    return [find(i) for i in range(n)]


def splink_labels(linker: Any, threshold: float, n: int) -> list[int]:
    """Predict and cluster with splink's own clustering; a cluster label per row."""
    predictions = linker.inference.predict(threshold_match_probability=threshold / 10)
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
        predictions, threshold_match_probability=threshold
    )
    label_of = {int(r["unique_id"]): str(r["cluster_id"]) for r in clusters.as_record_list()}
    first: dict[str, int] = {}
    for i in range(n):
        first.setdefault(label_of[i], i)
    return [first[label_of[i]] for i in range(n)]


def run_splink(
    *,
    rows: list[dict[str, str]],
    candidates: list[Candidate],
    truth: list[int],
    batch: int,
    seed: int,
    model: Model,
    threshold: float,
    repeats: int,
) -> Run:
    records = splink_records(rows)

    def whole(_: int) -> tuple[list[int], float]:
        started = time.perf_counter()
        _, linker, _ = train(records, seed, model)
        training = time.perf_counter() - started
        return splink_labels(linker, threshold, len(rows)), training

    (labels, training), seconds = timed(whole, repeats)
    precision, recall = _pairwise(list(labels), truth)
    broken, clusters = broken_constraints(candidates, labels)
    # Incremental: train on and link the linked set, then the batch against it.
    base_n = len(rows) - batch
    db_api, base_linker, linked = train(records[:base_n], seed, model)
    base_labels = splink_labels(base_linker, threshold, base_n)

    def step(k: int) -> list[int]:
        new = db_api.register(_table(records[base_n:]), table_name=f"new_batch_{k}")
        between = base_linker.inference.predict_between(
            linked, new, threshold_match_probability=threshold
        )
        within = base_linker.inference.predict_within(new, threshold_match_probability=threshold)
        edges = _edges(between, threshold) + _edges(within, threshold)
        return _components(len(rows), [*base_labels, *range(base_n, len(rows))], edges)

    inc_labels, inc_seconds = timed(step, repeats)
    inc_p, inc_r = _pairwise(list(inc_labels), truth)
    note = f"training {training:.2f} s of it; merge at p >= {threshold:.5g}"
    name = "splink 5, DuckDB, EM" if model.name == "em" else "splink 5, DuckDB, our weights"
    return Run(name, precision, recall, seconds, broken, clusters,
               inc_p, inc_r, inc_seconds, note)  # fmt: skip


def sweep(rows: list[dict[str, str]], truth: list[int], seed: int) -> None:
    """Precision and recall of splink (EM) at several thresholds (for the tuning seed)."""
    _, linker, _ = train(splink_records(rows), seed, Model("em", _our_levels()))
    for threshold in (0.5, 0.9, 0.99, 0.999, 0.9999, 0.99999, 0.999999, 0.9999999):
        p, r = _pairwise(list(splink_labels(linker, threshold, len(rows))), truth)
        print(f"  seed {seed}, splink at p >= {threshold}: precision {p:.4f}, recall {r:.4f}")


# --- our ingest, end to end ----------------------------------------------------------


def _upload(conn: Any, cipher: PiiCipher, rows: list[dict[str, str]]) -> tuple[list[Any], float]:
    body = _csv(rows)
    meta = UploadMeta(hashlib.sha256(body).digest(), len(body), SignatureScheme.LOCAL)
    started = time.perf_counter()
    report = ingest(conn, cipher, [body], meta, limits=IngestLimits(probabilistic_matching=True))
    conn.commit()
    seconds = time.perf_counter() - started
    lineage = conn.execute(
        "select line_number, lead_id from upload_rows where upload_id = %s", [report.upload_id]
    ).fetchall()
    lead_of = {r["line_number"]: r["lead_id"] for r in lineage}
    # A refused row is its own cluster: it matches nothing.
    return [lead_of.get(k + 2, ("refused", k)) for k in range(len(rows))], seconds


def run_ingest(
    rows: list[dict[str, str]], candidates: list[Candidate], truth: list[int], batch: int
) -> Run:
    cipher = PiiCipher(Keyring.from_values(f"k1:{generate_key()}", generate_key()))
    with bench_database() as url:
        conn = connect(url)
        try:
            labels, seconds = _upload(conn, cipher, rows)
        finally:
            conn.close()
    precision, recall = _pairwise(list(labels), truth)
    broken, clusters = broken_constraints(candidates, labels)
    with bench_database() as url:
        conn = connect(url)
        try:
            base, _ = _upload(conn, cipher, rows[:-batch])
            new, inc_seconds = _upload(conn, cipher, rows[-batch:])
        finally:
            conn.close()
    inc_p, inc_r = _pairwise([*base, *new], truth)
    return Run("ours, ingest (PostgreSQL)", precision, recall, seconds, broken, clusters,
               inc_p, inc_r, inc_seconds, "with lineage, encryption, review queue")  # fmt: skip


# --- report --------------------------------------------------------------------------


def _broken(run: Run) -> str:
    if not run.broken:
        return "none"
    reasons = ", ".join(f"{n} {why}" for why, n in sorted(run.broken.items()))
    return f"{reasons} (pairs) in {run.broken_clusters} clusters"


def report(seed: int, n: int, batch: int, runs: list[Run]) -> None:
    ours = runs[0]
    print(f"seed {seed}: {n:,} rows; incremental step: {batch:,} new rows "
          f"against the {n - batch:,} linked; load average {os.getloadavg()[0]:.2f}")  # fmt: skip
    print("| engine | precision | recall | seconds | x ours | incr. P | incr. R "
          "| incr. seconds | x ours | hard constraints broken |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in runs:
        print(
            f"| {r.name} | {r.precision:.4f} | {r.recall:.4f} | {r.seconds:.2f} | "
            f"{r.seconds / ours.seconds:.1f} | {r.inc_precision:.4f} | {r.inc_recall:.4f} | "
            f"{r.inc_seconds:.3f} | {r.inc_seconds / ours.inc_seconds:.1f} | {_broken(r)} |"
        )
    for r in runs:
        if r.note:
            print(f"  {r.name}: {r.note}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("entities", nargs="?", type=int, default=5000)
    parser.add_argument("--seeds", default="20261201,20261202")
    parser.add_argument("--batch", type=int, default=1000, help="rows in the incremental step")
    parser.add_argument("--threshold", type=float, default=0.99999,
                        help="splink EM's match probability to merge (best F1 on seed 19)")  # fmt: skip
    parser.add_argument("--repeats", type=int, default=3, help="timings are medians of these")
    parser.add_argument("--sweep", action="store_true", help="splink's thresholds on seed 19")
    parser.add_argument("--no-ingest", action="store_true", help="skip the PostgreSQL ingest")
    args = parser.parse_args()
    if pa is None:
        print("splink is not installed: run `pip install -e '.[bench]'` (make bench does).")
        return 1
    if args.sweep:
        rows, truth = generate(args.entities, 19)
        sweep(rows, truth, 19)
        return 0
    for seed in (int(s) for s in args.seeds.split(",")):
        rows, truth = generate(args.entities, seed)
        candidates = [candidate_of_row(r, apn_column="apn") for r in rows]
        ours, _ = run_ours(candidates, truth, args.batch, args.repeats)
        levels = _our_levels()
        # Our merge threshold is a score in bits; with splink's prior at one
        # half, it is this match probability.
        ours_p = 1 / (1 + 2 ** -default_weights().merge)
        runs = [
            ours,
            run_splink(rows=rows, candidates=candidates, truth=truth, batch=args.batch,
                       seed=seed, model=Model("em", levels), threshold=args.threshold,
                       repeats=args.repeats),
            run_splink(rows=rows, candidates=candidates, truth=truth, batch=args.batch,
                       seed=seed, model=Model("ours", levels), threshold=ours_p,
                       repeats=args.repeats),
        ]  # fmt: skip
        if not args.no_ingest:
            runs.append(run_ingest(rows, candidates, truth, args.batch))
        report(seed, len(rows), args.batch, runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
