"""Calling-hours guard for calls and texts (47 CFR 64.1200(c)(1)).

The federal rule: no telephone solicitation before 8 am or after 9 pm *local time at the
called party's location*; texts count as calls. We rarely know where the called party is, so
:func:`zones_for` lists every IANA zone they might be in (the property's state, refined by
ZIP, plus the phone number's area code) and :func:`calling_allowed` requires the window to
hold in **every** one of them. Ambiguity always narrows the window, never widens it: an
Eastern area code with a Pacific property may be called 8 am PT – 6 pm PT only.

Where zones come from:

* **State** (:data:`STATE_ZONES`): every zone in use anywhere in the state or territory,
  including places that keep another zone unofficially (Phenix City, AL keeps Eastern;
  West Wendover and Jackpot, NV keep Mountain; Kenton, OK keeps Mountain), because the rule
  speaks of the local time the called party lives by.
* **ZIP** refines a known state by its first three digits, only where a ZIP3 lies wholly on
  one side of a zone line (:data:`ZIP3_REFINEMENTS`). A ZIP3 that touches two zones keeps
  both; a ZIP that is not one of the state's ZIP3s is ignored (the data disagree, so the
  state's full set stands). Refined states:

  - **AZ**: America/Phoenix (no DST) except the Navajo Nation, which observes DST
    (America/Denver). Its Arizona part lies in ZIP3s 860 and 865, which keep both zones
    (Flagstaff and the Hopi Reservation, also in 860, do not observe DST: the extra zone
    only makes them stricter). Other AZ ZIPs are Phoenix only; AZ without a ZIP keeps both.
  - **FL**: Central time is the western Panhandle (ZIP3 324 Panama City, 325 Pensacola);
    both keep both zones (Gulf County, in 324, is split). Other FL ZIPs are Eastern.
  - **TX**: Mountain time is El Paso and Hudspeth counties (ZIP3 798, 799, 885); those keep
    both zones. Other TX ZIPs are Central.
  - **AL** 368, **NV** 898, **OK** 739: the unofficial observances above keep both zones;
    the rest of each state has one.

  Not refined (a zone line runs through ZIP3 areas, or we could not check it reliably):
  AK, ID, IN, KS, KY, MI, ND, NE, OR, SD, TN. They keep every zone they use.
* **Phone**: ``phonenumbers.timezone`` by area code. It lists where a number *may* ring:
  a toll-free number gives every NANP zone, which is the most restrictive answer, and it is
  kept. Area codes are not addresses (numbers are ported and carried across the country),
  which is why the phone adds to the property's zones instead of replacing them. Its data
  are one zone per area code in places a zone line splits an area code (850 is listed
  Eastern, though Pensacola is Central): the property state covers those when known.
* **Unknown**: no usable state and no usable phone gives :data:`ALL_US_ZONES` (50 states,
  DC and the inhabited territories), a window of about three hours a day (roughly
  5–8 pm Eastern in winter): correct, and an incentive to fix the data.

Stricter state rules (:data:`STATE_CALLING_RULES`) are opt-in through
:func:`window_for_state`; each is marked for review by counsel (reliability checklist §5:
re-check the legal section live before launch). Day-of-week and holiday rules (e.g. Texas
Sundays) are not modelled.

Every function takes the instant as an aware ``datetime`` (an injected clock), so tests and
the scheduler decide what "now" is.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from types import MappingProxyType
from typing import Final
from zoneinfo import ZoneInfo

import phonenumbers
from phonenumbers import timezone as phone_timezone

from equity_connect.normalize.address import normalize_state, normalize_zip5

__all__ = [
    "ALL_US_ZONES",
    "FEDERAL_WINDOW",
    "LOOKAHEAD",
    "STATE_CALLING_RULES",
    "STATE_ZONES",
    "ZIP3_REFINEMENTS",
    "CallingWindow",
    "ZipRefinement",
    "calling_allowed",
    "next_allowed",
    "window_for_state",
    "zones_for",
]

#: How far :func:`next_allowed` looks. Any non-empty intersection of daily windows recurs
#: within a day; the second day covers a DST change moving a window out of the first.
LOOKAHEAD: Final = timedelta(hours=48)


# --- windows -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CallingWindow:
    """Local wall-clock hours ``[start, end)`` in which calls and texts are allowed.

    Attributes:
        start: first allowed local time (inclusive).
        end: first forbidden local time (exclusive); must be after ``start`` (no overnight
            windows: no calling rule has one).
        source: the rule's citation, for audit logs.
        needs_counsel_review: True for rules we could not verify against the current text.
    """

    start: time
    end: time
    source: str
    needs_counsel_review: bool = False

    def __post_init__(self) -> None:
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("window times are local wall-clock times (naive)")
        if not self.start < self.end:
            raise ValueError("window start must be before its end")

    def contains(self, local: time) -> bool:
        """Whether a local wall-clock time is inside the window."""
        return self.start <= local.replace(tzinfo=None) < self.end

    def intersect(self, other: CallingWindow) -> CallingWindow:
        """The hours both windows allow (e.g. property state and phone state rules)."""
        if self == other:
            return self
        start, end = max(self.start, other.start), min(self.end, other.end)
        if not start < end:
            raise ValueError("the windows do not overlap")
        review = self.needs_counsel_review or other.needs_counsel_review
        return CallingWindow(start, end, f"{self.source}; {other.source}", review)


#: 47 CFR 64.1200(c)(1): 8 am to 9 pm at the called party's location.
FEDERAL_WINDOW: Final = CallingWindow(time(8), time(21), "47 CFR 64.1200(c)(1)")

_REVIEW: Final = "VERIFY WITH COUNSEL"

#: State rules stricter than the federal window, as we understand them. None is verified
#: against the current statute text (stored copies only; checklist §5), so all are marked
#: for review and none applies unless a caller passes this table (opt-in).
STATE_CALLING_RULES: Final[Mapping[str, CallingWindow]] = MappingProxyType(
    {
        # Florida Telephone Solicitation Act, Fla. Stat. 501.616(6)(a), as amended 2021.
        "FL": CallingWindow(time(8), time(20), f"Fla. Stat. 501.616(6) (FTSA); {_REVIEW}", True),
        # Oklahoma Telephone Solicitation Act of 2022, 15 O.S. 775C.4.
        "OK": CallingWindow(time(8), time(20), f"15 O.S. 775C.4; {_REVIEW}", True),
        # Maryland Stop the Spam Calls Act of 2023.
        "MD": CallingWindow(time(8), time(20), f"MD Stop the Spam Calls Act; {_REVIEW}", True),
        # Washington, RCW 80.36.390.
        "WA": CallingWindow(time(8), time(20), f"RCW 80.36.390; {_REVIEW}", True),
        # Connecticut, Conn. Gen. Stat. 42-288a as amended in 2023 (9 am start).
        "CT": CallingWindow(time(9), time(20), f"Conn. Gen. Stat. 42-288a; {_REVIEW}", True),
    }
)


def window_for_state(
    state: str | None, *, rules: Mapping[str, CallingWindow] | None = None
) -> CallingWindow:
    """The calling window for a recipient in ``state`` (code or name).

    Without ``rules`` this is always :data:`FEDERAL_WINDOW`. Pass
    :data:`STATE_CALLING_RULES` (or a table counsel approved) to apply state rules; a rule
    is intersected with the federal window, so a looser or mistyped entry cannot widen it.
    For a recipient tied to two states (property and phone), intersect both windows.
    """
    code = normalize_state(state)
    rule = None if rules is None or code is None else rules.get(code)
    return FEDERAL_WINDOW if rule is None else FEDERAL_WINDOW.intersect(rule)


# --- zones -----------------------------------------------------------------------------------

_EASTERN: Final = ZoneInfo("America/New_York")
_CENTRAL: Final = ZoneInfo("America/Chicago")
_MOUNTAIN: Final = ZoneInfo("America/Denver")
_ARIZONA: Final = ZoneInfo("America/Phoenix")
_PACIFIC: Final = ZoneInfo("America/Los_Angeles")
_ALASKA: Final = ZoneInfo("America/Anchorage")
_ALEUTIAN: Final = ZoneInfo("America/Adak")  # Aleutians west of 169°30'W
_HAWAII: Final = ZoneInfo("Pacific/Honolulu")
_ATLANTIC: Final = ZoneInfo("America/Puerto_Rico")
_VIRGIN_ISLANDS: Final = ZoneInfo("America/St_Thomas")
_CHAMORRO_GU: Final = ZoneInfo("Pacific/Guam")
_CHAMORRO_MP: Final = ZoneInfo("Pacific/Saipan")
_SAMOA: Final = ZoneInfo("Pacific/Pago_Pago")


def _zones(*zones: ZoneInfo) -> frozenset[ZoneInfo]:
    return frozenset(zones)


# Sub-state zones (America/Indiana/*, America/Kentucky/*, America/Boise, America/Detroit,
# America/Menominee, America/North_Dakota/*, America/Juneau...) keep the same clocks as
# the representative zone since 2007, so one zone per clock is enough.
_CONTIGUOUS: Final[dict[str, frozenset[ZoneInfo]]] = {
    "AL": _zones(_CENTRAL, _EASTERN),  # Phenix City area keeps Eastern (unofficial)
    "AR": _zones(_CENTRAL),
    "AZ": _zones(_ARIZONA, _MOUNTAIN),  # Navajo Nation observes DST
    "CA": _zones(_PACIFIC),
    "CO": _zones(_MOUNTAIN),
    "CT": _zones(_EASTERN),
    "DC": _zones(_EASTERN),
    "DE": _zones(_EASTERN),
    "FL": _zones(_EASTERN, _CENTRAL),
    "GA": _zones(_EASTERN),
    "IA": _zones(_CENTRAL),
    "ID": _zones(_MOUNTAIN, _PACIFIC),
    "IL": _zones(_CENTRAL),
    "IN": _zones(_EASTERN, _CENTRAL),
    "KS": _zones(_CENTRAL, _MOUNTAIN),
    "KY": _zones(_EASTERN, _CENTRAL),
    "LA": _zones(_CENTRAL),
    "MA": _zones(_EASTERN),
    "MD": _zones(_EASTERN),
    "ME": _zones(_EASTERN),
    "MI": _zones(_EASTERN, _CENTRAL),
    "MN": _zones(_CENTRAL),
    "MO": _zones(_CENTRAL),
    "MS": _zones(_CENTRAL),
    "MT": _zones(_MOUNTAIN),
    "NC": _zones(_EASTERN),
    "ND": _zones(_CENTRAL, _MOUNTAIN),
    "NE": _zones(_CENTRAL, _MOUNTAIN),
    "NH": _zones(_EASTERN),
    "NJ": _zones(_EASTERN),
    "NM": _zones(_MOUNTAIN),
    "NV": _zones(_PACIFIC, _MOUNTAIN),  # West Wendover, Jackpot keep Mountain
    "NY": _zones(_EASTERN),
    "OH": _zones(_EASTERN),
    "OK": _zones(_CENTRAL, _MOUNTAIN),  # Kenton keeps Mountain (unofficial)
    "OR": _zones(_PACIFIC, _MOUNTAIN),
    "PA": _zones(_EASTERN),
    "RI": _zones(_EASTERN),
    "SC": _zones(_EASTERN),
    "SD": _zones(_CENTRAL, _MOUNTAIN),
    "TN": _zones(_EASTERN, _CENTRAL),
    "TX": _zones(_CENTRAL, _MOUNTAIN),
    "UT": _zones(_MOUNTAIN),
    "VA": _zones(_EASTERN),
    "VT": _zones(_EASTERN),
    "WA": _zones(_PACIFIC),
    "WI": _zones(_CENTRAL),
    "WV": _zones(_EASTERN),
    "WY": _zones(_MOUNTAIN),
}
_NONCONTIGUOUS: Final[dict[str, frozenset[ZoneInfo]]] = {
    "AK": _zones(_ALASKA, _ALEUTIAN),
    "HI": _zones(_HAWAII),
    "PR": _zones(_ATLANTIC),
    "VI": _zones(_VIRGIN_ISLANDS),
    "GU": _zones(_CHAMORRO_GU),
    "MP": _zones(_CHAMORRO_MP),
    "AS": _zones(_SAMOA),
}
# USPS codes of the freely associated states. Not part of "all US zones": a lead with no
# location is not presumed to be in Micronesia. UM (no residents) and the military codes
# AA/AE/AP say nothing about local time and count as unknown.
_ASSOCIATED: Final[dict[str, frozenset[ZoneInfo]]] = {
    "FM": _zones(
        ZoneInfo("Pacific/Chuuk"), ZoneInfo("Pacific/Pohnpei"), ZoneInfo("Pacific/Kosrae")
    ),
    "MH": _zones(ZoneInfo("Pacific/Majuro"), ZoneInfo("Pacific/Kwajalein")),
    "PW": _zones(ZoneInfo("Pacific/Palau")),
}

#: USPS state/territory code -> every zone in use there (see the module docstring).
STATE_ZONES: Final[Mapping[str, frozenset[ZoneInfo]]] = MappingProxyType(
    {**_CONTIGUOUS, **_NONCONTIGUOUS, **_ASSOCIATED}
)

#: The candidate set when nothing is known: every zone of the 50 states, DC and the
#: inhabited territories.
ALL_US_ZONES: Final[frozenset[ZoneInfo]] = frozenset[ZoneInfo]().union(
    *_CONTIGUOUS.values(), *_NONCONTIGUOUS.values()
)


@dataclass(frozen=True)
class ZipRefinement:
    """How ZIP3 narrows one state's zones.

    Attributes:
        state_zip3: the state's ZIP3 ranges (inclusive); other ZIPs are ignored.
        split: ZIP3s that touch more than one zone -> their zones.
        rest: the zones of the state's other ZIP3s.
    """

    state_zip3: tuple[tuple[int, int], ...]
    split: Mapping[str, frozenset[ZoneInfo]]
    rest: frozenset[ZoneInfo]

    def zones(self, zip5: str) -> frozenset[ZoneInfo] | None:
        """The zones for a ZIP of this state, or None when the ZIP is not the state's."""
        zip3 = zip5[:3]
        if not any(lo <= int(zip3) <= hi for lo, hi in self.state_zip3):
            return None
        return self.split.get(zip3, self.rest)


#: State code -> its ZIP3 refinement (the module docstring gives the sources).
ZIP3_REFINEMENTS: Final[Mapping[str, ZipRefinement]] = MappingProxyType(
    {
        "AZ": ZipRefinement(
            ((850, 865),),
            {"860": _zones(_ARIZONA, _MOUNTAIN), "865": _zones(_ARIZONA, _MOUNTAIN)},
            _zones(_ARIZONA),
        ),
        "FL": ZipRefinement(
            ((320, 339), (341, 349)),  # 340 is the military AA range
            {"324": _zones(_EASTERN, _CENTRAL), "325": _zones(_EASTERN, _CENTRAL)},
            _zones(_EASTERN),
        ),
        "TX": ZipRefinement(
            ((733, 733), (750, 799), (885, 885)),
            {
                "798": _zones(_CENTRAL, _MOUNTAIN),
                "799": _zones(_CENTRAL, _MOUNTAIN),
                "885": _zones(_CENTRAL, _MOUNTAIN),
            },
            _zones(_CENTRAL),
        ),
        "AL": ZipRefinement(((350, 369),), {"368": _zones(_CENTRAL, _EASTERN)}, _zones(_CENTRAL)),
        "NV": ZipRefinement(((889, 898),), {"898": _zones(_PACIFIC, _MOUNTAIN)}, _zones(_PACIFIC)),
        "OK": ZipRefinement(
            ((730, 731), (734, 749)), {"739": _zones(_CENTRAL, _MOUNTAIN)}, _zones(_CENTRAL)
        ),
    }
)

# phonenumbers' placeholder for "no idea"; it is not an IANA zone.
_UNKNOWN_ZONE: Final = "Etc/Unknown"


def _state_zones(state: str | None, zip5: str | None) -> frozenset[ZoneInfo]:
    code = normalize_state(state)
    zones = STATE_ZONES.get(code) if code is not None else None
    if zones is None or code is None:
        return frozenset()
    refinement = ZIP3_REFINEMENTS.get(code)
    zip_code = normalize_zip5(zip5)
    if refinement is None or zip_code is None:
        return zones
    refined = refinement.zones(zip_code)
    return zones if refined is None else refined


def _phone_zones(phone: str | None) -> frozenset[ZoneInfo]:
    if phone is None or not phone.strip():
        return frozenset()
    try:
        number = phonenumbers.parse(phone, "US")
    except phonenumbers.NumberParseException:
        return frozenset()
    if phonenumbers.is_valid_number(number):
        names = phone_timezone.time_zones_for_number(number)
    elif phonenumbers.is_possible_number(number):
        # A number phonenumbers' metadata calls invalid (an exchange it does not list yet)
        # still has an area code that places it; the geographic lookup reads just that.
        names = phone_timezone.time_zones_for_geographical_number(number)
    else:
        return frozenset()
    # An unresolvable name raises ZoneInfoNotFoundError: the guard fails closed (no call).
    return frozenset(ZoneInfo(name) for name in names if name != _UNKNOWN_ZONE)


def zones_for(state: str | None, zip5: str | None, phone_e164: str | None) -> frozenset[ZoneInfo]:
    """Every IANA zone the called party might be in; never empty.

    The union of the property's zones (``state`` code or name, refined by ``zip5``) and the
    phone's area-code zones. When neither gives a zone (unknown or missing state, missing or
    unparseable phone), :data:`ALL_US_ZONES`: the most restrictive answer.
    """
    zones = _state_zones(state, zip5) | _phone_zones(phone_e164)
    return zones or ALL_US_ZONES


# --- the guard -----------------------------------------------------------------------------


def _check(now: datetime, zones: Iterable[ZoneInfo]) -> tuple[ZoneInfo, ...]:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    candidates = tuple(zones)
    if not candidates:
        # An empty set would allow everything vacuously; it is a caller bug, not "anywhere".
        raise ValueError("zones must not be empty (use zones_for)")
    return candidates


def _allowed(now: datetime, zones: tuple[ZoneInfo, ...], window: CallingWindow) -> bool:
    return all(window.contains(now.astimezone(zone).time()) for zone in zones)


def calling_allowed(
    now: datetime, zones: Iterable[ZoneInfo], window: CallingWindow = FEDERAL_WINDOW
) -> bool:
    """Whether a call or text at ``now`` (aware) is inside ``window`` in every zone.

    Raises:
        ValueError: ``now`` is naive, or ``zones`` is empty.
    """
    return _allowed(now, _check(now, zones), window)


def _offset(instant: int, zone: ZoneInfo) -> timedelta | None:
    return datetime.fromtimestamp(instant, zone).utcoffset()


def _transitions(zone: ZoneInfo, start: datetime, end: datetime) -> list[datetime]:
    """Instants in ``[start, end]`` where the zone's UTC offset changes (to the second)."""
    found: list[datetime] = []
    step = 3600  # zones change offset at most a few times a year, never twice in an hour
    lo = int(start.timestamp())
    stop = int(end.timestamp()) + step
    while lo < stop:
        hi = lo + step
        if _offset(lo, zone) != _offset(hi, zone):
            a, b = lo, hi  # offset(a) differs from offset(b); find the first second of b's
            while b - a > 1:
                mid = (a + b) // 2
                if _offset(mid, zone) == _offset(lo, zone):
                    a = mid
                else:
                    b = mid
            found.append(datetime.fromtimestamp(b, UTC))
        lo = hi
    return found


def _openings(zone: ZoneInfo, first: date, last: date, opens: time) -> list[datetime]:
    """Instants at which the local clock reads ``opens`` (both of an ambiguous hour)."""
    found: list[datetime] = []
    day = first
    while day <= last:
        wall = datetime.combine(day, opens)
        for fold in (0, 1):
            instant = wall.replace(tzinfo=zone, fold=fold).astimezone(UTC)
            # A wall time inside a DST gap never happens; the transition opens the window.
            if instant.astimezone(zone).replace(tzinfo=None) == wall:
                found.append(instant)
        day += timedelta(days=1)
    return found


def next_allowed(
    now: datetime, zones: Iterable[ZoneInfo], window: CallingWindow = FEDERAL_WINDOW
) -> datetime | None:
    """The earliest instant at or after ``now`` when :func:`calling_allowed` holds.

    Returned in ``now``'s timezone. None when the zones' windows have no common instant
    within :data:`LOOKAHEAD` (48 h): then they never overlap (zones spread round the globe,
    e.g. London, Shanghai and Los Angeles), and the lead cannot be called under this window.

    Exact to the second: the allowed set can only begin at ``now``, at an instant when some
    zone's clock reads ``window.start``, or at a UTC offset change (a DST jump over the
    opening, or a fall-back into the window); each such instant is checked in order.

    Raises:
        ValueError: ``now`` is naive, or ``zones`` is empty.
    """
    candidates_zones = _check(now, zones)
    if _allowed(now, candidates_zones, window):
        return now
    # In UTC: adding to an aware local datetime moves its wall clock, which is 1 h off
    # across a DST change.
    limit = now.astimezone(UTC) + LOOKAHEAD
    events: set[datetime] = set()
    for zone in candidates_zones:
        first = now.astimezone(zone).date() - timedelta(days=1)
        last = limit.astimezone(zone).date() + timedelta(days=1)
        events.update(_openings(zone, first, last, window.start))
        events.update(_transitions(zone, now, limit))
    for instant in sorted(events):
        if now < instant < limit and _allowed(instant, candidates_zones, window):
            return instant.astimezone(now.tzinfo)
    return None
