"""Owner names in every vendor layout read to the same people."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from equity_connect.matching.compare import owner_level
from equity_connect.matching.names import Person, parse_owners

CARMEN = Person("DELGADO", "CARMEN")


@pytest.mark.parametrize(
    ("first", "last"),
    [
        ("Carmen", "Delgado"),
        ("CARMEN", "DELGADO"),
        ("", "DELGADO, CARMEN"),
        ("", "Delgado,Carmen"),
        ("", "Carmen Delgado"),
        ("", "DELGADO CARMEN"),
        ("Carmen & Luis", "Delgado"),
        ("", "Carmen & Luis Delgado"),
        ("", "DELGADO, CARMEN & LUIS"),
        ("Carmen and Luis", "Delgado"),
        ("Cármen", "Délgado"),
        ("Carmen Delgado & Luis Perez", "Delgado"),
    ],
)
def test_every_layout_holds_the_same_owner(first: str, last: str) -> None:
    people = parse_owners(first, last).people
    assert any(p.last == "DELGADO" and p.first == "CARMEN" for p in people), people


def test_joint_owners_are_two_people_with_one_surname() -> None:
    owners = parse_owners("Carmen & Luis", "Delgado")
    assert set(owners.people) == {CARMEN, Person("DELGADO", "LUIS")}


@pytest.mark.parametrize(
    ("first", "last", "initial"),
    [("Carmen M.", "Delgado", "M"), ("", "DELGADO CARMEN M", "M"), ("Carmen M", "Delgado", "M")],
)
def test_middle_initials_are_kept_apart_from_the_name(first: str, last: str, initial: str) -> None:
    assert Person("DELGADO", "CARMEN", initial) in parse_owners(first, last).people


@pytest.mark.parametrize(
    ("nick", "formal"), [("Bob", "Robert"), ("Bill", "William"), ("Paco", "Francisco")]
)
def test_nicknames_agree_with_the_formal_name(nick: str, formal: str) -> None:
    assert owner_level(parse_owners(nick, "Smith"), parse_owners(formal, "Smith")) == "full"


def test_generational_suffixes_and_trustee_markers_are_not_names() -> None:
    assert parse_owners("Robert Jr", "Smith").people == (Person("SMITH", "ROBERT"),)
    assert Person("SMITH", "ROBERT") in parse_owners("", "SMITH, ROBERT TTEE").people


def test_a_trust_or_company_is_one_entity_not_people() -> None:
    owners = parse_owners("", "Delgado Family Trust")
    assert owners.people == ()
    assert owners.entity == "DELGADO FAMILY TRUST"


def test_levels_between_owners() -> None:
    carmen = parse_owners("Carmen", "Delgado")
    assert owner_level(carmen, parse_owners("", "DELGDO, CARMEN")) == "fuzzy"
    assert owner_level(carmen, parse_owners("Luis", "Delgado")) == "surname"
    assert owner_level(carmen, parse_owners("Robert", "Okafor")) == "different"
    assert owner_level(carmen, parse_owners("", "")) == "missing"
    # a doubled letter is one typo, though Jaro-Winkler scores it low
    assert (
        owner_level(parse_owners("Josephine", "Nakamura"), parse_owners("Josephine", "Naakamura"))
        == "fuzzy"
    )


def test_short_surnames_need_to_be_equal() -> None:
    assert owner_level(parse_owners("Ann", "Lee"), parse_owners("Ann", "Lea")) == "different"


@given(st.text(max_size=40), st.text(max_size=40))
def test_any_text_parses_and_agrees_with_itself(first: str, last: str) -> None:
    owners = parse_owners(first, last)
    if owners.empty:
        return
    named = owners.entity is not None or any(p.first or p.initial for p in owners.people)
    assert owner_level(owners, owners) == ("full" if named else "surname")
