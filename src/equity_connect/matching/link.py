"""Link rows into properties: the exact cascade first, then match weights.

1. Exact keys, as the ingest's cascade: MAK, then county + APN, then the
   address key (street line, unit, ZIP; without a ZIP: street, city, state).
   Guarded: an address match where both rows lack a unit and the owners
   clearly differ (two units of one building, written without them) is not
   taken on the address alone; it is scored like any other pair.
2. Rows still apart are blocked on cheap keys (ZIP + house number, ZIP +
   street prefix, city + state + house number, ZIP + owner surname), scored
   (``score.py``), and joined strongest first without breaking a hard
   constraint (``cluster.py``). Pairs between the review and merge
   thresholds are not joined: they are returned for an ops decision.

This is the engine in memory, over one list of candidates (a file's rows
and, for incremental linking, the existing leads they were blocked with).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

from equity_connect.matching.cluster import Clusters
from equity_connect.matching.compare import Candidate, owner_level, split_street_line
from equity_connect.matching.names import parse_owners
from equity_connect.matching.score import PairScore, Weights, default_weights, score_pair
from equity_connect.normalize.address import normalize_zip5, parse_address

# A block larger than this is a key too common to tell anything (a ZIP's
# "SMITH"s): its pairs are left to the other keys rather than compared n².
MAX_BLOCK = 400
_DIRECTIONALS = frozenset(["N", "S", "E", "W", "NE", "NW", "SE", "SW"])
# parse_address places an address by its ZIP; a row without one is parsed
# with this stand-in and its ZIP then dropped (identity: street, city, state).
_NO_ZIP = "00000"
# Owners that "clearly differ" for the address guard: no person agrees, or
# only a surname does (two units' owners are often relatives, or share a
# common surname by chance; a true re-appearance almost always repeats a
# first name too).
OWNERS_DIFFER = frozenset({"different", "surname"})


def candidate(
    *,
    street: str | None,
    city: str | None,
    state: str | None,
    zip_code: str | None,
    first: str | None = None,
    last: str | None = None,
    mak: str | None = None,
    county: str | None = None,
    apn: str | None = None,
    lead: str | None = None,
) -> Candidate:
    """A candidate from a row's raw fields, normalized as the ingest normalizes them."""
    zip5 = normalize_zip5(zip_code)
    address, _ = parse_address(street, city, state, zip5 or _NO_ZIP)
    number = street_rest = unit = None
    city_n, state_n = city, state
    if address is not None:
        number, street_rest = split_street_line(address.street_line)
        unit = address.unit_key
        city_n, state_n = address.city, address.state
    return Candidate(
        number=number,
        street=street_rest,
        unit=unit,
        city=city_n.upper() if city_n else None,
        state=state_n.upper() if state_n else None,
        zip5=zip5,
        owners=parse_owners(first, last),
        mak=mak or None,
        county=county or None,
        apn=apn or None,
        lead=lead,
    )


def candidate_of_row(
    row: Mapping[str, Any], *, apn_column: str = "apn_normalized", lead: str | None = None
) -> Candidate:
    """A candidate from a row named as ``leads`` and the vendor files name their columns
    (the ingest's stage and leads give ``apn_normalized``; a vendor file, ``apn``)."""
    return candidate(
        street=row["property_address"],
        city=row["property_city"],
        state=row["property_state"],
        zip_code=row["property_zip"],
        first=row["owner_first_name"],
        last=row["owner_last_name"],
        mak=row["mak"],
        county=row["county_fips"],
        apn=row[apn_column],
        lead=lead,
    )


def address_key(c: Candidate) -> tuple[str, ...] | None:
    """The exact address identity: with a ZIP, street + unit + ZIP; else + city + state."""
    if c.number is None or c.street is None:
        return None
    if c.zip5 is not None:
        return (c.number, c.street, c.unit or "", c.zip5)
    if c.city is None or c.state is None:
        return None
    return (c.number, c.street, c.unit or "", "", c.city, c.state)


def _street_prefix(street: str | None) -> str | None:
    # The same rule as the ingest's blocking SQL (left(split_part(address,
    # ' ', 2), 4)), so a pair the database found is a pair blocked here too.
    if street is None:
        return None
    return street.split(" ", 1)[0][:4]


def blocking_keys(c: Candidate) -> Iterator[tuple[str, ...]]:
    """The cheap keys a row is compared under (each names its kind)."""
    if c.zip5 and c.number:
        yield ("zip_number", c.zip5, c.number)
    prefix = _street_prefix(c.street)
    if c.zip5 and prefix:
        yield ("zip_street", c.zip5, prefix)
    if c.city and c.state and c.number:
        yield ("city_number", c.city, c.state, c.number)
    if c.zip5:
        for surname in c.owners.surnames:
            yield ("zip_surname", c.zip5, surname)


@dataclass(frozen=True)
class Match:
    """Two rows found to be one property, or a pair left for review."""

    i: int
    j: int
    kind: str  # "mak" | "apn" | "addr_hash" | "probabilistic" | "review"
    score: PairScore | None = None


@dataclass
class Linkage:
    """What linking decided: a cluster label per row and the matches behind it."""

    labels: list[int]
    matches: list[Match] = field(default_factory=list)

    @property
    def review(self) -> list[Match]:
        return [m for m in self.matches if m.kind == "review"]


def _exact_keys(c: Candidate) -> Iterator[tuple[str, tuple[str, ...]]]:
    """The row's exact identity keys, strongest first (the ingest cascade's order)."""
    if c.mak is not None:
        yield "mak", (c.mak,)
    if c.county is not None and c.apn is not None:
        yield "apn", (c.county, c.apn)


def _exact(candidates: list[Candidate], clusters: Clusters, matches: list[Match]) -> None:
    first_of: dict[tuple[str, tuple[str, ...]], int] = {}
    for i, c in enumerate(candidates):
        for kind, key in _exact_keys(c):
            j = first_of.setdefault((kind, key), i)
            if j != i and clusters.join(j, i):
                matches.append(Match(j, i, kind))
    by_address: dict[tuple[str, ...], list[int]] = defaultdict(list)
    for i, c in enumerate(candidates):
        address = address_key(c)
        if address is not None:
            by_address[address].append(i)
    for rows in by_address.values():
        for pos, i in enumerate(rows[1:], 1):
            for j in rows[:pos]:
                a, b = candidates[j], candidates[i]
                if a.unit is None and owner_level(a.owners, b.owners) in OWNERS_DIFFER:
                    continue  # two units written without them? scored instead
                if clusters.join(j, i):
                    matches.append(Match(j, i, "addr_hash"))
                    break


def candidate_pairs(candidates: list[Candidate]) -> Iterator[tuple[int, int]]:
    """Every pair sharing a blocking key (each once)."""
    blocks: dict[tuple[str, ...], list[int]] = defaultdict(list)
    for i, c in enumerate(candidates):
        for key in blocking_keys(c):
            blocks[key].append(i)
    seen: set[tuple[int, int]] = set()
    for rows in blocks.values():
        if len(rows) > MAX_BLOCK:
            continue
        for i, j in combinations(rows, 2):
            if (i, j) not in seen:
                seen.add((i, j))
                yield i, j


def link(
    candidates: list[Candidate],
    *,
    weights: Weights | None = None,
    decisions: Iterable[tuple[int, int, str]] = (),
) -> Linkage:
    """Link ``candidates`` into properties.

    ``decisions`` are ops answers about pairs, ``(i, j, "merge" | "apart")``:
    "apart" is a constraint no score overrides, "merge" joins before scoring.
    """
    weights = weights or default_weights()
    clusters = Clusters(candidates)
    matches: list[Match] = []
    decided = list(decisions)
    apart = {frozenset((i, j)) for i, j, d in decided if d == "apart"}
    for i, j, decision in decided:
        if decision == "merge" and clusters.join(i, j):
            matches.append(Match(i, j, "review_merge"))
    _exact(candidates, clusters, matches)
    # "apart" binds every join from here on, transitively (cluster.py).
    clusters.keep_apart((i, j) for i, j, d in decided if d == "apart")
    pairs = (
        (i, j, score_pair(candidates[i], candidates[j], weights))
        for i, j in candidate_pairs(candidates)
        if clusters.find(i) != clusters.find(j) and frozenset((i, j)) not in apart
    )  # pairs decided already are neither merged nor asked again
    matches.extend(settle(clusters, pairs, weights))
    return Linkage(clusters.labels(), matches)


def settle(
    clusters: Clusters, pairs: Iterable[tuple[int, int, PairScore]], weights: Weights
) -> list[Match]:
    """Join the pairs scored at or above ``merge``, strongest first, as constraints allow;
    pairs between ``review`` and ``merge`` whose rows stay apart are returned for review.

    Only pairs that reach the review threshold are kept in memory.
    """
    scored: list[tuple[float, int, int, PairScore]] = []
    grey: list[tuple[int, int, PairScore]] = []
    for i, j, result in pairs:
        if result.score >= weights.merge:
            scored.append((result.score, i, j, result))
        elif result.score >= weights.review:
            grey.append((i, j, result))
    matches: list[Match] = []
    for _, i, j, result in sorted(scored, key=lambda p: (-p[0], p[1], p[2])):
        if clusters.join(i, j):
            matches.append(Match(i, j, "probabilistic", result))
    for i, j, result in grey:
        if clusters.find(i) != clusters.find(j):
            matches.append(Match(i, j, "review", result))
    return matches
