"""Address normalizer: Pub 28 forms, fallback signalling, ZIP/state/city, the dedupe hash."""

from __future__ import annotations

import pytest

from equity_connect.normalize import address as address_module
from equity_connect.normalize.address import (
    NormalizedAddress,
    addr_hash,
    normalize_address,
    normalize_addresses,
    normalize_city,
    normalize_state,
    normalize_street_fast,
    normalize_zip5,
    parse_address,
)


def norm(street: str, zip_code: str = "90001") -> NormalizedAddress:
    result = normalize_address(street, "Los Angeles", "CA", zip_code)
    assert result is not None
    return result


@pytest.mark.parametrize(
    ("raw", "line", "designator", "unit"),
    [
        ("123 N. Main Street Apt 4", "123 N MAIN ST", "APT", "4"),
        ("123 NORTH MAIN ST #4", "123 N MAIN ST", "#", "4"),
        ("123 north main st unit 4", "123 N MAIN ST", "UNIT", "4"),
        ("123 North Main St, Apt. 4", "123 N MAIN ST", "APT", "4"),
        ("123 Main St Apt #4", "123 MAIN ST", "APT", "4"),
        ("123 MAIN ST # 4", "123 MAIN ST", "#", "4"),
        ("  123   N.  Main   Blvd.  ", "123 N MAIN BLVD", None, None),
        ("123 Main Str", "123 MAIN ST", None, None),
        ("123 Main Av", "123 MAIN AVE", None, None),
        ("123 Elm Boulevard", "123 ELM BLVD", None, None),
        ("9 Oak Parkway", "9 OAK PKWY", None, None),
        ("9 Oak Crescent", "9 OAK CRES", None, None),
        ("9 Oak Stravenue", "9 OAK STRA", None, None),
        ("123 Main St N", "123 MAIN ST N", None, None),
        ("123 Main Street Northeast", "123 MAIN ST NE", None, None),
        ("1600 Pennsylvania Ave NW", "1600 PENNSYLVANIA AVE NW", None, None),
        ("123 Southwest Park Ln", "123 SW PARK LN", None, None),
        ("123 Main St Ste 200", "123 MAIN ST", "STE", "200"),
        ("123 Main St Suite 5B", "123 MAIN ST", "STE", "5B"),
        ("123 Main St Apartment C", "123 MAIN ST", "APT", "C"),
        ("123 Main St Bldg A", "123 MAIN ST", "BLDG", "A"),
        ("123 Main St Floor 2", "123 MAIN ST", "FL", "2"),
        ("123 Main St Trailer 12", "123 MAIN ST", "TRLR", "12"),
        ("123 Main St Space 7", "123 MAIN ST", "SPC", "7"),
        # "ST" as Saint: only the last word is the suffix, name words stay as written.
        ("123 ST JAMES PL", "123 ST JAMES PL", None, None),
        ("123 Saint James Place", "123 SAINT JAMES PL", None, None),
        ("123 Court St", "123 COURT ST", None, None),
        ("123 Park Place", "123 PARK PL", None, None),
        ("123 ST ST", "123 ST ST", None, None),
        ("123 O'Farrell St", "123 OFARRELL ST", None, None),
        ("123 Main St Ext", "123 MAIN ST EXT", None, None),
    ],
)
def test_fast_path_pub28_forms(raw: str, line: str, designator: str | None, unit: str | None):
    result = norm(raw)
    assert (result.street_line, result.unit_designator, result.unit) == (line, designator, unit)
    assert result.method == "fast"
    assert not result.needs_fallback
    assert result.reason is None


@pytest.mark.parametrize(
    ("raw", "reason", "line"),
    [
        ("123 Hwy 1", "highway", "123 HWY 1"),
        ("4500 US Highway 19 N", "highway", "4500 US HWY 19 N"),
        ("123 1st St", "numbered_street", "123 1ST ST"),
        ("123 First Street", "numbered_street", "123 FIRST ST"),
        ("100 W 42nd St", "numbered_street", "100 W 42ND ST"),
        ("123 1/2 Main St", "fractional_number", "123 1/2 MAIN ST"),
        ("12-34 Main St", "hyphenated_number", "12-34 MAIN ST"),
        ("12.5 Main St", "decimal_number", "12.5 MAIN ST"),
        ("123 Broadway", "no_suffix", "123 BROADWAY"),
        ("123 Main La", "no_suffix", "123 MAIN LN"),
        ("123 Avenue B", "unrecognized_shape", "123 AVE B"),
        ("123 North St", "ambiguous_directional", "123 NORTH ST"),
        ("123 N West St", "ambiguous_directional", "123 N WEST ST"),
        ("123 Calle Peña", "non_ascii", "123 CALLE PENA"),
        # "UNIT ST" could be a unit called ST: the fast path will not guess.
        ("123 Unit St", "unit_unparsed", "123 UNIT ST"),
    ],
)
def test_declined_shapes_go_to_scourgify(raw: str, reason: str, line: str):
    result, why = parse_address(raw, "Los Angeles", "CA", "90001")
    assert result is not None
    assert result.needs_fallback
    assert result.method == "scourgify"
    assert result.reason == why == reason
    assert result.street_line == line
    assert normalize_street_fast(raw) == reason


def test_secondary_only_designator_via_fallback():
    result = norm("123 Main St Rear")
    assert (result.street_line, result.unit_designator, result.unit) == (
        "123 MAIN ST",
        "REAR",
        None,
    )
    assert result.method == "scourgify"
    assert result.unit_key == "REAR"
    assert result.delivery_line == "123 MAIN ST REAR"


@pytest.mark.parametrize(
    ("raw", "reason", "line"),
    [
        ("PO Box 123", "po_box", "PO BOX 123"),
        ("P.O. Box 77", "po_box", "PO BOX 77"),
        ("RR 2 Box 5", "rural_route", "RR 2 BOX 5"),
        ("HC 1 Box 20", "rural_route", "HC 1 BOX 20"),
        ("Main St", "no_house_number", "MAIN ST"),
        ("123 Main St Apt", "unit_unparsed", "123 MAIN ST APT"),
    ],
)
def test_both_parsers_fail_returns_cleaned_not_mangled(raw: str, reason: str, line: str):
    result, why = parse_address(raw, "Los Angeles", "CA", "90001")
    assert result is not None
    assert result.method == "cleaned"
    assert result.needs_fallback
    assert why is not None
    assert why.startswith(reason)
    assert "scourgify" in why
    assert result.street_line == line
    assert result.unit is None


def test_fallback_disabled_returns_cleaned_without_calling_scourgify(monkeypatch):
    def boom(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("scourgify must not be called")

    monkeypatch.setattr(address_module, "normalize_address_record", boom)
    address_module._scourgify.cache_clear()
    result, why = parse_address("123 1st St", None, None, "90001", fallback=False)
    assert result is not None
    assert (result.method, result.street_line, why) == ("cleaned", "123 1ST ST", "numbered_street")


def test_unexpected_scourgify_exception_is_contained(monkeypatch):
    def crash(*_args: object, **_kwargs: object) -> None:
        raise IndexError("tagger blew up")

    monkeypatch.setattr(address_module, "normalize_address_record", crash)
    address_module._scourgify.cache_clear()
    try:
        result, why = parse_address("123 Hwy 1", "X", "CA", "90001")
    finally:
        address_module._scourgify.cache_clear()
    assert result is not None
    assert result.method == "cleaned"
    assert why == "highway; scourgify: IndexError"


@pytest.mark.parametrize(
    ("street", "zip_code", "reason"),
    [
        ("", "90001", "empty_street"),
        ("   ", "90001", "empty_street"),
        (None, "90001", "empty_street"),
        ("123 Main St", None, "missing_zip"),
        ("123 Main St", "  ", "missing_zip"),
        ("123 Main St", "90", "invalid_zip"),
        ("123 Main St", "ABCDE", "invalid_zip"),
        ("123 Main St", "900012", "invalid_zip"),
    ],
)
def test_unusable_rows_return_none_with_reason(
    street: str | None, zip_code: str | None, reason: str
) -> None:
    assert parse_address(street, "Los Angeles", "CA", zip_code) == (None, reason)
    assert normalize_address(street, "Los Angeles", "CA", zip_code) is None


@pytest.mark.parametrize(
    ("raw", "zip5"),
    [
        ("90001", "90001"),
        (" 90001 ", "90001"),
        ("90001-1234", "90001"),
        ("90001 1234", "90001"),
        ("900011234", "90001"),
        ("02134", "02134"),
        ("02134-0001", "02134"),
        ("2134", "02134"),
        ("501", "00501"),
        ("", None),
        ("90", None),
        ("9000A", None),
        ("90001-12", None),
        ("٩٠٠٠١", None),
    ],
)
def test_zip5(raw: str, zip5: str | None):
    assert normalize_zip5(raw) == zip5


@pytest.mark.parametrize(
    ("raw", "state"),
    [
        ("CA", "CA"),
        (" ca ", "CA"),
        ("California", "CA"),
        ("new  york", "NY"),
        ("D.C.", "DC"),
        ("District of Columbia", "DC"),
        ("PR", "PR"),
        ("XX", None),
        ("", None),
        (None, None),
    ],
)
def test_state(raw: str | None, state: str | None):
    assert normalize_state(raw) == state


@pytest.mark.parametrize(
    ("raw", "city"),
    [
        ("Los Angeles", "LOS ANGELES"),
        ("  st.  louis ", "ST LOUIS"),
        ("", None),
        (None, None),
    ],
)
def test_city(raw: str | None, city: str | None):
    assert normalize_city(raw) == city


def test_city_state_zip_fields():
    result = normalize_address("1 Main St", "  los angeles", "california", "90001-1234")
    assert result is not None
    assert (result.city, result.state, result.zip5) == ("LOS ANGELES", "CA", "90001")


def test_unit_key_unifies_apt_unit_ste_hash_only():
    keys = {norm(f"123 Main St {u}").unit_key for u in ["Apt 4", "#4", "Unit 4", "Ste 4"]}
    assert keys == {"4"}
    assert norm("123 Main St Bldg 4").unit_key == "BLDG 4"
    assert norm("123 Main St Fl 4").unit_key == "FL 4"
    assert norm("123 Main St").unit_key is None


def test_display_keeps_designator():
    assert norm("123 n main street apt 4").delivery_line == "123 N MAIN ST APT 4"
    assert norm("123 n main street #4").delivery_line == "123 N MAIN ST # 4"
    assert norm("123 n main street").secondary_line is None


def test_addr_hash_brief_examples():
    a = norm("123 N. Main Street Apt 4")
    b = norm("123 NORTH MAIN ST #4")
    assert addr_hash(a) == addr_hash(b)
    assert len(addr_hash(a)) == 32
    for other in [
        norm("123 N. Main Street Apt 5"),
        norm("125 N. Main Street Apt 4"),
        norm("123 N. Main Street Apt 4", zip_code="90002"),
        norm("123 S. Main Street Apt 4"),
        norm("123 N. Main Street"),
        norm("123 N. Main Street Bldg 4"),
        norm("123 N. Main Avenue Apt 4"),
    ]:
        assert addr_hash(other) != addr_hash(a)


def test_addr_hash_ignores_city_and_state():
    a = normalize_address("123 Main St", "Los Angeles", "CA", "90001")
    b = normalize_address("123 Main St", "LA", None, "90001-0001")
    assert a is not None
    assert b is not None
    assert addr_hash(a) == addr_hash(b)


def test_addr_hash_field_boundaries_are_unambiguous():
    # A unit folded into the street line must not collide with a separate unit.
    a = NormalizedAddress("123 MAIN ST 4", None, None, None, None, "90001")
    b = NormalizedAddress("123 MAIN ST", "4", "APT", None, None, "90001")
    assert addr_hash(a) != addr_hash(b)


def test_batch_matches_single():
    rows = [
        ("123 N Main St Apt 4", "Los Angeles", "CA", "90001"),
        ("PO Box 1", "Miami", "FL", "33101"),
        ("", "Miami", "FL", "33101"),
        ("9 Oak Ave", None, None, "02134-1111"),
    ]
    assert normalize_addresses(rows) == [normalize_address(*row) for row in rows]


def test_normalized_address_is_frozen():
    result = norm("1 Main St")
    with pytest.raises(AttributeError):
        result.street_line = "x"  # type: ignore[misc]
