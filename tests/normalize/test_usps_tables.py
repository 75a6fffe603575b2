"""The Pub 28 tables: shape and spot checks against the publication."""

from __future__ import annotations

import pytest

from equity_connect.normalize.usps_tables import (
    DIRECTIONALS,
    INTERCHANGEABLE_UNIT_DESIGNATORS,
    STATE_CODES,
    STATE_NAMES,
    STREET_SUFFIXES,
    UNIT_DESIGNATORS,
    UNIT_DESIGNATORS_NO_ID,
)


@pytest.mark.parametrize(
    ("spelling", "standard"),
    [
        ("AVENUE", "AVE"),
        ("AV", "AVE"),
        ("AVE", "AVE"),
        ("AVNUE", "AVE"),
        ("STREET", "ST"),
        ("STR", "ST"),
        ("STRT", "ST"),
        ("ST", "ST"),
        ("BOULEVARD", "BLVD"),
        ("BOUL", "BLVD"),
        ("DRIVE", "DR"),
        ("ROAD", "RD"),
        ("LANE", "LN"),
        ("COURT", "CT"),
        ("PLACE", "PL"),
        ("PARKWAY", "PKWY"),
        ("PKWYS", "PKWY"),
        ("CROSSING", "XING"),
        ("STRAVENUE", "STRA"),
        ("TURNPIKE", "TPKE"),
        ("VIADUCT", "VIA"),
        ("EXPRESSWAY", "EXPY"),
        ("HIGHWAY", "HWY"),
        ("FREEWAY", "FWY"),
        ("ANNEX", "ANX"),
        ("BAYOO", "BYU"),
        ("CAUSWA", "CSWY"),
        ("WELLS", "WLS"),
    ],
)
def test_c1_spot_checks(spelling: str, standard: str):
    assert STREET_SUFFIXES[spelling] == standard


def test_c1_is_closed_and_complete():
    standards = set(STREET_SUFFIXES.values())
    assert all(STREET_SUFFIXES[s] == s for s in standards)
    assert len(standards) >= 195  # Pub 28 C1 has about 200 primary suffix names
    assert len(STREET_SUFFIXES) >= 500
    assert all(k == k.upper() and k.isalpha() for k in STREET_SUFFIXES)


def test_directionals():
    assert DIRECTIONALS["NORTH"] == "N"
    assert DIRECTIONALS["NORTHEAST"] == "NE"
    assert DIRECTIONALS["SW"] == "SW"
    assert set(DIRECTIONALS.values()) == {"N", "S", "E", "W", "NE", "NW", "SE", "SW"}


def test_c2():
    assert UNIT_DESIGNATORS["APARTMENT"] == "APT"
    assert UNIT_DESIGNATORS["SUITE"] == "STE"
    assert UNIT_DESIGNATORS["#"] == "#"
    assert UNIT_DESIGNATORS["BUILDING"] == "BLDG"
    assert UNIT_DESIGNATORS["FLOOR"] == "FL"
    assert UNIT_DESIGNATORS_NO_ID["PENTHOUSE"] == "PH"
    assert not set(UNIT_DESIGNATORS) & set(UNIT_DESIGNATORS_NO_ID)
    assert set(UNIT_DESIGNATORS.values()) >= INTERCHANGEABLE_UNIT_DESIGNATORS


def test_states():
    assert len(STATE_CODES) >= 51
    assert set(STATE_NAMES.values()) <= STATE_CODES
