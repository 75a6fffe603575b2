"""Linking: the guarded exact cascade, then match weights joined in score order."""

from __future__ import annotations

from equity_connect.matching.compare import Candidate
from equity_connect.matching.link import candidate, link


def row(street: str = "1482 Maple Ave", **fields: str) -> Candidate:
    base = {"city": "Springfield", "state": "IL", "zip_code": "62704"}
    base.update(fields)
    return candidate(
        street=street,
        city=base["city"],
        state=base["state"],
        zip_code=base["zip_code"],
        first=base.get("first", "Carmen"),
        last=base.get("last", "Delgado"),
        mak=base.get("mak"),
        county=base.get("county"),
        apn=base.get("apn"),
    )


def test_a_reappearance_without_keys_joins_by_its_score() -> None:
    linkage = link([row(mak="111"), row("1428 Mapel Ave", first="", last="DELGADO, CARMEN")])
    assert linkage.labels[0] == linkage.labels[1]
    (match,) = [m for m in linkage.matches if m.kind == "probabilistic"]
    assert match.score is not None and "owner" in match.score.agreed


def test_two_units_written_without_units_and_owned_apart_are_not_merged_on_the_address() -> None:
    linkage = link([row(first="Carmen"), row(first="Robert", last="Okafor")])
    assert linkage.labels[0] != linkage.labels[1]
    assert not [m for m in linkage.matches if m.kind == "addr_hash"]


def test_the_same_address_and_owner_is_one_property() -> None:
    linkage = link([row(), row("1482 MAPLE AVENUE")])
    assert linkage.labels[0] == linkage.labels[1]
    assert [m.kind for m in linkage.matches] == ["addr_hash"]


def test_no_constraint_is_broken_transitively() -> None:
    # B (no keys) scores high with both A and C, but A and C have different
    # MAKs: B may join one of them, never both.
    a = row(mak="111")
    b = row("1428 Maple Ave")
    c = row("1482 Maple Av", mak="222")
    labels = link([a, b, c]).labels
    assert labels[0] != labels[2]


def test_a_grey_zone_pair_goes_to_review_not_to_a_merge() -> None:
    # one address without units, only the surname agrees: the same home
    # re-listed under a spouse, or a relative in the other unit
    linkage = link([row(), row(first="Luis")])
    assert linkage.labels[0] != linkage.labels[1]
    assert [(m.i, m.j) for m in linkage.review] == [(0, 1)]


def test_a_keep_apart_decision_is_honoured_over_a_high_score() -> None:
    rows = [row(mak="111"), row("1428 Mapel Ave")]
    assert link(rows).labels[0] == link(rows).labels[1]
    kept = link(rows, decisions=[(0, 1, "apart")])
    assert kept.labels[0] != kept.labels[1]


def test_a_merge_decision_joins_a_grey_pair() -> None:
    rows = [row(), row(first="Luis")]
    merged = link(rows, decisions=[(0, 1, "merge")])
    assert merged.labels[0] == merged.labels[1]


def test_a_row_without_a_zip_is_placed_by_street_city_and_state() -> None:
    linkage = link([row(), row(zip_code="")])
    assert linkage.labels[0] == linkage.labels[1]


def test_a_keep_apart_decision_holds_through_a_third_row() -> None:
    # 2 scores high with both 0 and 1; 0 and 1 are kept apart, so 2 joins one of them only.
    rows = [row(mak="111"), row("1428 Mapel Ave"), row("1482 Maple Av")]
    labels = link(rows, decisions=[(0, 1, "apart")]).labels
    assert labels[0] != labels[1]
