"""Our rows as splink's input frame: one flat record per row, no splink import needed.

splink compares columns, so every field our engine derives while comparing
(the house number split from the street line, the unit key, the owner read
from whatever layout the vendor used, the nickname resolved) is derived
here once, by the engine's own normalization (``candidate_of_row``). Both
engines then see the same facts; what differs is how they weigh, block and
cluster them. Kept apart from the splink code so the mapping is tested
without splink installed (tests/bench/test_splink_frame.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from equity_connect.matching.compare import Candidate
from equity_connect.matching.link import candidate_of_row

# Every column of the frame, in order; all text (or null) but the id.
COLUMNS = (
    "unique_id",
    "house_number",
    "street",
    "street_prefix",
    "unit",
    "city",
    "state",
    "zip5",
    "surname",
    "first_name",
    "first_initial",
    "mak",
    "county",
    "apn",
)


def street_prefix(street: str | None) -> str | None:
    """The engine's blocking prefix: the street's first word, four letters at most."""
    if street is None:
        return None
    return street.split(" ", 1)[0][:4] or None


def splink_record(unique_id: int, c: Candidate) -> dict[str, Any]:
    """One row of splink's frame from one candidate.

    splink compares one value per column, and our owners are a list of
    readings; the first reading is the vendor's primary owner (a joint
    owner or a second reading of an ambiguous layout comes after it). A
    company or trust is its whole name as the surname, with no first name.
    """
    surname = first = initial = None
    if c.owners.entity is not None:
        surname = c.owners.entity
    elif c.owners.people:
        person = c.owners.people[0]
        surname, first = person.last, person.first
        initial = first[0] if first else person.initial
    return {
        "unique_id": unique_id,
        "house_number": c.number,
        "street": c.street,
        "street_prefix": street_prefix(c.street),
        "unit": c.unit,
        "city": c.city,
        "state": c.state,
        "zip5": c.zip5,
        "surname": surname,
        "first_name": first,
        "first_initial": initial,
        "mak": c.mak,
        "county": c.county,
        "apn": c.apn,
    }


def splink_records(
    rows: Sequence[Mapping[str, Any]], *, start: int = 0, apn_column: str = "apn"
) -> list[dict[str, Any]]:
    """The frame of vendor rows (as ``bench/_messy_properties.py`` writes them), ids from
    ``start`` so a later batch's ids follow the linked set's."""
    return [
        splink_record(start + k, candidate_of_row(row, apn_column=apn_column))
        for k, row in enumerate(rows)
    ]
