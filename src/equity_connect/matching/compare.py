"""Field-by-field comparison of two property rows, as Fellegi–Sunter levels.

Each comparison answers with one named level per field (``exact``,
``transposed``...); ``weights.toml`` gives each level its match weight. The
levels are ordered from strongest agreement to disagreement, and the first
that holds is the answer, as in splink's comparison levels.
"""

from __future__ import annotations

from dataclasses import dataclass

from rapidfuzz.distance import OSA, JaroWinkler

from equity_connect.matching.names import Owners, Person


@dataclass(frozen=True)
class Candidate:
    """A row (or lead) reduced to what matching compares. Text is normalized upper case."""

    number: str | None  # house number, e.g. "1482" or "1482A"
    street: str | None  # the street line after the number: "N MAIN ST"
    unit: str | None  # unit key, e.g. "4" or "BLDG 2"
    city: str | None
    state: str | None
    zip5: str | None
    owners: Owners
    mak: str | None = None
    county: str | None = None
    apn: str | None = None
    lead: str | None = None  # an existing lead's id: two leads are never joined here


def split_street_line(line: str | None) -> tuple[str | None, str | None]:
    """``"1482 N MAIN ST"`` -> ``("1482", "N MAIN ST")``; no leading number -> ``(None, line)``."""
    if not line:
        return None, None
    head, _, rest = line.partition(" ")
    if head[:1].isdigit():
        return head, rest or None
    return None, line


def house_number_level(a: str | None, b: str | None) -> str:
    if a is None or b is None:
        return "missing"
    if a == b:
        return "exact"
    if len(a) == len(b):
        diffs = [i for i in range(len(a)) if a[i] != b[i]]
        if (
            len(diffs) == 2
            and diffs[1] == diffs[0] + 1
            and a[diffs[0]] == b[diffs[1]]
            and a[diffs[1]] == b[diffs[0]]
        ):
            return "transposed"
        if len(diffs) == 1:
            i = diffs[0]
            if a[i].isdigit() and b[i].isdigit() and abs(int(a[i]) - int(b[i])) == 1:
                return "one_key_off"  # 1482 / 1483, 1482 / 1582: a slipped key
            return "one_digit"  # 1481 / 1483 is also two doors down the same side
    return "different"


def typos_apart(a: str, b: str) -> int:
    """Keying errors between two words: insertions, deletions, substitutions, swaps.

    Jaro-Winkler alone undervalues a doubled letter in a short word
    (NAKAMURA / NAAKAMURA: 0.87), so both measures are consulted.
    """
    return int(OSA.distance(a, b))


def street_level(a: str | None, b: str | None) -> str:
    if a is None or b is None:
        return "missing"
    if a == b:
        return "exact"
    similarity = JaroWinkler.similarity(a, b)
    edits = typos_apart(a, b)
    if similarity >= 0.94 or (edits <= 1 and min(len(a), len(b)) >= 5):
        return "close"
    if similarity >= 0.86 or (edits <= 2 and min(len(a), len(b)) >= 8):
        return "similar"
    return "different"


def unit_level(a: str | None, b: str | None) -> str:
    if a is None and b is None:
        return "both_missing"
    if a is None or b is None:
        return "one_missing"
    return "exact" if a == b else "different"


def place_level(a: Candidate, b: Candidate) -> str:
    same_city = a.city is not None and a.city == b.city and a.state == b.state
    if a.zip5 is not None and b.zip5 is not None:
        if a.zip5 == b.zip5:
            return "zip"
        return "city_not_zip" if same_city else "different"
    if same_city:
        return "city_no_zip"
    if a.state is not None and b.state is not None and a.state != b.state:
        return "different"
    return "missing"


def _first_agrees(a: Person, b: Person) -> bool:
    if a.first is None or b.first is None:
        # "J. Smith" and "John Smith": an initial agrees with the name it starts
        ia = a.initial if a.first is None else a.first[0]
        ib = b.initial if b.first is None else b.first[0]
        return ia is not None and ia == ib
    return a.first == b.first or JaroWinkler.similarity(a.first, b.first) >= 0.92


def _surname_close(a: str, b: str) -> bool:
    if min(len(a), len(b)) < 4:
        return False  # LEE / LEA: too short for a typo to be told from another name
    return JaroWinkler.similarity(a, b) >= 0.9 or typos_apart(a, b) <= 1


def _person_level(a: Person, b: Person) -> int:
    """0 full agreement, 1 surname fuzzy + first, 2 surname only, 3 nothing."""
    surname = a.last == b.last
    if not surname and not _surname_close(a.last, b.last):
        return 3
    first = _first_agrees(a, b)
    if surname and first:
        return 0
    if first:
        return 1
    return 2 if surname else 3


OWNER_LEVELS = ("full", "fuzzy", "surname", "different")


def owner_level(a: Owners, b: Owners) -> str:
    if a.empty or b.empty:
        return "missing"
    if a.entity is not None or b.entity is not None:
        if a.entity is not None and b.entity is not None:
            return "full" if JaroWinkler.similarity(a.entity, b.entity) >= 0.94 else "different"
        return "missing"  # a trust and a person may be the same household: no evidence
    best = min(_person_level(x, y) for x in a.people for y in b.people)
    return OWNER_LEVELS[best]


def compare(a: Candidate, b: Candidate) -> dict[str, str]:
    """The level of every compared field."""
    return {
        "house_number": house_number_level(a.number, b.number),
        "street": street_level(a.street, b.street),
        "unit": unit_level(a.unit, b.unit),
        "place": place_level(a, b),
        "owner": owner_level(a.owners, b.owners),
    }


def hard_conflict(a: Candidate, b: Candidate) -> str | None:
    """Why two rows can never be one property, whatever their score (or None)."""
    if a.lead is not None and b.lead is not None and a.lead != b.lead:
        return "two existing leads"  # merging leads is an ops decision, not an ingest's
    if a.mak is not None and b.mak is not None and a.mak != b.mak:
        return "different MAK"
    if a.county is not None and a.county == b.county and a.apn and b.apn and a.apn != b.apn:
        return "different APN in one county"
    # Same house number (and, being candidates, a street alike): two units of
    # one building. A mistyped street must not make them mergeable.
    if a.unit is not None and b.unit is not None and a.unit != b.unit and a.number == b.number:
        return "different units of one address"
    return None
