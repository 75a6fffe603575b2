"""The ingest's second dedupe pass: the matching engine over rows the cascade left apart.

It works on the ingest's scratch tables, between the exact cascade and the
merge (``service._merge``), so the merge, the lineage and the PII rebinding
stay as they are:

1. ``guard_links`` drops in-file address-hash links between two unit-less
   rows whose owners clearly differ, before components are settled.
2. ``run`` drops such address-hash matches to existing leads, then takes
   the rows whose component matched no lead and that share a blocking key
   with another component or a lead (the database finds them, so a file
   of new properties costs one query), links them with the leads found
   (``equity_connect.matching``), and writes the result back as targets
   (``match_key = 'probabilistic'``) and joined components.
3. ``record`` stores each probabilistic match's evidence in the lineage and
   the grey-zone pairs in ``match_reviews``, once lead ids exist.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from equity_connect.db import queries
from equity_connect.db.pool import Conn
from equity_connect.matching.compare import owner_level
from equity_connect.matching.link import OWNERS_DIFFER, Match, candidate_of_row, link
from equity_connect.matching.names import parse_owners
from equity_connect.matching.score import Weights, default_weights

Q = queries.load("equity_connect.ingest")


@dataclass
class PassResult:
    """What the pass changed, for the upload's events."""

    guarded: int = 0
    joined: int = 0
    review: int = 0
    hashes: set[bytes] = field(default_factory=set)


def _differ(
    given_a: str | None, family_a: str | None, given_b: str | None, family_b: str | None
) -> bool:
    level = owner_level(parse_owners(given_a, family_a), parse_owners(given_b, family_b))
    return level in OWNERS_DIFFER


def guard_links(conn: Conn, result: PassResult) -> None:
    """Drop address-hash links the owners contradict (before components are settled)."""
    links = conn.execute(Q["address_links_to_check"]).fetchall()
    dropped = [
        (r["first"], r["row"])
        for r in links
        if r["keys_differ"]
        or _differ(r["first_given"], r["first_family"], r["row_given"], r["row_family"])
    ]
    if not dropped:
        return
    conn.execute(
        Q["drop_address_links"],
        {"firsts": [f for f, _ in dropped], "rows": [r for _, r in dropped]},
    )
    result.guarded += len(dropped)
    rows = sorted({n for pair in dropped for n in pair})
    found = conn.execute(
        "select distinct addr_hash from ingest_stage where row_number = any(%(rows)s)",
        {"rows": rows},
    ).fetchall()
    result.hashes.update(bytes(r["addr_hash"]) for r in found if r["addr_hash"] is not None)


def _guard_targets(conn: Conn, result: PassResult) -> None:
    by_root: dict[int, list[bool]] = defaultdict(list)
    lead_of: dict[int, Any] = {}
    for r in conn.execute(Q["address_targets_to_check"]).fetchall():
        by_root[r["root"]].append(
            bool(r["keys_differ"])
            or _differ(r["lead_given"], r["lead_family"], r["row_given"], r["row_family"])
        )
        lead_of[r["root"]] = r["lead_id"]
    roots = [root for root, differ in by_root.items() if all(differ)]
    if not roots:
        return
    hashes = conn.execute(
        "select distinct addr_hash from leads where id = any(%(ids)s)",
        {"ids": [lead_of[r] for r in roots]},
    ).fetchall()
    result.hashes.update(bytes(h["addr_hash"]) for h in hashes if h["addr_hash"] is not None)
    conn.execute(Q["drop_targets"], {"roots": roots})
    result.guarded += len(roots)


class _Units:
    """Which unit (a file root, or a lead) each candidate index stands for."""

    def __init__(self, rows: list[dict[str, Any]], leads: list[dict[str, Any]]) -> None:
        self.rows, self.leads = rows, leads

    def is_lead(self, i: int) -> bool:
        return i >= len(self.rows)

    def root(self, i: int) -> int:
        return int(self.rows[i]["root"])

    def lead_id(self, i: int) -> Any:
        return self.leads[i - len(self.rows)]["id"]


def _evidence(match: Match, weights: Weights, other: dict[str, Any]) -> dict[str, Any]:
    found = match.score.evidence(weights) if match.score is not None else {"key": match.kind}
    return {**found, **other}


def run(conn: Conn, result: PassResult, weights: Weights | None = None) -> None:
    """Guard address targets, then link the unplaced rows; write targets and components."""
    weights = weights or default_weights()
    conn.execute(Q["create_match_scratch"])
    _guard_targets(conn, result)
    conn.execute(Q["create_unplaced"])
    rows = conn.execute(Q["unplaced_rows"]).fetchall()
    if rows:
        leads = conn.execute(Q["unplaced_leads"]).fetchall()
        candidates = [candidate_of_row(r) for r in rows] + [
            candidate_of_row(lead, lead=str(lead["id"])) for lead in leads
        ]
        _apply(conn, link(candidates, weights=weights), _Units(rows, leads), weights, result)
    if result.hashes:
        conn.execute(Q["release_address_hashes"], {"hashes": sorted(result.hashes)})


def _apply(conn: Conn, linkage: Any, units: _Units, weights: Weights, result: PassResult) -> None:
    members: dict[int, list[int]] = defaultdict(list)
    for i, label in enumerate(linkage.labels):
        members[label].append(i)
    # The evidence of each root that stopped being one: the match that first
    # tied it to the rest (matches come strongest first).
    evidence: dict[int, dict[str, Any]] = {}
    for m in linkage.matches:
        if m.kind == "review":
            continue
        sides = [i for i in (m.i, m.j) if not units.is_lead(i)]
        if len(sides) == 2 and units.root(m.i) == units.root(m.j):
            continue  # one component already: the exact cascade tied them
        absorbed = max(sides, key=units.root) if len(sides) == 2 else sides[0] if sides else None
        if absorbed is None:
            continue
        other_i = m.j if absorbed == m.i else m.i
        other = (
            {"matched_lead": str(units.lead_id(other_i))}
            if units.is_lead(other_i)
            else {"matched_line": units.rows[other_i]["row_number"]}
        )
        evidence.setdefault(units.root(absorbed), _evidence(m, weights, other))
    targets: dict[int, Any] = {}
    absorbed_roots: set[int] = set()
    for indexes in members.values():
        leads = [i for i in indexes if units.is_lead(i)]
        roots = sorted({units.root(i) for i in indexes if not units.is_lead(i)})
        if leads:
            for root in roots:
                targets[root] = units.lead_id(leads[0])
        elif len(roots) > 1:
            first, later = roots[0], roots[1:]
            conn.execute(Q["join_components"], {"root": first, "roots": later})
            conn.execute(Q["add_component_rows"], {"root": first, "rows": roots})
            conn.execute(Q["mark_probabilistic_links"], {"rows": later})
            absorbed_roots.update(later)
            result.joined += len(later)
    if targets:
        conn.execute(
            Q["add_probabilistic_targets"],
            {"roots": list(targets), "leads": list(targets.values())},
        )
        result.joined += len(targets)
    kept = [(r, ev) for r, ev in evidence.items() if r in targets or r in absorbed_roots]
    with conn.cursor().copy("copy ingest_evidence (row_number, evidence) from stdin") as copy:
        for root, ev in kept:
            copy.write_row((root, json.dumps(ev)))
    _reviews(conn, linkage, units, weights, result)


def _reviews(conn: Conn, linkage: Any, units: _Units, weights: Weights, result: PassResult) -> None:
    with conn.cursor().copy(
        "copy ingest_reviews (row_number, other_row, other_lead, score, evidence) from stdin"
    ) as copy:
        for m in linkage.review:
            a, b = (m.j, m.i) if units.is_lead(m.i) else (m.i, m.j)
            if units.is_lead(a):
                continue  # two leads: never scored against each other here
            assert m.score is not None  # a review match always carries its score
            other_row = None if units.is_lead(b) else units.rows[b]["row_number"]
            other_lead = units.lead_id(b) if units.is_lead(b) else None
            copy.write_row(
                (
                    units.rows[a]["row_number"],
                    other_row,
                    other_lead,
                    m.score.score,
                    json.dumps(m.score.evidence(weights)),
                )
            )
            result.review += 1


def record(conn: Conn, upload_id: Any) -> None:
    """After the lineage exists: evidence onto its rows, grey pairs into the review list."""
    conn.execute(Q["store_match_evidence"], {"upload_id": upload_id})
    conn.execute(Q["store_match_reviews"], {"upload_id": upload_id})
