"""Calling hours with an injected clock: boundaries, DST, Arizona, Hawaii, ambiguity."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from equity_connect.campaign.compliance import (
    ALL_US_ZONES,
    FEDERAL_WINDOW,
    LOOKAHEAD,
    STATE_CALLING_RULES,
    STATE_ZONES,
    CallingWindow,
    calling_allowed,
    next_allowed,
    window_for_state,
    zones_for,
)

NY = ZoneInfo("America/New_York")
CHI = ZoneInfo("America/Chicago")
DEN = ZoneInfo("America/Denver")
PHX = ZoneInfo("America/Phoenix")
LA = ZoneInfo("America/Los_Angeles")
HNL = ZoneInfo("Pacific/Honolulu")
ANC = ZoneInfo("America/Anchorage")
ADAK = ZoneInfo("America/Adak")


def at(zone: tzinfo, year: int, month: int, day: int, *clock: int) -> datetime:
    """An aware datetime; ``clock`` is hour, minute, second (missing parts are 0)."""
    hour, minute, second = (*clock, 0, 0, 0)[:3]
    return datetime(year, month, day, hour, minute, second, tzinfo=zone)


def utc(year: int, month: int, day: int, *clock: int) -> datetime:
    return at(UTC, year, month, day, *clock)


# --- the window boundaries -----------------------------------------------------------------


@pytest.mark.parametrize("zone", [NY, CHI, DEN, PHX, LA, HNL, ANC])
@pytest.mark.parametrize(
    ("clock", "allowed"),
    [
        ((7, 59, 59), False),
        ((8, 0, 0), True),
        ((12, 0, 0), True),
        ((20, 59, 59), True),
        ((21, 0, 0), False),
        ((23, 30, 0), False),
        ((0, 0, 0), False),
    ],
)
def test_window_edges(zone: ZoneInfo, clock: tuple[int, int, int], allowed: bool) -> None:
    now = at(zone, 2026, 6, 10, *clock)
    assert calling_allowed(now, {zone}) is allowed
    # The same instant seen from UTC: the check converts, it does not read now's wall clock.
    assert calling_allowed(now.astimezone(UTC), {zone}) is allowed


# --- DST switch days 2026: spring forward Mar 8, fall back Nov 1 --------------------------


@pytest.mark.parametrize(
    ("instant", "zone", "allowed"),
    [
        # New York, spring forward: 08:00 EDT = 12:00Z (a day earlier it was 13:00Z).
        (utc(2026, 3, 8, 11, 59, 59), NY, False),
        (utc(2026, 3, 8, 12, 0, 0), NY, True),
        (utc(2026, 3, 9, 0, 59, 59), NY, True),  # 20:59:59 EDT
        (utc(2026, 3, 9, 1, 0, 0), NY, False),  # 21:00 EDT
        (utc(2026, 3, 7, 12, 30, 0), NY, False),  # Saturday 07:30 EST
        # New York, fall back: 08:00 EST = 13:00Z.
        (utc(2026, 11, 1, 12, 59, 59), NY, False),
        (utc(2026, 11, 1, 13, 0, 0), NY, True),
        (utc(2026, 11, 2, 1, 59, 59), NY, True),  # 20:59:59 EST
        (utc(2026, 11, 2, 2, 0, 0), NY, False),  # 21:00 EST
        # Los Angeles, spring forward: 08:00 PDT = 15:00Z; 21:00 PDT = 04:00Z.
        (utc(2026, 3, 8, 14, 59, 59), LA, False),
        (utc(2026, 3, 8, 15, 0, 0), LA, True),
        (utc(2026, 3, 9, 3, 59, 59), LA, True),
        (utc(2026, 3, 9, 4, 0, 0), LA, False),
        # Los Angeles, fall back: 08:00 PST = 16:00Z; 21:00 PST = 05:00Z.
        (utc(2026, 11, 1, 15, 59, 59), LA, False),
        (utc(2026, 11, 1, 16, 0, 0), LA, True),
        (utc(2026, 11, 2, 4, 59, 59), LA, True),
        (utc(2026, 11, 2, 5, 0, 0), LA, False),
    ],
)
def test_dst_switch_days(instant: datetime, zone: ZoneInfo, allowed: bool) -> None:
    assert calling_allowed(instant, {zone}) is allowed


def test_fall_back_evening_before_is_checked_in_daylight_time() -> None:
    # 2026-11-01 01:30Z is Saturday Oct 31 21:30 EDT (the switch comes later that night).
    assert not calling_allowed(utc(2026, 11, 1, 1, 30), {NY})
    assert calling_allowed(utc(2026, 11, 1, 0, 59, 59), {NY})


@pytest.mark.parametrize(
    ("now", "zone", "expected"),
    [
        (utc(2026, 3, 8, 5, 0), NY, utc(2026, 3, 8, 12, 0)),  # midnight EST -> 08:00 EDT
        (utc(2026, 11, 1, 4, 0), NY, utc(2026, 11, 1, 13, 0)),  # midnight EDT -> 08:00 EST
        (utc(2026, 3, 8, 8, 0), LA, utc(2026, 3, 8, 15, 0)),
        (utc(2026, 11, 1, 7, 0), LA, utc(2026, 11, 1, 16, 0)),
        (utc(2026, 3, 8, 1, 0), NY, utc(2026, 3, 8, 12, 0)),  # 20:00 EST Sat -> allowed now
    ],
)
def test_next_allowed_across_dst(now: datetime, zone: ZoneInfo, expected: datetime) -> None:
    if calling_allowed(now, {zone}):
        assert next_allowed(now, {zone}) == now
    else:
        assert next_allowed(now, {zone}) == expected


# --- Arizona and Hawaii: no DST ------------------------------------------------------------


@pytest.mark.parametrize("month", [1, 7])
def test_phoenix_is_utc_minus_7_all_year(month: int) -> None:
    # 08:00 MST = 15:00Z in January and in July; Denver moves, Phoenix does not.
    assert not calling_allowed(utc(2026, month, 15, 14, 59, 59), {PHX})
    assert calling_allowed(utc(2026, month, 15, 15, 0), {PHX})
    assert calling_allowed(utc(2026, month, 16, 3, 59, 59), {PHX})  # 20:59:59 MST
    assert not calling_allowed(utc(2026, month, 16, 4, 0), {PHX})  # 21:00 MST


def test_navajo_nation_zip_observes_dst_in_july() -> None:
    window_rock = zones_for("AZ", "86515", None)
    phoenix = zones_for("AZ", "85004", None)
    assert phoenix == {PHX}
    assert window_rock == {PHX, DEN}
    assert zones_for("AZ", None, None) == {PHX, DEN}  # no ZIP: could be either
    july_2030_mst = utc(2026, 7, 16, 3, 30)  # 20:30 MST = 21:30 MDT
    assert calling_allowed(july_2030_mst, phoenix)
    assert not calling_allowed(july_2030_mst, window_rock)
    january = utc(2026, 1, 16, 3, 30)  # 20:30 MST everywhere in Arizona
    assert calling_allowed(january, window_rock)


@pytest.mark.parametrize("month", [1, 7])
def test_hawaii_is_utc_minus_10_all_year(month: int) -> None:
    assert zones_for("HI", "96813", "+18085550123") == {HNL}
    assert not calling_allowed(utc(2026, month, 15, 17, 59, 59), {HNL})
    assert calling_allowed(utc(2026, month, 15, 18, 0), {HNL})  # 08:00 HST
    assert calling_allowed(utc(2026, month, 16, 6, 59, 59), {HNL})  # 20:59:59 HST
    assert not calling_allowed(utc(2026, month, 16, 7, 0), {HNL})


# --- ambiguity: the most restrictive window ------------------------------------------------


def test_eastern_phone_with_california_property() -> None:
    zones = zones_for("CA", "90001", "+12125550123")
    assert zones == {LA, NY}
    evening = at(LA, 2026, 6, 10, 18, 30)  # 21:30 ET
    assert calling_allowed(evening, {LA})
    assert not calling_allowed(evening, zones)
    assert calling_allowed(at(LA, 2026, 6, 10, 10, 0), zones)
    # Next: 08:00 PT the next morning (11:00 ET), not 08:00 ET (05:00 PT).
    assert next_allowed(evening, zones) == at(LA, 2026, 6, 11, 8, 0)
    assert not calling_allowed(at(LA, 2026, 6, 11, 7, 59, 59), zones)


def test_unknown_location_is_most_restrictive() -> None:
    assert zones_for(None, None, None) == ALL_US_ZONES
    assert zones_for("ZZ", "abcde", "not a phone") == ALL_US_ZONES
    assert zones_for("AA", None, None) == ALL_US_ZONES  # military: no local time
    assert {NY, CHI, DEN, PHX, LA, ANC, ADAK, HNL} <= ALL_US_ZONES
    noon_et = at(NY, 2026, 1, 15, 12, 0)  # 03:00 in Guam
    assert not calling_allowed(noon_et, ALL_US_ZONES)
    opening = next_allowed(noon_et, ALL_US_ZONES)
    assert opening == at(NY, 2026, 1, 15, 17, 0)  # 08:00 in Guam
    # Whenever all of the US may be called, every state may be.
    for zones in STATE_ZONES.values():
        if zones <= ALL_US_ZONES:
            assert calling_allowed(opening, zones)


def test_phone_alone_or_state_alone() -> None:
    assert zones_for(None, None, "+12125550123") == {NY}
    assert zones_for("unknown", None, "+13105550123") == {LA}
    assert zones_for("New York", "10001", None) == {NY}
    assert zones_for("ny", None, "garbage") == {NY}


def test_toll_free_phone_rings_anywhere_in_nanp() -> None:
    zones = zones_for("NY", "10001", "+18005550199")
    assert {NY, CHI, DEN, LA, ANC, HNL} <= zones


def test_alaska_area_code_and_state_include_the_aleutians() -> None:
    assert zones_for("AK", "99501", None) == {ANC, ADAK}
    assert {ANC, ADAK} <= zones_for(None, None, "+19075550123")


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ("FL", {NY, CHI}),
        ("TX", {CHI, DEN}),
        ("TN", {NY, CHI}),
        ("KY", {NY, CHI}),
        ("IN", {NY, CHI}),
        ("MI", {NY, CHI}),
        ("ND", {CHI, DEN}),
        ("SD", {CHI, DEN}),
        ("NE", {CHI, DEN}),
        ("KS", {CHI, DEN}),
        ("ID", {DEN, LA}),
        ("OR", {LA, DEN}),
        ("AK", {ANC, ADAK}),
    ],
)
def test_multi_zone_states_list_every_zone(state: str, expected: set[ZoneInfo]) -> None:
    assert zones_for(state, None, None) == expected


@pytest.mark.parametrize(
    ("state", "zip5", "expected"),
    [
        ("FL", "33101", {NY}),  # Miami
        ("FL", "32501", {NY, CHI}),  # Pensacola (ZIP3 kept whole)
        ("FL", "32401", {NY, CHI}),  # Panama City (Gulf County is split)
        ("FL", "10001", {NY, CHI}),  # a New York ZIP: data disagree, state stands
        ("TX", "75201", {CHI}),  # Dallas
        ("TX", "79901", {CHI, DEN}),  # El Paso
        ("AL", "35203", {CHI}),  # Birmingham
        ("AL", "36867", {CHI, NY}),  # Phenix City keeps Eastern
        ("NV", "89101", {LA}),  # Las Vegas
        ("NV", "89883", {LA, DEN}),  # West Wendover
        ("OK", "73102", {CHI}),
        ("OK", "73946", {CHI, DEN}),  # Kenton
        ("TN", "37201", {NY, CHI}),  # not refined
        ("FL", "3310", {NY, CHI}),  # zero-padded to 03310, not a Florida ZIP
    ],
)
def test_zip_refinements(state: str, zip5: str, expected: set[ZoneInfo]) -> None:
    assert zones_for(state, zip5, None) == expected


# --- state rules (opt-in) and windows ------------------------------------------------------


def test_state_rules_are_opt_in_and_never_widen() -> None:
    assert window_for_state("FL") == FEDERAL_WINDOW
    florida = window_for_state("Florida", rules=STATE_CALLING_RULES)
    assert (florida.start, florida.end) == (time(8), time(20))
    assert florida.needs_counsel_review
    assert window_for_state("NY", rules=STATE_CALLING_RULES) == FEDERAL_WINDOW
    assert window_for_state(None, rules=STATE_CALLING_RULES) == FEDERAL_WINDOW
    loose = {"NY": CallingWindow(time(7), time(22), "a typo")}
    ny = window_for_state("NY", rules=loose)
    assert (ny.start, ny.end) == (time(8), time(21))

    miami = zones_for("FL", "33101", None)
    assert calling_allowed(at(NY, 2026, 6, 10, 19, 59, 59), miami, florida)
    assert not calling_allowed(at(NY, 2026, 6, 10, 20, 0), miami, florida)
    assert next_allowed(at(NY, 2026, 6, 10, 20, 0), miami, florida) == at(NY, 2026, 6, 11, 8)


def test_window_validation() -> None:
    with pytest.raises(ValueError, match="before"):
        CallingWindow(time(21), time(8), "overnight")
    with pytest.raises(ValueError, match="naive"):
        CallingWindow(time(8, tzinfo=UTC), time(21), "aware")
    with pytest.raises(ValueError, match="overlap"):
        CallingWindow(time(8), time(9), "a").intersect(CallingWindow(time(10), time(11), "b"))


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="aware"):
        calling_allowed(datetime(2026, 6, 10, 12), {NY})
    with pytest.raises(ValueError, match="empty"):
        calling_allowed(utc(2026, 6, 10, 12), set())
    with pytest.raises(ValueError, match="aware"):
        next_allowed(datetime(2026, 6, 10, 12), {NY})


def test_no_overlap_gives_none() -> None:
    world = {ZoneInfo("Europe/London"), ZoneInfo("Asia/Shanghai"), LA}
    assert next_allowed(utc(2026, 1, 15, 12), world) is None
    assert next_allowed(utc(2026, 7, 15, 12), world) is None


def test_next_allowed_keeps_the_callers_timezone() -> None:
    now = at(LA, 2026, 6, 10, 6, 0)
    result = next_allowed(now, {LA})
    assert result == at(LA, 2026, 6, 10, 8, 0)
    assert result is not None and result.tzinfo is LA


def test_window_opening_inside_a_dst_gap_opens_at_the_jump() -> None:
    # A 02:30 opening does not exist in New York on 2026-03-08; the clock jumps from
    # 01:59:59 EST to 03:00 EDT (07:00Z), and that is when the window opens.
    early = CallingWindow(time(2, 30), time(21), "test")
    assert next_allowed(utc(2026, 3, 8, 5, 0), {NY}, early) == utc(2026, 3, 8, 7, 0)


# --- properties ----------------------------------------------------------------------------

ZONE_NAMES = sorted(
    {z.key for z in ALL_US_ZONES}
    | {
        "America/St_Johns",
        "Europe/London",
        "Asia/Kolkata",
        "Asia/Kathmandu",
        "Asia/Shanghai",
        "Australia/Lord_Howe",
        "Pacific/Chatham",
        "Pacific/Kiritimati",
        "America/Santiago",
    }
)
zone_sets = st.frozensets(st.sampled_from(ZONE_NAMES).map(ZoneInfo), min_size=1, max_size=4)
instants = st.datetimes(
    min_value=datetime(2000, 1, 1),
    max_value=datetime(2037, 12, 31),
    timezones=st.sampled_from([UTC, NY, LA, ZoneInfo("Asia/Kolkata")]),
    allow_imaginary=False,
)


@given(now=instants, zones=zone_sets)
def test_allowed_iff_allowed_in_each_zone(now: datetime, zones: frozenset[ZoneInfo]) -> None:
    assert calling_allowed(now, zones) == all(calling_allowed(now, {z}) for z in zones)


@settings(max_examples=60, deadline=None)
@given(now=instants, zones=zone_sets)
def test_next_allowed_is_the_earliest_allowed_instant(
    now: datetime, zones: frozenset[ZoneInfo]
) -> None:
    result = next_allowed(now, zones)
    # Arithmetic in UTC: an aware datetime plus a timedelta moves its wall clock, not time.
    start = now.astimezone(UTC)
    end = start + LOOKAHEAD if result is None else result.astimezone(UTC)
    probe = start
    while probe < end:
        assert not calling_allowed(probe, zones)
        probe += timedelta(minutes=1)
    if result is not None:
        assert result.tzinfo is now.tzinfo
        assert start <= result < start + LOOKAHEAD
        assert calling_allowed(result, zones)
        if result > now:
            assert not calling_allowed(end - timedelta(seconds=1), zones)
