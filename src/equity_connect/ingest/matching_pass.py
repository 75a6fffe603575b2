"""The ingest's second dedupe pass: the matching engine over rows the cascade left apart.

It works on the ingest's scratch tables, between the exact cascade and the
merge (``service._merge``), so the merge, the lineage and the PII rebinding
stay as they are:

1. ``guard_links`` drops in-file address-hash links between two unit-less
   rows whose owners clearly differ, before components are settled.
2. ``run`` drops such address-hash matches to existing leads, then takes
   the rows whose component matched no lead. The database pairs them with
   each other and with existing leads on the blocking keys (through
   indexes, skipping blocks too large to say anything) and drops every pair
   whose best possible score, from the weights, cannot reach the review
   threshold; only the pairs left are streamed here and scored
   (``equity_connect.matching``). The pairs that reach the review threshold
   are joined strongest first under the hard constraints of their whole
   components, and written back as targets (``match_key =
   'probabilistic'``) and joined components. Memory follows the plausible
   pairs, not the file; an upload is linked against existing leads without
   touching the rest.
3. ``record`` stores each probabilistic match's evidence in the lineage and
   the grey-zone pairs in ``match_reviews``, once lead ids exist.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from equity_connect.db import queries
from equity_connect.db.pool import Conn
from equity_connect.matching.cluster import Clusters
from equity_connect.matching.compare import Candidate, owner_level
from equity_connect.matching.link import (
    MAX_BLOCK,
    OWNERS_DIFFER,
    Linkage,
    Match,
    candidate_of_row,
    settle,
)
from equity_connect.matching.names import ENTITY_WORDS, NOISE_WORDS, parse_owners
from equity_connect.matching.score import PairScore, Weights, default_weights, score_pair

Q = queries.load("equity_connect.ingest")


@dataclass
class PassResult:
    """What the pass changed, for the upload's events."""

    guarded: int = 0
    joined: int = 0
    review: int = 0
    #: Pairs left by the database's pre-filter before and after reading
    #: owners (the latter are scored here), and blocks skipped for their size.
    pairs: int = 0
    scored: int = 0
    skipped_blocks: int = 0
    hashes: set[bytes] = field(default_factory=set)


def _stream(conn: Conn, name: str) -> Iterator[dict[str, Any]]:
    """A query's rows through a server-side cursor: a large file's rows never all in memory."""
    with conn.cursor(name=f"ingest_{name}") as cur:
        cur.itersize = 5000
        cur.execute(Q[name])
        yield from cur


def _differ(
    given_a: str | None, family_a: str | None, given_b: str | None, family_b: str | None
) -> bool:
    level = owner_level(parse_owners(given_a, family_a), parse_owners(given_b, family_b))
    return level in OWNERS_DIFFER


def guard_links(conn: Conn, result: PassResult) -> None:
    """Drop address-hash links the owners contradict (before components are settled)."""
    dropped = [
        (r["first"], r["row"])
        for r in _stream(conn, "address_links_to_check")
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
    for r in _stream(conn, "address_targets_to_check"):
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


def bounds(weights: Weights) -> dict[str, float]:
    """The pre-filter's parameters: per field, the weight of each level the database
    can tell, or the best weight among the levels it cannot tell apart."""
    w = weights.by_level
    house, unit, place, owner = w["house_number"], w["unit"], w["place"], w["owner"]
    return {
        "h_missing": house["missing"],
        "h_exact": house["exact"],
        "h_different": house["different"],
        "h_transposed": house["transposed"],
        "h_one_off": max(house["one_key_off"], house["one_digit"]),
        "h_near": max(house["transposed"], house["one_key_off"], house["one_digit"]),
        "s_best": max(w["street"].values()),
        "u_both_missing": unit["both_missing"],
        "u_exact": unit["exact"],
        "u_one_missing": unit["one_missing"],
        "p_zip": place["zip"],
        "p_city_not_zip": place["city_not_zip"],
        "p_city_no_zip": place["city_no_zip"],
        "p_different": place["different"],
        "p_missing": place["missing"],
        "o_missing": owner["missing"],
        "o_best": max(owner.values()),
        "o_different": owner["different"],
        "review": weights.review,
    }


_SIDE = (
    "mak",
    "county_fips",
    "apn_normalized",
    "owner_first_name",
    "owner_last_name",
    "property_address",
    "property_city",
    "property_state",
    "property_zip",
)


def _side(r: dict[str, Any], prefix: str) -> dict[str, Any]:
    return {c: r[prefix + c] for c in _SIDE}


def _scored_pairs(
    conn: Conn, weights: Weights, result: PassResult
) -> tuple[list[tuple[str, str, PairScore]], dict[str, Candidate], dict[int, int]]:
    """Stream the plausible pairs, score them; keep those reaching the review threshold."""
    cache: dict[str, Candidate] = {}
    wanted: dict[str, Candidate] = {}
    roots: dict[int, int] = {}
    kept: list[tuple[str, str, PairScore]] = []

    def cand(key: str, r: dict[str, Any], prefix: str, lead: str | None) -> Candidate:
        found = cache.get(key)
        if found is None:
            found = cache[key] = candidate_of_row(_side(r, prefix), lead=lead)
        return found

    with conn.cursor(name="ingest_plausible_pairs") as cur:
        cur.itersize = 5000
        cur.execute(Q["plausible_pairs"], bounds(weights))
        for r in cur:
            result.scored += 1
            ka = f"r{r['a']}"
            kb = str(r["lead"]) if r["lead"] is not None else f"r{r['b']}"
            a = cand(ka, r, "a_", None)
            b = cand(kb, r, "b_", str(r["lead"]) if r["lead"] is not None else None)
            score = score_pair(a, b, weights)
            if score.score >= weights.review:
                kept.append((ka, kb, score))
                wanted[ka], wanted[kb] = a, b
                roots[r["a"]] = r["a_root"]
                if r["b"] is not None:
                    roots[r["b"]] = r["b_root"]
            if len(cache) > 100_000:
                # Bounded memory: a file of near-misses must not keep every row.
                cache.clear()
    return kept, wanted, roots


def run(conn: Conn, result: PassResult, weights: Weights | None = None) -> None:
    """Guard address targets, then link the unplaced rows; write targets and components."""
    weights = weights or default_weights()
    conn.execute(Q["create_match_scratch"])
    _guard_targets(conn, result)
    conn.execute(Q["create_unplaced"])
    conn.execute(Q["create_block_keys"])
    params = {"max_block": MAX_BLOCK}
    any_lead = conn.execute(Q["any_lead_exists"]).fetchone()
    conn.execute(
        Q["create_lead_hits" if any_lead and any_lead["any"] else "create_empty_lead_hits"], params
    )
    conn.execute(Q["analyze_lead_hits"])
    conn.execute(Q["add_hit_leads"], params)
    conn.execute(Q["analyze_unplaced"])
    skipped = conn.execute(Q["skipped_blocks"], params).fetchone()
    result.skipped_blocks = skipped["skipped"] if skipped is not None else 0
    result.pairs = conn.execute(Q["create_pairs"], {**params, **bounds(weights)}).rowcount
    conn.execute(
        Q["create_pair_sides"],
        {"entity_words": sorted(ENTITY_WORDS), "noise_words": sorted(NOISE_WORDS)},
    )
    conn.execute(Q["index_pair_sides"])
    kept, cache, roots = _scored_pairs(conn, weights, result)
    if kept:
        _link_kept(conn, kept, cache, roots, weights=weights, result=result)
    if result.hashes:
        conn.execute(Q["release_address_hashes"], {"hashes": sorted(result.hashes)})


def _link_kept(
    conn: Conn,
    kept: list[tuple[str, str, PairScore]],
    cache: dict[str, Candidate],
    roots: dict[int, int],
    *,
    weights: Weights,
    result: PassResult,
) -> None:
    """Cluster the kept pairs under the constraints of their whole components."""
    facts = conn.execute(
        Q["component_facts"], {"rows": sorted(roots), "roots": sorted(set(roots.values()))}
    ).fetchall()
    lead_keys = sorted({k for a, b, _ in kept for k in (a, b) if not k.startswith("r")})
    index: dict[str, int] = {}
    candidates: list[Candidate] = []
    for r in facts:
        key = f"r{r['row_number']}"
        index[key] = len(candidates)
        # from the facts, not the pair: they hold the keys release_keys took
        candidates.append(candidate_of_row(r))
    leads = [{"id": cache[k].lead} for k in lead_keys]
    for k in lead_keys:
        index[k] = len(candidates)
        candidates.append(cache[k])
    # The rows an exact key already sends to a lead are part of it: a row
    # scored against the lead must fit them too (a MAK they bring, which the
    # lead does not hold yet). They come last and only constrain.
    real = len(candidates)
    pending = conn.execute(
        Q["rows_targeting_leads"], {"leads": [cache[k].lead for k in lead_keys]}
    ).fetchall()
    candidates.extend(candidate_of_row(r) for r in pending)
    clusters = Clusters(candidates)
    first_of_root: dict[int, int] = {}
    for i, r in enumerate(facts):
        # One component of the exact cascade is one cluster from the start.
        clusters.join(first_of_root.setdefault(r["root"], i), i)
    for i, r in enumerate(pending, real):
        clusters.join(index[str(r["lead_id"])], i)
    matches = settle(clusters, ((index[a], index[b], s) for a, b, s in kept), weights)
    labels = clusters.labels()[:real]
    _apply(conn, Linkage(labels, matches), _Units(facts, leads), weights, result)


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


def constrain_components(conn: Conn, *, guard: bool) -> int:
    """Settle again the exact cascade's components that break a hard constraint.

    The cascade's links join components transitively: A and B share a MAK,
    B and C an APN, so A and C are one lead even when A's and C's MAKs (or
    APNs in one county, or units of one house number) differ. Such
    components, rare, are read here and joined again key by key (MAK, then
    county + APN, then address), earliest row first, refusing every join
    that would put two conflicting rows together (``matching.cluster``);
    with ``guard``, an address link between two unit-less rows whose owners
    differ is refused too, as ``guard_links`` refuses it. Rows split off lose
    the key values an earlier unit keeps, so each stays unique among leads.
    Returns how many components were settled again.
    """
    roots = [r["root"] for r in conn.execute(Q["conflicted_components"]).fetchall()]
    if not roots:
        return 0
    rows = conn.execute(Q["conflicted_rows"], {"roots": roots}).fetchall()
    candidates = [candidate_of_row(r) for r in rows]
    clusters = Clusters(candidates)
    for kind in ("mak", "apn", "addr"):
        groups: dict[Any, list[int]] = defaultdict(list)
        for i, r in enumerate(rows):
            key = _key(r, kind)
            if key is not None:
                groups[key].append(i)
        for members in groups.values():
            for pos, i in enumerate(members[1:], 1):
                for j in members[:pos]:
                    if kind == "addr" and guard and _guarded(candidates[j], candidates[i]):
                        continue
                    if clusters.join(j, i):
                        break
    labels = clusters.labels()
    new_root = [rows[label]["row_number"] for label in labels]  # labels: earliest index
    conn.execute(
        Q["settle_conflicted"], {"rows": [r["row_number"] for r in rows], "roots": new_root}
    )
    # Which unit keeps each key value: the one of the earliest row holding it.
    holder: dict[tuple[str, Any], int] = {}
    for i, r in enumerate(rows):
        for kind in ("mak", "apn", "addr"):
            key = _key(r, kind)
            if key is not None:
                holder.setdefault((kind, key), labels[i])
    lose = {
        kind: [
            _key(r, kind) is not None and holder[(kind, _key(r, kind))] != labels[i]
            for i, r in enumerate(rows)
        ]
        for kind in ("mak", "apn", "addr")
    }
    conn.execute(
        Q["release_keys"],
        {"rows": [r["row_number"] for r in rows], **lose},
    )
    return len(roots)


def _key(r: dict[str, Any], kind: str) -> Any:
    if kind == "mak":
        return r["mak"]
    if kind == "apn":
        if r["county_fips"] is None or r["apn_normalized"] is None:
            return None
        return (r["county_fips"], r["apn_normalized"])
    return None if r["addr_hash"] is None else bytes(r["addr_hash"])


def _guarded(a: Candidate, b: Candidate) -> bool:
    return a.unit is None and b.unit is None and owner_level(a.owners, b.owners) in OWNERS_DIFFER


_LINK = {"mak": "mak", "apn": "apn", "addr": "addr_hash"}


def constrain_targets(conn: Conn, *, guard: bool) -> int:
    """Settle again the components whose rows a hard constraint keeps from their lead.

    A component is matched to one lead by its strongest key, but its other
    rows may carry an APN in the lead's county, a MAK or a unit of the
    lead's house number that differ from the lead's, or match another lead
    outright. Such roots, rare, are settled again as ``constrain_components``
    settles a file's components, with the leads their rows match as members
    that come first: key by key (MAK, then county + APN, then address), a
    row joins the earliest member it shares the key with that no constraint
    keeps it from (a lead before any row). Each piece then goes to its lead,
    or is a new lead; a row split off loses the key values its lead, or an
    earlier piece, keeps (leads hold them uniquely). Returns how many roots
    were settled again (over all rounds).
    """
    settled = 0
    # A piece moved to another lead may now share it with a root that was not
    # read (its rows may not fit together): again, until nothing moves.
    for _ in range(_ROUNDS):
        roots = [r["root"] for r in conn.execute(Q["conflicted_targets"]).fetchall()]
        if not roots or not _settle_targets(conn, roots, guard=guard):
            break
        settled += len(roots)
    return settled


#: Rounds of constrain_targets: each one moves pieces to a lead they match
#: by a weaker key, so a chain of them is as long as the keys (three).
_ROUNDS = 4


def _settle_targets(conn: Conn, roots: list[int], *, guard: bool) -> bool:
    """One round of constrain_targets over ``roots``; whether any row moved."""
    before = {
        r["root"]: r["lead_id"]
        for r in conn.execute(
            "select root, lead_id from ingest_targets where root = any(%(roots)s)",
            {"roots": roots},
        ).fetchall()
    }
    rows = conn.execute(Q["target_rows"], {"roots": roots}).fetchall()
    apns = [(r["county_fips"], r["apn_normalized"]) for r in rows if _key(r, "apn") is not None]
    leads = conn.execute(
        Q["target_leads"],
        {
            "maks": sorted({r["mak"] for r in rows if r["mak"] is not None}),
            "counties": [c for c, _ in apns],
            "apns": [a for _, a in apns],
            "hashes": sorted({bytes(r["addr_hash"]) for r in rows if r["addr_hash"] is not None}),
        },
    ).fetchall()
    members = [*leads, *rows]  # leads first: the earliest members, and cluster labels
    n_leads = len(leads)
    candidates = [
        _lead_candidate(m) if i < n_leads else _row_candidate(m) for i, m in enumerate(members)
    ]
    labels, link, lead_key = _join_with_leads(members, candidates, n_leads, guard=guard)
    # A piece: the rows of one old root in one cluster (two components joining
    # one lead stay two components of it, as before); named by its first row.
    piece_root: dict[tuple[int, int], int] = {}
    for i in range(n_leads, len(members)):
        piece_root.setdefault((members[i]["root"], labels[i]), members[i]["row_number"])
    new_root = [piece_root[(members[i]["root"], labels[i])] for i in range(n_leads, len(members))]
    targets = {root: label for (_, label), root in piece_root.items() if label < n_leads}
    conn.execute(
        Q["settle_targets"],
        {
            "rows": [r["row_number"] for r in rows],
            "roots": new_root,
            # a row alone leaves the components: its link is never read
            "links": [link.get(i, "mak") for i in range(n_leads, len(members))],
            "old": roots,
            "t_roots": list(targets),
            "t_leads": [leads[label]["id"] for label in targets.values()],
            "t_keys": [lead_key[label] for label in targets.values()],
        },
    )
    holder: dict[tuple[str, Any], int] = {}
    for i, m in enumerate(members):
        for kind in ("mak", "apn", "addr"):
            key = _key(m, kind)
            if key is not None:
                holder.setdefault((kind, key), labels[i])
    lose = {
        kind: [
            _key(r, kind) is not None and holder[(kind, _key(r, kind))] != labels[n_leads + i]
            for i, r in enumerate(rows)
        ]
        for kind in ("mak", "apn", "addr")
    }
    conn.execute(Q["release_keys"], {"rows": [r["row_number"] for r in rows], **lose})
    after = {root: leads[label]["id"] for root, label in targets.items()}
    return after != before or any(root != r["root"] for root, r in zip(new_root, rows, strict=True))


def _join_with_leads(
    members: list[dict[str, Any]], candidates: list[Candidate], n_leads: int, *, guard: bool
) -> tuple[list[int], dict[int, str], dict[int, str]]:
    """Join ``members`` (the leads first) key by key under the hard constraints.

    Returns each member's cluster label (its earliest member: a lead's index
    when it holds one), each row's strongest key to its cluster, and each
    lead's strongest key to the rows that joined it.
    """
    clusters = Clusters(candidates)
    link: dict[int, str] = {}
    lead_key: dict[int, str] = {}
    for kind in ("mak", "apn", "addr"):
        groups: dict[Any, list[int]] = defaultdict(list)
        for i, m in enumerate(members):
            key = _key(m, kind)
            if key is not None:
                groups[key].append(i)
        for group in groups.values():
            for pos, i in enumerate(group[1:], 1):
                for j in group[:pos]:
                    if kind == "addr" and guard and _guarded(candidates[j], candidates[i]):
                        continue
                    a, b = clusters.find(j), clusters.find(i)
                    if not clusters.join(j, i):
                        continue
                    if a != b:
                        link.setdefault(i, _LINK[kind])
                        link.setdefault(j, _LINK[kind])
                        if min(a, b) < n_leads <= max(a, b):
                            lead_key.setdefault(min(a, b), _LINK[kind])
                    break
    return clusters.labels(), link, lead_key


def _lead_candidate(lead: dict[str, Any]) -> Candidate:
    """A lead as a candidate, with its unit even when its address line lacks it.

    A lead's address and unit each follow their own latest non-blank value,
    so "10 OAK ST" may hold unit 1 from another row: the unit still binds.
    """
    found = candidate_of_row(lead, lead=str(lead["id"]))
    if found.unit is None and lead["property_unit"] and lead["property_address"]:
        with_unit = {
            **lead,
            "property_address": f"{lead['property_address']} {lead['property_unit']}",
        }
        found = candidate_of_row(with_unit, lead=str(lead["id"]))
    return found


def _row_candidate(r: dict[str, Any]) -> Candidate:
    """A row as a candidate, with the MAK and APN a split took from it: those no
    longer join it to anything, but still keep it from another value."""
    return candidate_of_row(
        {
            **r,
            "mak": r["mak"] or r["released_mak"],
            "apn_normalized": r["apn_normalized"] or r["released_apn"],
        }
    )
