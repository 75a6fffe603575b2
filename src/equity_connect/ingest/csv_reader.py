"""Streaming reader for vendor property-owner CSV uploads.

The upload arrives as an iterable of raw byte chunks of any size, possibly
hundreds of MB. :func:`iter_csv_records` turns it into one typed result per
data row: a :class:`CsvRecord` for a good row or a :class:`CsvReject` for a
bad one, so that ``upload_rows`` can account for every data row. Problems
with the file as a whole raise :class:`CsvFileError`.

Policies (reliability checklist section 6):

* **Encoding.** UTF-8, a leading BOM dropped. A line that is not UTF-8 is
  read as cp1252 (what Excel's plain "CSV" writes on Windows), with Latin-1
  for the five bytes cp1252 leaves undefined, so ``Jos\\xe9`` is ``José``,
  never mojibake and never a reject; the position counts such lines
  (``cp1252_lines``) so the report can name the encoding. A file opening
  with a UTF-16 byte-order mark (Excel's "Unicode Text") is decoded from
  UTF-16 while streaming; NUL bytes in the header (UTF-16 without a mark)
  refuse the file with "re-save it as CSV UTF-8".
* **Delimiter.** Read from the header line: comma, tab, semicolon or pipe,
  whichever occurs outside quotes; if several do, the one that makes a
  usable header, and if that does not decide, the file is refused with a
  sentence naming them.
* **NUL bytes.** The row is rejected (PostgreSQL text cannot hold NUL).
* **Every line is accounted for.** A record that runs past its first line
  inside a quote that never closes properly (a stray ``"Unclosed``) is
  damage: csv would swallow the lines after it into one field. Such a
  record fails one of these ways: the quote closes before a stray
  character; the field outgrows the csv module's own
  ``csv.field_size_limit()`` (131,072 characters by default; this module
  never changes that process-wide setting); the record outgrows
  ``max_row_bytes``; the input ends inside it; or it closes leaving the
  wrong number of fields. Then only its first line is rejected,
  ``unmatched quote starting at line N``, and reading resumes on line
  N + 1, as if that line started the file. Legitimate multi-line quoted
  fields that parse to a full record are kept as they are. (Reading a
  damaged record's lines twice costs at most the distance to the next
  quote in the file.)
* **Memory.** Only one input chunk and the record being parsed are held at
  a time (plus one line when a chunk ends mid-line, capped at
  ``max_row_bytes``, and the lines of a multi-line record, kept to be read
  again if it turns out damaged). A field over ``max_field_bytes`` rejects
  its row, naming the field.
* **Blank rows** (empty lines, or only delimiters and whitespace) are data
  rows rejected as ``blank row``; blank lines before the header are skipped.
* **Values.** Every text value is stripped; empty becomes ``None``. Email,
  phone, address, names, APN and MAK are passed through unchanged otherwise
  (normalizing them is another module's job). Reject reasons never quote a
  value except for the numeric columns, whose offending value is quoted and
  cut to 40 characters.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import itertools
import re
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import _csv

__all__ = [
    "CANONICAL_FIELDS",
    "HEADER_ALIASES",
    "US_STATES",
    "CsvFileError",
    "CsvRecord",
    "CsvReject",
    "iter_csv_records",
    "normalize_header_name",
]

#: Canonical column names, in the order of :class:`CsvRecord`'s value fields.
#: ``property_zip4`` is derived from ``property_zip`` and is not a column.
CANONICAL_FIELDS: tuple[str, ...] = (
    "mak",
    "apn",
    "county_fips",
    "owner_first_name",
    "owner_last_name",
    "property_address",
    "property_city",
    "property_state",
    "property_zip",
    "email",
    "phone",
    "estimated_value",
    "estimated_equity",
    "owner_age",
    "year_built",
    "source",
)

_ALIAS_SOURCE: dict[str, tuple[str, ...]] = {
    "mak": ("melissa_address_key", "address_key", "melissa_mak"),
    "apn": (
        "parcel_number",
        "apn_number",
        "parcel_id",
        "parcel",
        "parcel_no",
        "parcel_num",
        "assessor_parcel_number",
    ),
    "county_fips": ("fips", "county_fips_code", "fips_code", "fips_county"),
    "owner_first_name": (
        "first_name",
        "firstname",
        "owner_first",
        "owner_firstname",
        "owner1_first_name",
        "owner_1_first_name",
        "owner1_first",
    ),
    "owner_last_name": (
        "last_name",
        "lastname",
        "surname",
        "owner_last",
        "owner_lastname",
        "owner1_last_name",
        "owner_1_last_name",
        "owner1_last",
    ),
    "property_address": (
        "address",
        "street",
        "street_address",
        "site_address",
        "situs_address",
        "situs_street_address",
        "property_street",
        "property_street_address",
        "property_address1",
        "property_address_1",
        "prop_address",
    ),
    "property_city": ("city", "site_city", "situs_city", "prop_city", "property_city_name"),
    "property_state": ("state", "state_code", "site_state", "situs_state", "prop_state"),
    "property_zip": (
        "zip",
        "zipcode",
        "zip_code",
        "zip5",
        "postal_code",
        "postcode",
        "property_zip_code",
        "property_zipcode",
        "site_zip",
        "situs_zip",
        "prop_zip",
    ),
    "email": ("email_address", "e_mail", "e_mail_address", "email1", "email_1", "primary_email"),
    "phone": (
        "phone_number",
        "phone1",
        "phone_1",
        "mobile",
        "mobile_phone",
        "cell",
        "cell_phone",
        "telephone",
        "primary_phone",
    ),
    "estimated_value": (
        "avm",
        "estimated_market_value",
        "market_value",
        "est_value",
        "estimated_home_value",
    ),
    "estimated_equity": ("equity", "est_equity", "equity_amount", "estimated_equity_amount"),
    "owner_age": ("age", "owner1_age", "owner_1_age"),
    "year_built": ("yr_built", "yearbuilt", "built_year"),
    "source": ("lead_source",),
}

#: Normalized vendor header name -> canonical field name. Keys are the output
#: of :func:`normalize_header_name`; every canonical name maps to itself.
#: Mailing-address columns (``mailing_zip`` ...) are deliberately absent: they
#: describe where the owner gets mail, not the property, and land in ``extra``.
HEADER_ALIASES: dict[str, str] = {
    alias: canonical
    for canonical, aliases in _ALIAS_SOURCE.items()
    for alias in (canonical, *aliases)
}

#: USPS two-letter codes accepted for ``property_state``: the states, DC, the
#: territories and the freely associated states. Military codes (AA, AE, AP)
#: are left out on purpose: they are mail routes, never a property location.
US_STATES: dict[str, str] = {
    "AL": "Alabama",
    "AK": "Alaska",
    "AZ": "Arizona",
    "AR": "Arkansas",
    "CA": "California",
    "CO": "Colorado",
    "CT": "Connecticut",
    "DE": "Delaware",
    "DC": "District of Columbia",
    "FL": "Florida",
    "GA": "Georgia",
    "HI": "Hawaii",
    "ID": "Idaho",
    "IL": "Illinois",
    "IN": "Indiana",
    "IA": "Iowa",
    "KS": "Kansas",
    "KY": "Kentucky",
    "LA": "Louisiana",
    "ME": "Maine",
    "MD": "Maryland",
    "MA": "Massachusetts",
    "MI": "Michigan",
    "MN": "Minnesota",
    "MS": "Mississippi",
    "MO": "Missouri",
    "MT": "Montana",
    "NE": "Nebraska",
    "NV": "Nevada",
    "NH": "New Hampshire",
    "NJ": "New Jersey",
    "NM": "New Mexico",
    "NY": "New York",
    "NC": "North Carolina",
    "ND": "North Dakota",
    "OH": "Ohio",
    "OK": "Oklahoma",
    "OR": "Oregon",
    "PA": "Pennsylvania",
    "RI": "Rhode Island",
    "SC": "South Carolina",
    "SD": "South Dakota",
    "TN": "Tennessee",
    "TX": "Texas",
    "UT": "Utah",
    "VT": "Vermont",
    "VA": "Virginia",
    "WA": "Washington",
    "WV": "West Virginia",
    "WI": "Wisconsin",
    "WY": "Wyoming",
    "AS": "American Samoa",
    "GU": "Guam",
    "MP": "Northern Mariana Islands",
    "PR": "Puerto Rico",
    "VI": "U.S. Virgin Islands",
    "FM": "Federated States of Micronesia",
    "MH": "Marshall Islands",
    "PW": "Palau",
}


def _state_key(text: str) -> str:
    """Lookup key for a state code or name: lower case, no dots, single spaces."""
    return " ".join(text.replace(".", " ").split()).lower().replace("d c", "dc")


# Codes in any case and full names (plus a few common variants) -> code.
_STATE_LOOKUP: dict[str, str] = {code: code for code in US_STATES}
_STATE_LOOKUP.update({_state_key(code): code for code in US_STATES})
_STATE_LOOKUP.update({_state_key(name): code for code, name in US_STATES.items()})
_STATE_LOOKUP.update(
    {
        _state_key(variant): code
        for variant, code in (
            ("Washington DC", "DC"),
            ("Washington, DC", "DC"),
            ("Virgin Islands", "VI"),
            ("US Virgin Islands", "VI"),
            ("United States Virgin Islands", "VI"),
            ("Micronesia", "FM"),
            ("Commonwealth of Puerto Rico", "PR"),
        )
    }
)

# States whose ZIP codes start with 0 (006-009 PR/VI, 010-069 New England,
# 070-089 NJ): a 4-digit ZIP there is a 0xxxx ZIP whose zero Excel dropped.
_ZERO_ZIP_STATES = frozenset({"CT", "MA", "ME", "NH", "NJ", "RI", "VT", "PR", "VI"})

_REQUIRED_MESSAGE = "property_address and (property_zip or property_city + property_state)"

# Past this many digits a "money" value is a shifted column or garbage, and
# it also keeps int() far from its 4300-digit guard.
_MAX_AMOUNT_DIGITS = 12
_QUOTE_LIMIT = 40


# Not slots=True: a frozen slotted dataclass can only be filled through
# object.__setattr__ per field (about 2 us for 20 fields, a third of the whole
# per-row budget), while a __dict__ instance can be filled in one step; see
# _make_converter.
@dataclass(frozen=True)
class CsvRecord:
    """One valid data row, with canonical, typed values.

    ``row_number`` is the 1-based data-row number (the header is not a data
    row; blank rows count); ``line_number`` is the 1-based physical line on
    which the row starts (a quoted field may span lines). Text values are
    stripped and ``None`` when empty. ``property_zip`` is the 5-digit ZIP
    and ``property_zip4`` the +4 part when the file had one. Unknown columns
    are kept in ``extra`` under their normalized header names, empty values
    omitted.
    """

    row_number: int
    line_number: int
    mak: str | None
    apn: str | None
    county_fips: str | None
    owner_first_name: str | None
    owner_last_name: str | None
    property_address: str
    property_city: str | None
    property_state: str | None
    property_zip: str | None
    property_zip4: str | None
    email: str | None
    phone: str | None
    estimated_value: int | None
    estimated_equity: int | None
    owner_age: int | None
    year_built: int | None
    source: str | None
    extra: dict[str, str] = field(default_factory=dict, hash=False)


@dataclass(frozen=True, slots=True)
class CsvReject:
    """One data row that could not be used, and why.

    ``field`` is the canonical (or ``extra``) column at fault, or ``None``
    when the fault is the row itself. ``reason`` never contains a PII value.
    ``raw`` maps column names to the row's raw values for the reject table
    (``None`` when the row could not be split into fields); NUL appears as
    ``\\x00``. ``eof_in_quote`` marks an unmatched quote that
    was still open at the end of the input: in a staging block (a slice of
    the upload) that means the cut fell inside a quoted field.
    """

    row_number: int
    line_number: int
    field: str | None
    reason: str
    raw: dict[str, str] | None = None
    eof_in_quote: bool = False


class CsvFileError(Exception):
    """The upload as a whole is unusable (or over a cap); no further rows follow.

    Raised for an empty file, a header without the required columns, duplicate
    columns, an unreadable header, or more data rows than ``max_row_count``.
    ``line_number`` is the physical line at fault (0 for an empty file).
    """

    def __init__(self, line_number: int, reason: str) -> None:
        super().__init__(f"line {line_number}: {reason}")
        self.line_number = line_number
        self.reason = reason

    def __reduce__(self) -> tuple[type[CsvFileError], tuple[int, str]]:
        # Raised in staging worker processes and pickled back to the parent.
        return type(self), (self.line_number, self.reason)


class _FieldError(Exception):
    """A value failed validation; caught per row and turned into a CsvReject."""

    def __init__(self, field_name: str, reason: str) -> None:
        super().__init__(field_name, reason)
        self.field_name = field_name
        self.reason = reason


class ReadPosition:
    """How far the reader is: state shared between the line source and the row loop.

    ``csv.reader`` pulls lines one at a time and never reads ahead, so when
    the line source runs, every line it handed out has been consumed and
    ``rec_line`` (kept by the row loop) tells whether a record is in progress.
    For the same reason, right after a row result is yielded, ``end_offset``
    (public) is the input byte offset where that row's record ends: a place
    where the input can be cut between records.

    Resynchronizing after a damaged record (see the module docstring) needs
    the lines of the record in progress after its first one (``cont``); the
    row loop moves them to ``replay`` to have them read again.
    """

    __slots__ = (
        "cont",
        "cp1252_lines",
        "delimiter",
        "end_offset",
        "last_text",
        "problems",
        "rec_line",
        "rec_start",
        "replay",
        "runaway",
        "transcoded_from",
        "utf8_lines",
    )

    def __init__(self) -> None:
        self.rec_line = 1  # physical line on which the record being parsed starts
        self.rec_start = 0  # input byte offset at which that record starts
        self.end_offset = 0  # input byte offset just past the last line handed out
        # (line number, reason) of lines with NUL / over-long, in line order;
        # popped by the row loop.
        self.problems: deque[tuple[int, str]] = deque()
        # (line number, text, start offset, end offset) of the lines handed
        # out since the first line of the record in progress.
        self.cont: list[tuple[int, str, int, int]] = []
        self.replay: deque[tuple[int, str, int, int]] = deque()  # lines to hand out again
        self.runaway = False  # the record in progress outgrew max_row_bytes
        self.last_text = ""  # the last line handed out (to name an over-long field)
        self.delimiter = ","  # as detected from the header line (public)
        self.cp1252_lines = 0  # lines that were not UTF-8, decoded as cp1252 (public)
        self.utf8_lines = 0  # lines with non-ASCII UTF-8 (public)
        self.transcoded_from: str | None = None  # utf-16-le / utf-16-be (public)


#: cp1252, with Latin-1 for the five bytes cp1252 leaves undefined (0x81,
#: 0x8D, 0x8F, 0x90, 0x9D): every byte decodes, as Excel and Windows read it.
_CP1252_TABLE = "".join(bytes([b]).decode("cp1252", errors="ignore") or chr(b) for b in range(256))

# Handed to csv in place of a line when the record in progress outgrew
# max_row_bytes. The record is inside a quoted field (that is the only way
# a record continues onto another line), so the quote closes it and the
# "!" makes the strict reader fail on it at once: the row loop then rejects
# the record and has its lines read again.
_POISON = '"!\n'


def _line_end(chunk: bytes) -> tuple[int, bool]:
    """Index just past the first line terminator in `chunk`, or -1 if none.

    The flag says the chunk ended with ``\\r``: the line has ended, but a
    ``\\n`` opening the next chunk still belongs to it.
    """
    lf = chunk.find(b"\n")
    cr = chunk.find(b"\r", 0, lf if lf >= 0 else len(chunk))
    if cr < 0:
        return (lf + 1 if lf >= 0 else -1), False
    if cr + 1 == len(chunk):
        return -1, True
    return (cr + 2 if chunk[cr + 1] == 0x0A else cr + 1), False


def _replayed(st: ReadPosition, max_row_bytes: int) -> Iterator[str]:
    """The lines in ``st.replay``, handed out again as :func:`_iter_lines` would.

    Abandoned (with its line left in the queue) when it hands out the
    poison line: the row loop then starts a new replay.
    """
    replay = st.replay
    cont = st.cont
    while replay:
        entry = replay[0]
        lineno, text, _, end = entry
        if st.rec_line < lineno:  # continues the record in progress
            if end - st.rec_start > max_row_bytes:
                st.runaway = True
                yield _POISON
                continue  # (not reached: see the docstring)
            cont.append(entry)
        else:
            cont.clear()
        replay.popleft()
        st.end_offset = end
        st.last_text = text
        yield text


def _iter_lines(  # noqa: PLR0912, PLR0915 - one hot loop, kept flat for speed
    chunks: Iterable[bytes], st: ReadPosition, max_row_bytes: int
) -> Iterator[str]:
    """Split a byte stream into decoded physical lines (``\\n``, ``\\r\\n``, ``\\r``).

    Splitting happens on bytes, before decoding: CR and LF never occur inside
    a multi-byte UTF-8 sequence, so every line is a whole number of
    characters whatever the chunking, and decoding line by line confines a
    line that is not UTF-8 to itself: it is read as cp1252 (counted in
    ``st.cp1252_lines``), the lines around it stay UTF-8. ``bytes.splitlines``
    breaks on exactly the three terminators csv understands; ``str``'s would
    also break on form feeds and U+2028 inside fields.

    Problems are recorded in ``st.problems`` rather than raised, so the row
    loop can reject just the row that contains the line. A record that
    grows past ``max_row_bytes`` gets the poison line instead of its next
    line, which is handed out afresh once the row loop has resynchronized.
    """
    pending = bytearray()  # an incomplete line (or a trailing \r) awaiting more input
    skipping = False  # dropping the rest of an over-long line, up to its terminator
    skip_cr = False  # ...which was a \r at the end of a chunk: a \n may follow
    offset = 0  # input offset of the next line to hand out (the start of `pending`)
    lineno = 0  # lines handed out so far (replays aside)
    first = True
    problems = st.problems
    cont = st.cont
    too_long = f"row longer than {max_row_bytes} bytes"
    table = _CP1252_TABLE

    long_line = csv.field_size_limit()  # characters; a line is at least as many bytes

    def decode(line: bytes, number: int) -> str:
        """The hot loop's decoding, for the lines of a multi-line record."""
        if b"\x00" in line:
            problems.append((number, "NUL byte"))
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            st.cp1252_lines += 1
            return codecs.charmap_decode(line, "strict", table)[0]
        if not text.isascii():
            st.utf8_lines += 1
        return text

    def runaway(size: int) -> Iterator[str]:
        """Poison lines while the record in progress plus `size` bytes is too long."""
        while st.rec_line <= lineno and offset + size - st.rec_start > max_row_bytes:
            st.runaway = True
            yield _POISON

    # None marks the end of input, so the last unterminated line goes through
    # the same code as every other line.
    for chunk in itertools.chain(chunks, (None,)):
        if chunk is None:
            if skipping:
                lineno += 1
                st.end_offset = offset
                yield "\n"  # stands in for the dropped line so line numbers stay true
                return
            if not pending:
                return
            buf = bytes(pending)
            pending.clear()
        elif not chunk:
            continue
        else:
            if skipping:
                if skip_cr:  # the dropped line's \r ended the previous chunk
                    cut, skip_cr = (1 if chunk[0] == 0x0A else 0), False
                else:
                    cut, skip_cr = _line_end(chunk)
                if cut < 0:
                    offset += len(chunk)
                    continue
                offset += cut
                chunk = chunk[cut:]  # noqa: PLW2901 - the rest starts a fresh line
                skipping = False
                lineno += 1
                st.end_offset = offset
                yield "\n"
                if not chunk:
                    continue
            if pending:
                ends_cr = pending[-1] == 0x0D
                pending += chunk
                if not ends_cr and b"\n" not in chunk and b"\r" not in chunk:
                    # Still inside one long line: don't re-split it per chunk.
                    if st.rec_line <= lineno:
                        yield from runaway(len(pending))
                    if st.rec_line > lineno and len(pending) > max_row_bytes:
                        problems.append((lineno + 1, too_long))
                        offset += len(pending)
                        pending.clear()
                        skipping = True
                    continue
                buf = bytes(pending)
                pending.clear()
            elif first and len(chunk) < 3:
                pending += chunk  # too short to tell whether it starts with a BOM
                continue
            else:
                buf = chunk
        if first:
            first = False
            if buf.startswith(b"\xef\xbb\xbf"):
                buf = buf[3:]
                offset = 3
                if not buf:
                    continue
        has_nul = b"\x00" in buf
        high = not buf.isascii()
        lines = buf.splitlines(True)
        if chunk is not None and lines[-1][-1] != 0x0A:
            # No terminator yet, or a \r whose \n may start the next chunk.
            pending += lines.pop()
        for line in lines:
            size = len(line)
            if st.rec_line <= lineno:  # the line continues a record (rare: kept apart)
                if offset + size - st.rec_start > max_row_bytes:
                    yield from runaway(size)  # the row loop resynchronizes
                if st.rec_line <= lineno:
                    lineno += 1
                    text = decode(line, lineno)
                    offset += size
                    st.end_offset = offset
                    cont.append((lineno, text, offset - size, offset))
                    yield text
                    continue
            if size > max_row_bytes:
                problems.append((lineno + 1, too_long))
                lineno += 1
                offset += size
                st.end_offset = offset
                yield "\n"
                continue
            if cont:
                cont.clear()
            lineno += 1
            if has_nul and b"\x00" in line:
                problems.append((lineno, "NUL byte"))
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError:
                text = codecs.charmap_decode(line, "strict", table)[0]
                st.cp1252_lines += 1
            else:
                if high and not text.isascii():
                    st.utf8_lines += 1
            offset += size
            st.end_offset = offset
            if size > long_line:  # only such a line can hold a field over csv's limit
                st.last_text = text
            yield text
        if pending:
            if st.rec_line <= lineno:
                yield from runaway(len(pending))
            if st.rec_line > lineno and len(pending) > max_row_bytes:
                problems.append((lineno + 1, too_long))
                offset += len(pending)
                pending.clear()
                skipping = True


def normalize_header_name(name: str) -> str:
    """Normalize a header cell: drop BOMs, trim, lower-case, and turn runs of
    spaces, dashes, dots and underscores into one ``_`` (``" Zip-Code "`` ->
    ``zip_code``). The result is the key into :data:`HEADER_ALIASES`."""
    cleaned = name.replace("\ufeff", "").lower()
    for sep in "-._":
        cleaned = cleaned.replace(sep, " ")
    return "_".join(cleaned.split())


@dataclass(frozen=True, slots=True)
class _Layout:
    """How the header's columns map onto CsvRecord."""

    keys: tuple[str, ...]  # per column: canonical name or extra key
    index: dict[str, int]  # canonical name -> column index
    extra: tuple[tuple[str, int], ...]  # (extra key, column index)


def _map_header(header: list[str], line_number: int) -> _Layout:
    """Map header cells to canonical fields; raise CsvFileError when unusable."""
    keys: list[str] = []
    index: dict[str, int] = {}
    sources: dict[str, list[str]] = {}
    extra: list[tuple[str, int]] = []
    for i, cell in enumerate(header):
        norm = normalize_header_name(cell)
        canonical = HEADER_ALIASES.get(norm)
        if canonical is not None:
            sources.setdefault(canonical, []).append(cell.strip())
            index.setdefault(canonical, i)
            keys.append(canonical)
        else:
            keys.append(norm)  # made unique below, once every canonical name is known
            extra.append((norm, i))
    dupes = {name: cells for name, cells in sources.items() if len(cells) > 1}
    if dupes:
        detail = "; ".join(
            f"{name} from " + ", ".join(repr(c[:_QUOTE_LIMIT]) for c in cells)
            for name, cells in dupes.items()
        )
        raise CsvFileError(line_number, f"duplicate columns: {detail}")
    missing: list[str] = []
    if "property_address" not in index:
        missing.append("property_address")
    if "property_zip" not in index and not ("property_city" in index and "property_state" in index):
        if "property_city" in index:
            missing.append("property_zip or property_state")
        elif "property_state" in index:
            missing.append("property_zip or property_city")
        else:
            missing.append("property_zip or property_city + property_state")
    if missing:
        raise CsvFileError(
            line_number,
            f"missing required columns: {', '.join(missing)} (need {_REQUIRED_MESSAGE})",
        )
    # Unknown columns: unnamed ones become column_N (1-based), repeats get _2, _3...
    taken = set(index)
    unique_extra: list[tuple[str, int]] = []
    for norm, i in extra:
        key = norm or f"column_{i + 1}"
        candidate, n = key, 1
        while candidate in taken:
            n += 1
            candidate = f"{key}_{n}"
        taken.add(candidate)
        keys[i] = candidate
        unique_extra.append((candidate, i))
    return _Layout(tuple(keys), index, tuple(unique_extra))


def _quote(value: str) -> str:
    # Reasons are stored in clear (upload_rows.reason), and a misaligned
    # column can put a phone number or an email in a numeric field: describe
    # the value, never quote it. The row's cells are kept encrypted anyway.
    kind = (
        "empty"
        if not value.strip()
        else ("has letters" if any(c.isalpha() for c in value) else "no letters")
    )
    return f"({len(value)} characters, {kind})"


def _digits(text: str) -> bool:
    """ASCII digits only (str.isdigit alone also accepts '²' and Arabic-Indic digits)."""
    return text.isdigit() and text.isascii()


def _parse_amount(value: str, name: str, *, allow_negative: bool) -> int:
    """Whole dollars from ``1234567``, ``$1,234,567``, ``1234567.00``, ``-5``, ``(5)``.

    Cents round half up. Commas must be proper thousands groups, so a
    European ``12,34`` is refused rather than read as 1234.
    """
    text = value
    negative = False
    if text.startswith("(") and text.endswith(")"):
        negative, text = True, text[1:-1].strip()  # accounting-style negative
    if text.startswith("-"):
        negative, text = not negative, text[1:].strip()
    if text.startswith("$"):
        text = text[1:].strip()
    if text.startswith("-"):  # "$-1,000"
        negative, text = not negative, text[1:].strip()
    whole, dot, frac = text.partition(".")
    if "," in whole:
        groups = whole.split(",")
        if not (1 <= len(groups[0]) <= 3 and all(len(g) == 3 for g in groups[1:])):
            raise _FieldError(name, f"not a number: {_quote(value)}")
        whole = "".join(groups)
    if not _digits(whole) or (dot and frac and not _digits(frac)):
        raise _FieldError(name, f"not a number: {_quote(value)}")
    if len(whole.lstrip("0")) > _MAX_AMOUNT_DIGITS:
        raise _FieldError(name, f"out of range: {_quote(value)}")
    amount = int(whole) + (1 if frac and frac[0] >= "5" else 0)
    if negative and amount:
        if not allow_negative:
            raise _FieldError(name, f"negative: {_quote(value)}")
        amount = -amount
    return amount


def _parse_whole(value: str, name: str, low: int, high: int) -> int:
    """A whole number in [low, high]; ``72.0`` (a spreadsheet float) is accepted."""
    whole, dot, frac = value.partition(".")
    if not _digits(whole) or (dot and frac.strip("0")):
        raise _FieldError(name, f"not a whole number: {_quote(value)}")
    if len(whole) > 6 or not low <= int(whole) <= high:
        raise _FieldError(name, f"out of range {low}-{high}: {_quote(value)}")
    return int(whole)


def _parse_zip(value: str, state: str | None) -> tuple[str, str | None]:
    """(zip5, zip4) from ``12345``, ``12345-6789``, ``12345 6789`` or ``123456789``.

    A 4-digit ZIP (or 8 digits for ZIP+4) is one whose leading zero a
    spreadsheet dropped; it is padded back when the row's state is one whose
    ZIPs start with 0, or when the row has no state. With any other state it
    is rejected: padding would invent a ZIP in the wrong part of the country.
    """
    digits = value.replace("-", "").replace(" ", "")
    if not _digits(digits) or len(digits) not in (4, 5, 8, 9):
        raise _FieldError("property_zip", "not a ZIP code (expected 5 or 9 digits)")
    if len(digits) in (4, 8):
        if state is not None and state not in _ZERO_ZIP_STATES:
            raise _FieldError(
                "property_zip", "ZIP lost its leading zero but the state's ZIPs don't start with 0"
            )
        digits = "0" + digits
    zip5 = digits[:5]
    if zip5 == "00000":
        raise _FieldError("property_zip", "not a ZIP code (00000)")
    return zip5, (digits[5:] or None)


def _parse_fips(value: str) -> str:
    """A 5-digit county FIPS code; 4 digits get back the zero a spreadsheet dropped."""
    if _digits(value) and len(value) == 4:
        return "0" + value
    raise _FieldError("county_fips", "not a 5-digit county FIPS code")


def _parse_state(value: str) -> str:
    """USPS code from a code in any case or a full name (``California`` -> ``CA``)."""
    code = _STATE_LOOKUP.get(_state_key(value))
    if code is None:
        raise _FieldError("property_state", "not a US state, DC or territory code or name")
    return code


def _clean_raw(value: str) -> str:
    """Make a rejected value storable as PostgreSQL text: bad bytes -> \\xNN, NUL -> \\x00."""
    if value.isascii():
        return value.replace("\x00", "\\x00")
    return (
        value.encode("utf-8", "surrogateescape")
        .decode("utf-8", "backslashreplace")
        .replace("\x00", "\\x00")
    )


def _raw(keys: tuple[str, ...], row: list[str], *, clean: bool = False) -> dict[str, str]:
    """The row's raw values by column key; fields past the header become column_N."""
    names = [keys[i] if i < len(keys) else f"column_{i + 1}" for i in range(len(row))]
    if clean:
        return {k: _clean_raw(v) for k, v in zip(names, row, strict=True)}
    return dict(zip(names, row, strict=True))


def _has_bad_char(text: str) -> bool:
    """Whether a field holds NUL or a byte that was not UTF-8 (as a lone surrogate)."""
    return "\x00" in text or any("\udc80" <= ch <= "\udcff" for ch in text)


def _make_converter(  # noqa: PLR0915 - straight-line per-column code
    layout: _Layout,
) -> Callable[[list[str], int, int], CsvRecord | None]:
    """Build the per-row validator for one header layout.

    The column indexes are bound once as closure variables: this runs once
    per row, so it avoids per-row dict lookups, attribute access and regexes.
    The returned function raises :class:`_FieldError` for the first bad value
    and returns ``None`` for a blank row (every field empty or whitespace).
    """
    absent = len(layout.keys)  # each row gets a trailing "" so a missing column reads as empty
    col = layout.index
    i_mak = col.get("mak", absent)
    i_apn = col.get("apn", absent)
    i_fips = col.get("county_fips", absent)
    i_first = col.get("owner_first_name", absent)
    i_last = col.get("owner_last_name", absent)
    i_addr = col["property_address"]
    i_city = col.get("property_city", absent)
    i_state = col.get("property_state", absent)
    i_zip = col.get("property_zip", absent)
    i_email = col.get("email", absent)
    i_phone = col.get("phone", absent)
    i_value = col.get("estimated_value", absent)
    i_equity = col.get("estimated_equity", absent)
    i_age = col.get("owner_age", absent)
    i_year = col.get("year_built", absent)
    i_source = col.get("source", absent)
    extra_cols = layout.extra
    max_year = dt.date.today().year + 1
    max_year_text = str(max_year)
    states = _STATE_LOOKUP
    complete = len(col) == len(CANONICAL_FIELDS)  # no index points at the padding
    new_record = CsvRecord.__new__
    set_attr = object.__setattr__

    def convert(fields: list[str], row_number: int, line_number: int) -> CsvRecord | None:
        row = fields if complete else [*fields, ""]
        address = row[i_addr].strip()
        if not address:
            if not any(v.strip() for v in fields):
                return None
            raise _FieldError("property_address", "missing")
        fips: str | None = row[i_fips].strip()
        if not fips:
            fips = None
        elif len(fips) != 5 or not (fips.isdigit() and fips.isascii()):
            fips = _parse_fips(fips)
        city = row[i_city].strip() or None
        state: str | None = row[i_state].strip()
        # Fast path: an exact "CA"; names and odd case go through _parse_state.
        state = (states.get(state) or _parse_state(state)) if state else None
        zip5: str | None = row[i_zip].strip()
        zip4 = None
        if not zip5:
            zip5 = None
            if city is None or state is None:
                raise _FieldError("property_zip", "missing (and no property_city + property_state)")
        elif len(zip5) != 5 or not (zip5.isdigit() and zip5.isascii()) or zip5 == "00000":
            zip5, zip4 = _parse_zip(zip5, state)
        text = row[i_value].strip()
        value = (
            None
            if not text
            else int(text)
            if len(text) <= _MAX_AMOUNT_DIGITS and (text.isdigit() and text.isascii())
            else _parse_amount(text, "estimated_value", allow_negative=False)
        )
        text = row[i_equity].strip()
        equity = (
            None
            if not text
            else int(text)
            if len(text) <= _MAX_AMOUNT_DIGITS and (text.isdigit() and text.isascii())
            else _parse_amount(text, "estimated_equity", allow_negative=True)
        )
        text = row[i_age].strip()
        age = (
            None
            if not text
            else int(text)
            if len(text) <= 2 and (text.isdigit() and text.isascii())
            else _parse_whole(text, "owner_age", 0, 130)
        )
        text = row[i_year].strip()
        year = (
            None
            if not text.strip("0")  # 0 / 0000 is the vendors' "unknown", not a bad row
            else int(text)
            if len(text) == 4
            and (text.isdigit() and text.isascii())
            and "1600" <= text <= max_year_text
            else _parse_whole(text, "year_built", 1600, max_year)
        )
        # Equivalent to CsvRecord(...) (a test checks it), without the frozen
        # __init__'s twenty object.__setattr__ calls.
        record = new_record(CsvRecord)
        set_attr(
            record,
            "__dict__",
            {
                "row_number": row_number,
                "line_number": line_number,
                "mak": row[i_mak].strip() or None,
                "apn": row[i_apn].strip() or None,
                "county_fips": fips,
                "owner_first_name": row[i_first].strip() or None,
                "owner_last_name": row[i_last].strip() or None,
                "property_address": address,
                "property_city": city,
                "property_state": state,
                "property_zip": zip5,
                "property_zip4": zip4,
                "email": row[i_email].strip() or None,
                "phone": row[i_phone].strip() or None,
                "estimated_value": value,
                "estimated_equity": equity,
                "owner_age": age,
                "year_built": year,
                "source": row[i_source].strip() or None,
                # (a comprehension costs a frame even over nothing)
                "extra": {k: v for k, i in extra_cols if (v := row[i].strip())}
                if extra_cols
                else {},
            },
        )
        return record

    return convert


def iter_csv_records(
    chunks: Iterable[bytes],
    *,
    max_field_bytes: int = 131072,
    max_row_count: int | None = None,
    max_row_bytes: int | None = None,
    position: ReadPosition | None = None,
) -> Iterator[CsvRecord | CsvReject]:
    """Stream an uploaded CSV as one :class:`CsvRecord` or :class:`CsvReject` per data row.

    ``chunks`` is the raw upload in byte chunks of any size; it is consumed
    lazily and never held whole. Row results come out in file order, one per
    data row, ``row_number`` 1, 2, 3..., and every physical line after the
    header belongs to exactly one of them: a damaged record (an unmatched
    quote) is rejected on its first line alone and reading resumes on the
    next line (see the module docstring).

    ``max_field_bytes`` caps one field (bytes, UTF-8); a longer field rejects
    its row. ``max_row_bytes`` (default ``16 * max_field_bytes``) caps one
    row: a longer single line is skipped and rejected, a multi-line record
    that grows past it is an unmatched quote. ``max_row_count`` caps the data
    rows: row ``max_row_count + 1`` raises :class:`CsvFileError`.

    :class:`CsvFileError` is raised from the iterator (not from this call)
    for an empty file, an unusable header, a delimiter that cannot be told,
    or the row cap; the caller should then discard the upload. A header with
    no data rows yields nothing.

    ``position``, if given, is kept up to date as the input is read; its
    ``delimiter``, ``cp1252_lines`` and ``utf8_lines`` describe the file.
    """
    if max_field_bytes < 1:
        raise ValueError("max_field_bytes must be positive")
    if max_row_count is not None and max_row_count < 0:
        raise ValueError("max_row_count must not be negative")
    row_bytes = 16 * max_field_bytes if max_row_bytes is None else max_row_bytes
    if row_bytes < 1:
        raise ValueError("max_row_bytes must be positive")
    return _records(chunks, max_field_bytes, max_row_count, row_bytes, position or ReadPosition())


#: Delimiters a vendor file may use, and how a message names them.
DELIMITER_NAMES: dict[str, str] = {",": "comma", "\t": "tab", ";": "semicolon", "|": "pipe"}
_SNIFF_BYTES = 1 << 20
_QUOTED = re.compile(r'"[^"]*"')


def _header_line(chunks: Iterable[bytes]) -> tuple[str | None, int, Iterator[bytes]]:
    """(first non-blank line, its line number, all of ``chunks`` again).

    Reads ahead only to the end of that line (at most ``_SNIFF_BYTES``);
    None when there is none in that much input.
    """
    it = iter(chunks)
    buf = b""
    while True:
        chunk = next(it, None)
        if chunk is not None:
            buf += chunk
            if b"\n" not in chunk and b"\r" not in chunk and len(buf) <= _SNIFF_BYTES:
                continue  # no line has ended in it
        lines = buf.removeprefix(b"\xef\xbb\xbf").splitlines(True)
        for number, line in enumerate(lines, start=1):
            if not line.strip(b" \t\r\n,;|"):
                continue
            if line.endswith((b"\n", b"\r")) or chunk is None:
                try:
                    text = line.decode("utf-8")
                except UnicodeDecodeError:
                    text = codecs.charmap_decode(line, "strict", _CP1252_TABLE)[0]
                return text.rstrip("\r\n"), number, itertools.chain([buf], it)
            break
        if chunk is None or len(buf) > _SNIFF_BYTES:
            return None, 0, itertools.chain([buf], it)


def _choose_delimiter(line: str, line_number: int) -> str:
    """The header's delimiter: the one candidate found outside quotes, else the one
    that makes a usable header (the one mapping more columns, if several do)."""
    bare = _QUOTED.sub("", line)
    found = [d for d in DELIMITER_NAMES if d in bare]
    if len(found) <= 1:
        return found[0] if found else ","
    usable: list[tuple[int, str]] = []
    for d in found:
        cells = next(csv.reader([line], delimiter=d))
        try:
            usable.append((len(_map_header(cells, line_number).index), d))
        except CsvFileError:
            continue
    if not usable:  # none works: the header error names what is missing
        return max(found, key=bare.count)
    usable.sort(key=lambda u: u[0], reverse=True)
    if len(usable) > 1 and usable[0][0] == usable[1][0]:
        names = " and ".join(DELIMITER_NAMES[d] for _, d in usable)
        raise CsvFileError(
            line_number,
            f"cannot tell the delimiter: the header reads as the same columns split by {names}; "
            "re-save the file with one delimiter (CSV UTF-8, comma-separated)",
        )
    return usable[0][1]


def _big_field(text: str, delimiter: str, limit: int) -> int | None:
    """Index of the first field of line ``text`` longer than ``limit`` characters."""
    i, n, index = 0, len(text), 0
    while True:
        if i < n and text[i] == '"':
            j = i + 1
            while (k := text.find('"', j)) >= 0 and text.startswith('"', k + 1):
                j = k + 2  # an escaped quote
            close = n if k < 0 else k
            length, end = close - i - 1, text.find(delimiter, close)
        else:
            end = text.find(delimiter, i)
            length = (n if end < 0 else end) - i
        if length > limit:
            return index
        if end < 0:
            return None
        i, index = end + 1, index + 1


def utf16_as_utf8(chunks: Iterable[bytes]) -> tuple[str | None, Iterator[bytes]]:
    """(``utf-16-le``/``utf-16-be`` or None, the upload as UTF-8 bytes).

    Excel's "Unicode Text" is UTF-16 with a byte-order mark; it is decoded
    here, while streaming, so everything downstream (the staging cutter
    included) sees UTF-8. Without a BOM the input is returned unchanged.
    """
    it = iter(chunks)
    head = b""
    for chunk in it:
        head += chunk
        if len(head) >= 2:
            break
    for bom, name in ((b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")):
        if head.startswith(bom):
            return name, _transcoded(itertools.chain([head[2:]], it), name)
    return None, itertools.chain([head], it)


def _transcoded(chunks: Iterable[bytes], name: str) -> Iterator[bytes]:
    decoder = codecs.getincrementaldecoder(name)("strict")
    lines = 1
    try:
        for chunk in chunks:
            out = decoder.decode(chunk).encode("utf-8")
            lines += out.count(b"\n")
            yield out
        yield decoder.decode(b"", final=True).encode("utf-8")
    except UnicodeError:
        raise CsvFileError(
            lines,
            f"the file starts with a {name.upper()} byte-order mark but is not valid "
            f"{name.upper()} from here on; re-save it as CSV UTF-8",
        ) from None


def _records(  # noqa: PLR0912, PLR0915 - one hot loop, kept flat for speed
    chunks: Iterable[bytes],
    max_field_bytes: int,
    max_row_count: int | None,
    max_row_bytes: int,
    st: ReadPosition,
) -> Iterator[CsvRecord | CsvReject]:
    """The generator behind :func:`iter_csv_records` (arguments already checked)."""
    utf16, chunks = utf16_as_utf8(chunks)
    if utf16 is not None:
        st.transcoded_from = utf16
    first_line, first_number, chunks = _header_line(chunks)
    if first_line is not None:
        if first_line.count("\x00") * 3 > len(first_line):  # every other byte: UTF-16
            raise CsvFileError(
                first_number,
                "the header holds NUL bytes: the file looks like UTF-16 without a byte-order "
                "mark; re-save it as CSV UTF-8",
            )
        st.delimiter = _choose_delimiter(first_line, first_number)
    delimiter = st.delimiter
    problems = st.problems
    lines = _iter_lines(chunks, st, max_row_bytes)

    def reader_over(source: Iterator[str]) -> _csv.Reader:
        return csv.reader(source, dialect="excel", delimiter=delimiter, strict=True)

    reader = reader_over(lines)
    base = 0  # line number before the first line the current reader read
    # csv's own limit is process-wide and counts characters; a field over it
    # is also over this many bytes, so one number describes both cut-offs.
    field_limit = min(max_field_bytes, csv.field_size_limit())
    row_cap = -1 if max_row_count is None else max_row_count

    def fatal_reason(start: int) -> str:
        return f"unmatched quote starting at line {start}"

    # Header: the first non-blank record. Any problem in it sinks the file.
    while True:
        start = st.rec_line
        try:
            header = next(reader)
        except StopIteration:
            raise CsvFileError(reader.line_num, "empty file (no header row)") from None
        except csv.Error as exc:
            message = str(exc)
            if (
                st.runaway
                or message == "unexpected end of data"
                or (message.startswith("field larger") and reader.line_num > start)
            ):
                raise CsvFileError(start, fatal_reason(start)) from None
            raise CsvFileError(start, f"unreadable header: {message}") from None
        st.rec_line = reader.line_num + 1
        st.rec_start = st.end_offset
        if problems:
            raise CsvFileError(problems[0][0], f"header: {problems[0][1]}")
        if any(cell.strip() for cell in header):
            break
    layout = _map_header(header, start)
    keys = layout.keys
    ncols = len(keys)
    convert = _make_converter(layout)
    max_chars = max_field_bytes // 4  # a UTF-8 char is at most 4 bytes: shorter fields fit

    row_number = 0
    prev_end = st.end_offset

    def resync(start: int) -> None:
        """Drop the record that starts on line ``start``; read on from the line after it."""
        nonlocal reader, base, prev_end
        cont = st.cont
        st.replay.extendleft(reversed(cont))
        end_offset = cont[0][2] if cont else st.end_offset
        cont.clear()
        st.runaway = False
        while problems and problems[0][0] <= start:
            problems.popleft()
        st.rec_line = start + 1
        st.rec_start = st.end_offset = prev_end = end_offset
        base = start
        reader = reader_over(itertools.chain(_replayed(st, max_row_bytes), lines))

    while True:
        resynced = False
        try:
            for row in reader:
                start = st.rec_line
                end = base + reader.line_num
                if end > start and len(row) != ncols:
                    # A quote that opened a field on line `start` closed many
                    # lines later, leaving a record of the wrong shape: the
                    # quote was damage, and the lines after `start` are rows.
                    row_number += 1
                    if row_number > row_cap >= 0:
                        raise CsvFileError(start, f"more than {max_row_count} data rows")
                    reason = (
                        f"unmatched quote starting at line {start} (it ran to line {end}, "
                        f"leaving {len(row)} fields instead of {ncols})"
                    )
                    resync(start)
                    yield CsvReject(row_number, start, None, reason)
                    resynced = True
                    break
                st.rec_line = end + 1
                end_offset = st.rec_start = st.end_offset
                row_number += 1
                if row_number > row_cap >= 0:
                    raise CsvFileError(start, f"more than {max_row_count} data rows")
                size = end_offset - prev_end
                prev_end = end_offset
                if problems and problems[0][0] <= end:
                    reason = problems[0][1]
                    while problems and problems[0][0] <= end:
                        problems.popleft()
                    at = next((i for i, v in enumerate(row) if _has_bad_char(v)), None)
                    yield CsvReject(
                        row_number,
                        start,
                        None if at is None or at >= ncols else keys[at],
                        reason,
                        _raw(keys, row, clean=True) if row else None,
                    )
                    continue
                if len(row) != ncols:
                    if not any(v.strip() for v in row):
                        yield CsvReject(row_number, start, None, "blank row")
                    else:
                        yield CsvReject(
                            row_number,
                            start,
                            None,
                            f"expected {ncols} fields, found {len(row)}",
                            _raw(keys, row),
                        )
                    continue
                if size > max_field_bytes:
                    # Only a row this big can hold an oversized field.
                    big = next(
                        (
                            i
                            for i, v in enumerate(row)
                            if len(v) > max_chars and len(v.encode("utf-8")) > max_field_bytes
                        ),
                        None,
                    )
                    if big is not None:
                        yield CsvReject(
                            row_number,
                            start,
                            keys[big],
                            f"field longer than {max_field_bytes} bytes",
                        )
                        continue
                try:
                    record = convert(row, row_number, start)
                except _FieldError as exc:
                    yield CsvReject(row_number, start, exc.field_name, exc.reason, _raw(keys, row))
                    continue
                if record is None:
                    yield CsvReject(row_number, start, None, "blank row")
                else:
                    yield record
        except csv.Error as exc:
            start = st.rec_line
            end = base + reader.line_num
            row_number += 1
            if row_number > row_cap >= 0:
                raise CsvFileError(start, f"more than {max_row_count} data rows") from None
            message = str(exc)
            if st.runaway or end > start or message == "unexpected end of data":
                # The record ran past its first line inside a quote that never
                # closed properly (it grew too long, hit a stray character
                # after a closing quote, or met the end of the input): reject
                # that first line alone and read the lines after it again.
                at_end = message == "unexpected end of data"
                resync(start)
                yield CsvReject(row_number, start, None, fatal_reason(start), eof_in_quote=at_end)
                continue
            # One line: the csv module dropped the rest of it and resumes at
            # the next one, so the row is a one-row reject.
            st.rec_line = end + 1
            st.rec_start = prev_end = st.end_offset
            while problems and problems[0][0] <= end:
                problems.popleft()
            if message.startswith("field larger"):
                big = _big_field(st.last_text, delimiter, field_limit)
                yield CsvReject(
                    row_number,
                    start,
                    None if big is None or big >= ncols else keys[big],
                    f"field longer than {field_limit} bytes",
                )
            else:
                yield CsvReject(row_number, start, None, "malformed quoting")
        else:
            if not resynced:
                return  # the reader ran out of lines: the end of the upload
