"""bench/_splink_frame.py: our rows as splink's input frame, blocked as our engine blocks.

The engine comparison (bench/matching_engines.py) is only fair if splink
sees the facts our engine sees. These tests need no splink: the mapping is
plain Python.
"""

from __future__ import annotations

import sys
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from equity_connect.matching.link import blocking_keys, candidate_of_row

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from _messy_properties import COLUMNS as VENDOR_COLUMNS
from _messy_properties import generate
from _splink_frame import COLUMNS, splink_records


def vendor_row(**fields: str) -> dict[str, str]:
    row = dict.fromkeys(VENDOR_COLUMNS, "")
    row.update(
        property_address="1482 N Maple St Apt 4",
        property_city="springfield",
        property_state="il",
        property_zip="62704-1234",
        owner_first_name="Bob & Luis",
        owner_last_name="Delgado",
    )
    row.update(fields)
    return row


def test_a_row_becomes_its_normalized_parts() -> None:
    (record,) = splink_records([vendor_row(mak="3000000017", apn="123-45-678",
                                           county_fips="17167")])  # fmt: skip
    assert record == {
        "unique_id": 0,
        "house_number": "1482",
        "street": "N MAPLE ST",
        "street_prefix": "N",
        "unit": "4",
        "city": "SPRINGFIELD",
        "state": "IL",
        "zip5": "62704",
        "surname": "DELGADO",
        "first_name": "ROBERT",  # the nickname read as the engine reads it
        "first_initial": "R",
        "mak": "3000000017",
        "county": "17167",
        "apn": "123-45-678",
    }


def test_a_surname_first_owner_gives_the_same_person() -> None:
    (a, b) = splink_records(
        [vendor_row(), vendor_row(owner_first_name="", owner_last_name="DELGADO, ROBERT M.")]
    )
    assert (a["surname"], a["first_name"]) == (b["surname"], b["first_name"])


def test_a_company_is_its_whole_name_without_a_first_name() -> None:
    (record,) = splink_records(
        [vendor_row(owner_first_name="", owner_last_name="Oak Holdings LLC")]
    )
    assert record["surname"] == "OAK HOLDINGS LLC"
    assert record["first_name"] is None and record["first_initial"] is None


def test_missing_fields_are_null_not_empty() -> None:
    (record,) = splink_records(
        [vendor_row(property_zip="", owner_first_name="", owner_last_name="")]
    )
    assert record["zip5"] is None and record["mak"] is None and record["apn"] is None
    assert record["surname"] is None
    assert (record["city"], record["state"]) == ("SPRINGFIELD", "IL")


def test_ids_of_a_later_batch_follow_the_linked_set() -> None:
    records = splink_records([vendor_row(), vendor_row()], start=7975)
    assert [r["unique_id"] for r in records] == [7975, 7976]


@settings(max_examples=25, deadline=None)
@given(st.integers(min_value=0, max_value=2**32))
def test_splink_blocks_as_the_engine_blocks(seed: int) -> None:
    """Each of splink's blocking rules is a key the engine blocks the same row on."""
    rows, _ = generate(20, seed)
    for row, record in zip(rows, splink_records(rows), strict=True):
        assert tuple(record) == COLUMNS
        keys = set(blocking_keys(candidate_of_row(row, apn_column="apn")))
        zip5, number = record["zip5"], record["house_number"]
        if zip5 and number:
            assert ("zip_number", zip5, number) in keys
        if zip5 and record["street_prefix"]:
            assert ("zip_street", zip5, record["street_prefix"]) in keys
        if record["city"] and record["state"] and number:
            assert ("city_number", record["city"], record["state"], number) in keys
        if zip5 and record["surname"]:
            assert ("zip_surname", zip5, record["surname"]) in keys
