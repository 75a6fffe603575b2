"""Comparison levels and the hard constraints no score overrides."""

from __future__ import annotations

import math

import pytest

from equity_connect.matching.compare import (
    hard_conflict,
    house_number_level,
    split_street_line,
    street_level,
)
from equity_connect.matching.link import candidate
from equity_connect.matching.score import default_weights, parse_weights, score_pair


def home(**fields: str) -> dict[str, str]:
    base = {
        "street": "1482 Maple Ave",
        "city": "Springfield",
        "state": "IL",
        "zip_code": "62704",
        "first": "Carmen",
        "last": "Delgado",
    }
    return {**base, **fields}


@pytest.mark.parametrize(
    ("a", "b", "level"),
    [
        ("1482", "1482", "exact"),
        ("1482", "1428", "transposed"),
        ("1482", "4182", "transposed"),
        ("1482", "1483", "one_key_off"),
        ("1482", "1582", "one_key_off"),
        ("1482", "1484", "one_digit"),
        ("1482", "1522", "different"),
        ("1482", "148", "different"),
        ("1482", None, "missing"),
    ],
)
def test_house_number_levels(a: str, b: str | None, level: str) -> None:
    assert house_number_level(a, b) == level


def test_street_levels() -> None:
    assert street_level("MAPLE AVE", "MAPLE AVE") == "exact"
    assert street_level("BRIARWOOD WAY", "BRRIARWOOD WAY") == "close"
    assert street_level("MAPLE AVE", "OAKWOOD AVE") == "different"


def test_split_street_line() -> None:
    assert split_street_line("1482 N MAPLE AVE") == ("1482", "N MAPLE AVE")
    assert split_street_line("RURAL ROUTE 2") == (None, "RURAL ROUTE 2")


@pytest.mark.parametrize(
    ("a", "b", "why"),
    [
        ({"mak": "111"}, {"mak": "222"}, "different MAK"),
        (
            {"county": "17167", "apn": "12-34"},
            {"county": "17167", "apn": "12-35"},
            "different APN in one county",
        ),
        ({"street": "1482 Maple Ave Apt 1"}, {"street": "1482 Maple Ave Apt 2"}, "different units"),
    ],
)
def test_hard_constraints_veto_whatever_the_score(
    a: dict[str, str], b: dict[str, str], why: str
) -> None:
    left, right = candidate(**home(**a)), candidate(**home(**b))
    result = score_pair(left, right)
    assert result.conflict is not None and why in result.conflict
    assert result.score == -math.inf


def test_the_same_apn_in_another_county_is_no_conflict() -> None:
    a = candidate(**home(county="17167", apn="12-34"))
    b = candidate(**home(county="29077", apn="12-34"))
    assert hard_conflict(a, b) is None


def test_a_garbled_reappearance_outscores_the_merge_threshold() -> None:
    weights = default_weights()
    original = candidate(**home())
    garbled = candidate(**home(street="1428 MAPEL AVENUE", first="", last="DELGADO, CARMEN M"))
    assert score_pair(original, garbled).score >= weights.merge


@pytest.mark.parametrize(
    "trap",
    [
        home(street="1484 Maple Ave", first="Robert", last="Okafor"),  # neighbour, other owner
        home(street="1530 Maple Ave"),  # the same investor's other house
        home(street="1510 Maple Ave", first="Luis"),  # a child with the same surname
        home(city="Springfield", state="MO", zip_code="65802"),  # same address, another city
        home(first="Robert", last="Okafor"),  # a second unit written without its unit
    ],
)
def test_traps_score_below_the_merge_threshold(trap: dict[str, str]) -> None:
    assert score_pair(candidate(**home()), candidate(**trap)).score < default_weights().merge


def test_weights_refuse_a_review_threshold_above_merge() -> None:
    document = {
        "version": "x",
        "thresholds": {"merge": 5, "review": 9},
        **{
            f: {"exact": {"m": 0.9, "u": 0.1}}
            for f in ("house_number", "street", "unit", "place", "owner")
        },
    }
    with pytest.raises(ValueError, match="review threshold"):
        parse_weights(document)


def test_evidence_names_what_agreed_and_differed() -> None:
    result = score_pair(candidate(**home()), candidate(**home(street="1428 Maple Ave")))
    evidence = result.evidence(default_weights())
    assert "house_number" in evidence["agreed"] and "street" in evidence["agreed"]
    assert evidence["levels"]["house_number"] == "transposed"
    assert evidence["weights_version"] == default_weights().version
