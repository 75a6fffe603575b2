"""US street addresses to USPS Publication 28 form, and the address dedupe hash.

Two parsers sit behind :func:`normalize_address`:

* a table-driven fast path for the shape nearly every vendor row has,
  ``NUMBER [PREDIR] NAME... SUFFIX [POSTDIR] [DESIGNATOR ID | # ID]``. It is a few
  ``str`` operations and dict lookups per row (hundreds of thousands of rows/s), where
  ``usaddress-scourgify`` (a CRF tagger) manages about ten thousand.
* ``usaddress-scourgify`` for everything the fast path declines. The fast path declines
  rather than guesses: PO boxes, rural routes, highways (``HWY 1``), numbered streets
  (``1ST``/``FIRST``), fractional (``123 1/2``) or hyphenated (``12-34``) house numbers, no
  house number, no recognised suffix, non-ASCII text, anything left over after the unit.
  The declined rows carry ``needs_fallback=True`` and a ``reason``.

Unit designators: Pub 28 keeps the designator (``APT 4``, ``STE 200``, ``# 4``) and so does
:attr:`NormalizedAddress.unit_designator` and :attr:`NormalizedAddress.delivery_line`. For
dedupe, ``APT``, ``UNIT``, ``STE`` and ``#`` are interchangeable in vendor files (``Apt 4``,
``#4``, ``Unit 4`` and ``, Apt. 4`` are one home), so :attr:`NormalizedAddress.unit_key`, and
hence :func:`addr_hash`, keeps only the identifier for those. Other designators (``BLDG``,
``FL``, ``LOT``, ...) stay in the key: ``BLDG 4`` is not ``APT 4``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Final, Literal

from scourgify import normalize_address_record

from equity_connect.normalize.usps_tables import (
    BOX_WORDS,
    DIRECTIONALS,
    HIGHWAY_WORDS,
    INTERCHANGEABLE_UNIT_DESIGNATORS,
    ORDINAL_WORDS,
    RURAL_ROUTE_WORDS,
    STATE_CODES,
    STATE_NAMES,
    STREET_SUFFIXES,
    UNIT_DESIGNATORS,
    UNIT_DESIGNATORS_NO_ID,
)

__all__ = [
    "AddressMethod",
    "NormalizedAddress",
    "addr_hash",
    "normalize_address",
    "normalize_addresses",
    "normalize_city",
    "normalize_state",
    "normalize_street_fast",
    "normalize_zip5",
    "parse_address",
]

#: How a result was produced: the fast path, scourgify, or (both declined) only cleaned:
#: uppercased with Pub 28 punctuation rules, words left as written.
AddressMethod = Literal["fast", "scourgify", "cleaned"]

# Bumped whenever the canonical form changes, so old and new hashes can never collide.
_HASH_VERSION: Final = "addr-v1"
_SEP: Final = "\x1f"

_DECIMAL_POINT: Final = re.compile(r"\d\.\d")
_ZIP_PLUS4: Final = re.compile(r"(\d{5})(?:[- ]?\d{4})?", re.ASCII)
_ZIP_SHORT: Final = re.compile(r"\d{3,4}", re.ASCII)
_FRACTION: Final = re.compile(r"\d+/\d+", re.ASCII)

_FALLBACK_CACHE_SIZE: Final = 65_536


@dataclass(frozen=True, slots=True)
class NormalizedAddress:
    """A US address in USPS Pub 28 form.

    ``street_line`` is the primary line without the unit (``123 N MAIN ST``); ``unit`` is
    the secondary identifier alone (``4``) and ``unit_designator`` its Pub 28 designator
    (``APT``, ``#``, ``BLDG``...). ``zip5`` keeps leading zeros.
    """

    street_line: str
    unit: str | None
    unit_designator: str | None
    city: str | None
    state: str | None
    zip5: str
    method: AddressMethod = "fast"
    #: Why the fast path declined this address (None when it did not).
    reason: str | None = None

    @property
    def needs_fallback(self) -> bool:
        """The fast path could not parse it confidently (``reason`` says why)."""
        return self.method != "fast"

    @property
    def unit_key(self) -> str | None:
        """The unit as it takes part in dedupe (see the module docstring)."""
        designator = self.unit_designator
        if self.unit is None:
            return designator
        if designator is None or designator in INTERCHANGEABLE_UNIT_DESIGNATORS:
            return self.unit
        return f"{designator} {self.unit}"

    @property
    def secondary_line(self) -> str | None:
        """The Pub 28 secondary address (``APT 4``, ``# 4``, ``REAR``), or None."""
        if self.unit is None:
            return self.unit_designator
        return f"{self.unit_designator or '#'} {self.unit}"

    @property
    def delivery_line(self) -> str:
        """The full Pub 28 delivery address line, e.g. ``123 N MAIN ST APT 4``."""
        secondary = self.secondary_line
        return self.street_line if secondary is None else f"{self.street_line} {secondary}"


def addr_hash(addr: NormalizedAddress) -> bytes:
    """SHA-256 over street line, unit key and ZIP5: the address dedupe key.

    City and state are left out: ZIP5 already places the address, and vendors misspell or
    abbreviate cities (``LOS ANGELES``/``LA``), which would split one home into two.
    """
    parts: tuple[str, ...]
    if not addr.zip5:
        # Placed without a ZIP (place_without_zip): city and state stand in
        # for it. Another namespace, so it never equals a ZIP-placed hash.
        parts = (
            _HASH_VERSION,
            addr.street_line,
            addr.unit_key or "",
            "",
            addr.city or "",
            addr.state or "",
        )
    else:
        parts = (_HASH_VERSION, addr.street_line, addr.unit_key or "", addr.zip5)
    return hashlib.sha256(_SEP.join(parts).encode("utf-8")).digest()


def place_without_zip(
    street: str | None, city: str | None, state: str | None
) -> NormalizedAddress | None:
    """A property address with street, city and state but no ZIP (``zip5 == ""``).

    Vendor lists often drop the ZIP; street + city + state still place the
    property, so it becomes its identity instead of the row being refused.
    None when the street, the city or the state is missing.
    """
    city_n, state_n = _city_cached(city), _state_cached(state)
    if not city_n or not state_n:
        return None
    # parse_address needs a ZIP to place an address; a stand-in lets the
    # street be normalized exactly as every other row's, then it is dropped.
    parsed, _ = parse_address(street, city, state, "00000")
    if parsed is None:
        return None
    return dataclasses.replace(parsed, zip5="")


# --- fast path -----------------------------------------------------------------------------


def _clean_upper(raw: str) -> str:
    """Uppercase and apply Pub 28 punctuation rules, keeping ``#`` as its own token."""
    s = raw.upper()
    # A period between digits is a decimal point ("12.5"); removing it would change the
    # number, so such input keeps its period and the fast path declines it later.
    if "." in s and _DECIMAL_POINT.search(s) is None:
        s = s.replace(".", "")
    if "'" in s:
        s = s.replace("'", "")
    return s.replace(",", " ").replace("#", " # ")


def _is_unit_id(token: str) -> bool:
    # A bare word after a designator ("UNIT ST") is more likely a street part than a unit,
    # so identifiers must hold a digit or be a single letter.
    return token.isalnum() and (len(token) == 1 or not token.isalpha())


def _split_unit(tokens: list[str]) -> tuple[int, str | None, str | None] | None:
    """``(end, designator, unit)`` with ``tokens[:end]`` the street part; None if unclear."""
    n = len(tokens)
    last = tokens[-1]
    designator = UNIT_DESIGNATORS.get(tokens[-2])
    if designator is None:
        if last in UNIT_DESIGNATORS or last in UNIT_DESIGNATORS_NO_ID:
            return None  # "... APT" without an identifier, or "REAR": leave to the parser
        return n, None, None
    if not _is_unit_id(last):
        return None
    if designator == "#" and n > 3:
        # "APT # 4" / "Apt #4": the "#" only introduces the identifier.
        outer = UNIT_DESIGNATORS.get(tokens[-3])
        if outer == "#":
            return None
        if outer is not None:
            return n - 3, outer, last
    return n - 2, designator, last


def _street_line(tokens: list[str], end: int) -> str | None:
    """Pub 28 form of ``tokens[:end]`` = ``NUMBER PREDIR? NAME... SUFFIX POSTDIR?``."""
    if end < 3:
        return None
    postdir = None
    last_index = end - 1
    word = tokens[last_index]
    if end >= 4 and word in DIRECTIONALS and tokens[last_index - 1] in STREET_SUFFIXES:
        postdir = DIRECTIONALS[word]
        last_index -= 1
        word = tokens[last_index]
    suffix = STREET_SUFFIXES.get(word)
    if suffix is None:
        return None

    first = 1
    predir = None
    # A directional is a prefix only if a name follows it: in "123 NORTH ST" it is the name.
    if last_index >= 3:
        predir = DIRECTIONALS.get(tokens[1])
        if predir is not None:
            if tokens[2] in DIRECTIONALS:
                # "N W MAIN" (NW, or a street named W?), "NORTH WEST FLDS" (usaddress keeps
                # NORTH long here): ambiguous, so the parser decides.
                return None
            first = 2
    name = tokens[first:last_index]
    if predir is None and len(name) == 1 and name[0] in DIRECTIONALS:
        # "NORTH TRAIL": usaddress reads this as predirectional + name, "NORTH ST" as a
        # street named North; with no rule to tell them apart, leave both to the parser.
        return None
    for part in name:
        if not part.isalpha() or part in ORDINAL_WORDS or part in HIGHWAY_WORDS:
            return None

    parts = [tokens[0]]
    if predir is not None:
        parts.append(predir)
    parts.extend(name)
    parts.append(suffix)
    if postdir is not None:
        parts.append(postdir)
    return " ".join(parts)


def _parse_tokens(tokens: list[str]) -> tuple[str, str | None, str | None] | None:
    """``(street_line, unit_designator, unit)`` for the common shape, else None."""
    if len(tokens) < 3 or not tokens[0].isdigit():
        return None
    unit = _split_unit(tokens)
    if unit is None:
        return None
    end, designator, ident = unit
    line = _street_line(tokens, end)
    if line is None:
        return None
    return line, designator, ident


def _leading_reason(tokens: list[str]) -> str | None:
    first = tokens[0]
    second = tokens[1] if len(tokens) > 1 else ""
    if first in BOX_WORDS or (first == "P" and second == "O"):
        return "po_box"
    if first in RURAL_ROUTE_WORDS:
        return "rural_route"
    if not first.isdigit():
        if "-" in first and first.replace("-", "").isalnum():
            return "hyphenated_number"
        if "." in first:
            return "decimal_number"
        return "no_house_number"
    return None


def _decline_reason(tokens: list[str]) -> str:
    """Why the fast path declined; only computed for declined rows, so it can be thorough."""
    if not tokens:
        return "empty"
    leading = _leading_reason(tokens)
    if leading is not None:
        return leading
    rest = tokens[1:]
    # Drop a trailing "APT 9B" / "APT # 9B" so "9B" does not read as a numbered street.
    if len(rest) >= 2 and rest[-2] in UNIT_DESIGNATORS:
        if not _is_unit_id(rest[-1]):
            return "unit_unparsed"
        rest = rest[:-2]
        if rest and rest[-1] in UNIT_DESIGNATORS:
            rest = rest[:-1]
    checks = (
        ("fractional_number", lambda t: _FRACTION.fullmatch(t) is not None),
        ("highway", lambda t: t in HIGHWAY_WORDS),
        ("numbered_street", lambda t: t in ORDINAL_WORDS or (t[0].isdigit() and t[-1].isalpha())),
        ("unexpected_char", lambda t: not (t.isalnum() or t == "#")),
    )
    for reason, applies in checks:
        if any(applies(t) for t in rest):
            return reason
    tail = rest[-1] if rest else ""
    if "#" in rest or tail in UNIT_DESIGNATORS or tail in UNIT_DESIGNATORS_NO_ID:
        return "unit_unparsed"
    if not any(t in STREET_SUFFIXES for t in rest):
        return "no_suffix"
    if any(t in DIRECTIONALS for t in rest):
        return "ambiguous_directional"
    return "unrecognized_shape"


def normalize_street_fast(street: str) -> tuple[str, str | None, str | None] | str:
    """Fast path alone: ``(street_line, unit_designator, unit)``, or the reason it declined."""
    cleaned = _clean_upper(street)
    if not cleaned.isascii():
        return "non_ascii"
    tokens = cleaned.split()
    parsed = _parse_tokens(tokens)
    if parsed is None:
        return _decline_reason(tokens)
    return parsed


# --- other fields --------------------------------------------------------------------------


def normalize_zip5(raw: str | None) -> str | None:
    """ZIP, ZIP+4 (``90001-1234``, ``900011234``) -> ``90001``; None if not a ZIP.

    Three- and four-digit values are zero-padded: they are ZIPs whose leading zeros a
    spreadsheet dropped (``2134`` for ``02134``), the only way a US ZIP gets that short.
    """
    if raw is None:
        return None
    z = raw.strip()
    if len(z) == 5 and z.isdigit() and z.isascii():
        return z
    match = _ZIP_PLUS4.fullmatch(z)
    if match is not None:
        return match.group(1)
    if _ZIP_SHORT.fullmatch(z) is not None:
        return z.zfill(5)
    return None


def normalize_state(raw: str | None) -> str | None:
    """Two-letter USPS code from a code or full name (``ca``, ``California`` -> ``CA``)."""
    if raw is None:
        return None
    s = raw.strip().upper()
    if s in STATE_CODES:
        return s
    s = " ".join(s.replace(".", "").split())
    if s in STATE_CODES:
        return s
    return STATE_NAMES.get(s)


def normalize_city(raw: str | None) -> str | None:
    """Uppercase, periods dropped, spacing collapsed (``St. Louis`` -> ``ST LOUIS``)."""
    if raw is None:
        return None
    city = " ".join(raw.upper().replace(".", "").replace(",", " ").split())
    return city or None


# Vendor files repeat a few thousand city and state spellings across a million rows.
_city_cached: Final = lru_cache(maxsize=16_384)(normalize_city)
_state_cached: Final = lru_cache(maxsize=1_024)(normalize_state)


# --- fallback ------------------------------------------------------------------------------


def _split_secondary(line2: str | None) -> tuple[str | None, str | None]:
    """scourgify's line 2 (``APT 4``, ``# 4``, ``APT # 4``, ``REAR``) -> (designator, id)."""
    if not line2:
        return None, None
    tokens = line2.split()
    designator = UNIT_DESIGNATORS.get(tokens[0]) or UNIT_DESIGNATORS_NO_ID.get(tokens[0])
    if designator is not None:
        tokens = tokens[1:]
    if len(tokens) > 1 and designator in (None, "UNIT", "#") and tokens[0] in UNIT_DESIGNATORS:
        # usaddress misses some C2 words and scourgify then files "SPC A" as "UNIT SPC A".
        designator = UNIT_DESIGNATORS[tokens[0]]
        tokens = tokens[1:]
    ident = " ".join(t for t in tokens if t != "#") or None
    if ident is not None and ident in UNIT_DESIGNATORS_NO_ID and designator in (None, "UNIT", "#"):
        # scourgify files a bare "REAR" as "UNIT REAR"; Pub 28 has it as a designator alone.
        return UNIT_DESIGNATORS_NO_ID[ident], None
    if designator is None and ident is not None:
        designator = "#"
    return designator, ident


@lru_cache(maxsize=_FALLBACK_CACHE_SIZE)
def _scourgify(
    street: str, city: str | None, state: str | None, zip5: str
) -> tuple[str, str | None, str | None] | str:
    record = {
        "address_line_1": street,
        "address_line_2": None,
        "city": city,
        "state": state,
        "postal_code": zip5,
    }
    try:
        result = normalize_address_record(record, strict=False)
    # scourgify raises its own errors for unparseable input but also lets usaddress and
    # plain Python errors (KeyError, IndexError, ...) escape on odd strings; any of them
    # means "could not parse", which the caller turns into a cleaned result plus a reason.
    except Exception as exc:
        return f"scourgify: {type(exc).__name__}"
    line1 = result.get("address_line_1")
    if not isinstance(line1, str) or not line1:
        return "scourgify: empty line 1"
    designator, unit = _split_secondary(result.get("address_line_2"))
    return line1, designator, unit


# --- public entry points -------------------------------------------------------------------


def parse_address(
    street: str | None,
    city: str | None,
    state: str | None,
    zip_code: str | None,
    *,
    fallback: bool = True,
) -> tuple[NormalizedAddress | None, str | None]:
    """Normalize one address; ``(address, reason)``.

    ``address`` is None when the row has no street or no usable ZIP (the dedupe key needs
    both); ``reason`` then says which. Otherwise ``reason`` is None for a fast-path result,
    or the fast path's reason for declining. With ``fallback=False`` declined rows are not
    sent to scourgify but returned cleaned (``method="cleaned"``, ``needs_fallback=True``),
    for callers that batch the slow path elsewhere.
    """
    if street is None or not street.strip():
        return None, "empty_street"
    zip5 = normalize_zip5(zip_code)
    if zip5 is None:
        return None, "missing_zip" if zip_code is None or not zip_code.strip() else "invalid_zip"
    city_n = _city_cached(city)
    state_n = _state_cached(state)

    cleaned = _clean_upper(street)
    tokens = cleaned.split()
    parsed = _parse_tokens(tokens) if cleaned.isascii() else None
    if parsed is not None:
        line, designator, unit = parsed
        return NormalizedAddress(line, unit, designator, city_n, state_n, zip5), None

    reason = _decline_reason(tokens) if cleaned.isascii() else "non_ascii"
    if fallback:
        # scourgify deletes tabs and other control characters instead of treating them as
        # spaces ("1\tMAIN\tST" -> "1MAINST"), so it gets the whitespace already collapsed.
        slow = _scourgify(" ".join(street.split()), city_n, state_n, zip5)
        if not isinstance(slow, str):
            line, designator, unit = slow
            address = NormalizedAddress(
                line, unit, designator, city_n, state_n, zip5, "scourgify", reason
            )
            return address, reason
        reason = f"{reason}; {slow}"
    line = " ".join(tokens)
    address = NormalizedAddress(line, None, None, city_n, state_n, zip5, "cleaned", reason)
    return address, reason


def normalize_address(
    street: str | None,
    city: str | None,
    state: str | None,
    zip_code: str | None,
    *,
    fallback: bool = True,
) -> NormalizedAddress | None:
    """Normalize one address to Pub 28 form; None without a street or a usable ZIP."""
    return parse_address(street, city, state, zip_code, fallback=fallback)[0]


def normalize_addresses(
    rows: Iterable[tuple[str | None, str | None, str | None, str | None]],
    *,
    fallback: bool = True,
) -> list[NormalizedAddress | None]:
    """:func:`normalize_address` over ``(street, city, state, zip)`` rows."""
    return [parse_address(s, c, st, z, fallback=fallback)[0] for s, c, st, z in rows]
