"""A staging block (header + whole records) → COPY text, a column at a time.

The row-wise path (:func:`equity_connect.ingest.staging._stage_block`:
``csv_reader`` then ``rows.stage_record`` per row) costs about 20 us a row
in Python. Here one block's common rows are split, validated, normalized
and formatted by polars expressions over columns, and encrypted and
indexed in tight loops; every row the vectorized rules cannot settle
*exactly as the row-wise code would* goes through that row-wise code, so
the block's result (rows, line numbers, rejects, staged values) is the
same as the row-wise path's. Three tiers, decided per physical line:

* **reader**: a line the quick split cannot read as one record (it holds a
  ``"`` or NUL, is blank, has the wrong number of fields, or is long enough
  to hold an over-long field), together with the lines after it while its
  quotes are unbalanced, is read by :func:`iter_csv_records` itself, after a
  copy of the header, and renumbered for the block. A line with no quote
  that starts a record is a whole record, so such a stretch starts and ends
  on record boundaries; if its reader still ran off the end inside a quote,
  the stretch is widened to the end of the block, which is exactly what the
  row-wise reader of the block would have read from there (and the
  caller's stray-quote recovery then works as before).
* **row-wise**: a one-line record whose values the rules below do not
  settle (a ZIP+4 written oddly, a state name, a PO box, an email or phone
  that needs the full validators, non-ASCII in a normalized field,
  control characters, ...) is split exactly as ``csv`` would split it (no
  quotes: at the delimiter) and goes through the reader's converter and
  :func:`stage_record`.
* **columnar**: everything else: the simplified Pub 28 pass (suffixes,
  directionals, units, punctuation, case), ZIP5, E.164, email, APN and the
  numeric columns, as a strict subset of what the row-wise normalizers
  accept, computing the same result.

Whole blocks go row-wise when the header is not one plain line, the block
is not UTF-8 (cp1252 lines), or it holds a lone CR (a line break the
quick split does not know).
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import polars as pl

from equity_connect.ingest.csv_reader import (
    _STATE_LOOKUP,
    US_STATES,
    CsvRecord,
    CsvReject,
    _choose_delimiter,
    _FieldError,
    _Layout,
    _make_converter,
    _map_header,
    _raw,
    iter_csv_records,
)
from equity_connect.ingest.rows import extras_aad, stage_record
from equity_connect.ingest.staging import FileFacts, StageJob, _BlockResult, _Offsets, _renumbered
from equity_connect.normalize.address import _HASH_VERSION, normalize_state
from equity_connect.normalize.email import validate_email
from equity_connect.normalize.phone import validate_phone
from equity_connect.normalize.usps_tables import (
    DIRECTIONALS,
    HIGHWAY_WORDS,
    INTERCHANGEABLE_UNIT_DESIGNATORS,
    ORDINAL_WORDS,
    STREET_SUFFIXES,
    UNIT_DESIGNATORS,
    UNIT_DESIGNATORS_NO_ID,
)
from equity_connect.security.crypto import PiiCipher
from equity_connect.verification.schemas import ContactChannel

__all__ = ["stage_block_columnar"]

_BOM = b"\xef\xbb\xbf"
_EMAIL = str(ContactChannel.EMAIL)
_PHONE = str(ContactChannel.PHONE)
_NULL = "\\N"
# Python's str.strip()/split() treat these as whitespace and polars does not
# (or not the same way): a line holding one goes row-wise. Tab and space are
# handled below; CR and LF never occur inside a line here.
_ODD_CHARS = (
    r"[\x00-\x08\x0B-\x1F\x7F\x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}"
    r"\x{202F}\x{205F}\x{3000}]"
)
_FAST_EMAIL = (
    r"^[a-z0-9_'+-]+(?:\.[a-z0-9_'+-]+)*"
    r"@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$"
)
_SPECIAL_USE_TLDS = ["arpa", "invalid", "local", "localhost", "onion", "test"]
# (The reader's state codes, as normalize_state gives them back.)
_STATE_NORMALIZED = {
    code: state for code in US_STATES if (state := normalize_state(code)) is not None
}


@dataclass(frozen=True)
class _Header:
    delimiter: str
    layout: _Layout
    utf8: bool


def _plain_header(header: bytes) -> _Header | None:
    """The header's delimiter and layout when it is one plain line, else None."""
    text_bytes = header.removeprefix(_BOM)
    if text_bytes.count(b"\n") != 1 or not text_bytes.endswith(b"\n") or b'"' in text_bytes:
        return None
    if b"\r" in text_bytes[:-2] or b"\x00" in text_bytes:
        return None
    try:
        line = text_bytes.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        return None
    if not line.strip(" \t\r\n,;|"):
        return None
    try:
        delimiter = _choose_delimiter(line, 1)
        layout = _map_header(line.split(delimiter), 1)
    except Exception:
        return None
    return _Header(delimiter, layout, not line.isascii())


def _row_wise(
    job: StageJob, block: int, header: bytes, body: bytes, cipher: PiiCipher
) -> _BlockResult:
    from equity_connect.ingest.staging import stage_block_rows  # noqa: PLC0415 - see module docstring

    return stage_block_rows(job, block, header, body, cipher)


#: CPU seconds this process spent per phase of the columnar path (read,
#: normalize, row-wise, encrypt, hmac, copy text), for bench/staging.py.
PHASE_SECONDS: defaultdict[str, float] = defaultdict(float)


class _Clock:
    """Adds the CPU time since the last tick to a phase of ``PHASE_SECONDS``."""

    def __init__(self) -> None:
        self.last = time.process_time()

    def tick(self, phase: str) -> None:
        now = time.process_time()
        PHASE_SECONDS[phase] += now - self.last
        self.last = now


#: Below this many lines a block is staged row-wise: polars' fixed cost per
#: block (about 9 ms of planning and small allocations) is more than the
#: row-wise path spends on a thousand rows. Staging blocks hold about 7,000.
MIN_COLUMNAR_LINES = 1_000


def stage_block_columnar(
    job: StageJob,
    block: int,
    header: bytes,
    body: bytes,
    cipher: PiiCipher,
    *,
    min_lines: int = MIN_COLUMNAR_LINES,
) -> _BlockResult:
    """Stage one block as :func:`staging._stage_block` does, mostly column by column."""
    head = _plain_header(header)
    if head is None or body.count(b"\n") < min_lines or body.count(b"\r") != body.count(b"\r\n"):
        return _row_wise(job, block, header, body, cipher)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return _row_wise(job, block, header, body, cipher)
    return _Block(job, block, header, head, text, cipher=cipher).run(body)


class _Block:
    """One block's staging, in three tiers (see the module docstring)."""

    def __init__(
        self,
        job: StageJob,
        block: int,
        header: bytes,
        head: _Header,
        text: str,
        *,
        cipher: PiiCipher,
    ) -> None:
        self.job, self.block, self.header, self.head, self.cipher = job, block, header, head, cipher
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()  # the block ends with its last line's terminator
        self.lines = lines
        self.ncols = len(head.layout.keys)
        self.header_lines = 1
        self.staged: list[tuple[int, int, str]] = []
        self.rejects: list[CsvReject] = []
        self.clock = _Clock()

    def run(self, body: bytes) -> _BlockResult:
        raw = pl.Series("line", self.lines, dtype=pl.String)
        lines = raw.str.strip_suffix("\r")
        delim = self.head.delimiter
        # csv's own limit, and the reader's field cap: a shorter line cannot hold a longer field.
        short = max(1, min(self.job.max_field_bytes, csv.field_size_limit()) - 2)
        reader_tier = (
            lines.str.contains('"', literal=True)
            | lines.str.contains("\x00", literal=True)
            | (lines.str.count_matches(delim, literal=True) != self.ncols - 1)
            | (lines.str.len_bytes() >= short)
            | (lines.str.strip_chars(" \t,;|") == "")
        )
        n = len(self.lines)
        simple: list[int] = []  # line indexes of one-line records
        simple_rows: list[int] = []
        row = 0
        if not reader_tier.any():
            simple = list(range(n))
            simple_rows = list(range(1, n + 1))
            row = n
        else:
            tiers = reader_tier.to_list()
            quotes = lines.str.count_matches('"', literal=True).to_list()
            # Byte offset of every line in the body (for the reader's byte-offset reasons).
            offsets = [0, *(raw.str.len_bytes() + 1).cum_sum().to_list()]
            # Walk the lines: stretches for the reader, one row number per other line.
            i = 0
            while i < n:
                if not tiers[i]:
                    row += 1
                    simple.append(i)
                    simple_rows.append(row)
                    i += 1
                    continue
                j, parity = i, 0
                while j < n:
                    parity ^= quotes[j] & 1
                    j += 1
                    if parity == 0 and (j >= n or not tiers[j]):
                        break
                got = self._read_stretch(body, i, j, row, offsets)
                if got is None:  # it ran off its end inside a quote: read on to the end
                    j = n
                    got = self._read_stretch(body, i, j, row, offsets, final=True)
                    assert got is not None
                row += got
                i = j
        self.clock.tick("read")
        if simple:
            self._stage_lines(lines, simple, simple_rows)
        self.staged.sort(key=lambda t: t[0])
        self.rejects.sort(key=lambda r: r.row_number)
        facts = FileFacts(delimiter=delim, utf8=self.head.utf8 or not body.isascii())
        return _BlockResult(row, self.staged, self.rejects, facts)

    def _read_stretch(
        self,
        body: bytes,
        start: int,
        end: int,
        rows_before: int,
        offsets: Sequence[int],
        *,
        final: bool = False,
    ) -> int | None:
        """Read lines [start, end) with the reader; rows read, or None if it ended in a quote."""
        piece = body[offsets[start] : min(offsets[end], len(body))]
        at = _Offsets(rows_before, start, offsets[start])
        staged: list[tuple[int, int, str]] = []
        rejects: list[CsvReject] = []
        seq = self.job.lead_ids
        count = 0
        records = iter_csv_records([self.header, piece], max_field_bytes=self.job.max_field_bytes)
        for item in records:
            count += 1
            if isinstance(item, CsvRecord):
                r = item.row_number + rows_before
                out = stage_record(item, seq.at(self.block, r), self.cipher)
                if isinstance(out, str):
                    staged.append((r, item.line_number + start, out))
                else:
                    rejects.append(_renumbered(out, at))
            else:
                if item.eof_in_quote and not final:
                    return None
                rejects.append(_renumbered(item, at))
        self.staged.extend(staged)
        self.rejects.extend(rejects)
        return count

    def _row_wise_line(self, index: int, row: int, convert: _Converter) -> None:
        """A one-line record the columns could not settle: as the reader + stage_record do."""
        fields = self.lines[index].removesuffix("\r").split(self.head.delimiter)
        line_number = index + 1 + self.header_lines
        keys = self.head.layout.keys
        try:
            record = convert(fields, row, line_number)
        except _FieldError as exc:
            self.rejects.append(
                CsvReject(row, line_number, exc.field_name, exc.reason, _raw(keys, fields))
            )
            return
        if record is None:
            self.rejects.append(CsvReject(row, line_number, None, "blank row"))
            return
        out = stage_record(record, self.job.lead_ids.at(self.block, row), self.cipher)
        if isinstance(out, str):
            self.staged.append((row, line_number, out))
        else:
            self.rejects.append(out)

    def _stage_lines(self, lines: pl.Series, simple: list[int], rows: list[int]) -> None:
        fields = lines.gather(simple).str.split_exact(self.head.delimiter, self.ncols - 1)
        self.clock.tick("read")
        frame = _normalized(fields.struct.unnest(), lines.gather(simple), self.head.layout)
        self.clock.tick("normalize")
        settled = frame["ok"].to_list()
        convert = _make_converter(self.head.layout)
        fast_at: list[int] = []
        for k, ok in enumerate(settled):
            if ok:
                fast_at.append(k)
            else:
                self._row_wise_line(simple[k], rows[k], convert)
        self.clock.tick("row-wise")
        if not fast_at:
            return
        fast = frame.filter(pl.col("ok"))
        fast_rows = [rows[k] for k in fast_at]
        fast_lines = [simple[k] + 1 + self.header_lines for k in fast_at]
        texts = self._texts(fast, fast_rows)
        self.staged.extend(zip(fast_rows, fast_lines, texts, strict=True))
        self.clock.tick("copy text")

    @staticmethod
    def _slow_contacts(
        fast: pl.DataFrame, emails: list[bytes | None], phones: list[bytes | None]
    ) -> list[str | None]:
        """Emails and phones the fast rules did not accept, by the full validators (in place).

        Returns each row's notes, as stage_record words them (a settled row's
        address needs none).
        """
        notes: list[str | None] = [None] * len(emails)
        slow_email = fast["email_slow"].arg_true().to_list()
        slow_phone = fast["phone_slow"].arg_true().to_list()
        if not slow_email and not slow_phone:
            return notes
        said: dict[int, list[str]] = {}
        raw_emails = fast["email"]
        for k in slow_email:
            email, reason = validate_email(raw_emails[k])
            if email is None:
                said.setdefault(k, []).append(f"email dropped: {reason}")
            else:
                emails[k] = email.encode()
        raw_phones = fast["phone"]
        for k in slow_phone:
            phone, reason = validate_phone(raw_phones[k])
            if phone is None:
                said.setdefault(k, []).append(f"phone dropped: {reason}")
            else:
                phones[k] = phone.encode()
        for k, words in said.items():
            notes[k] = "; ".join(words)
        return notes

    def _lead_ids(self, rows: list[int]) -> list[bytes]:
        """``lead_ids.at(block, row)`` for each row (ascending), as ASCII bytes."""
        seq = self.job.lead_ids
        run = seq.run_at(self.block, rows[0], rows[-1] - rows[0] + 1)
        if run is None:
            return [seq.at(self.block, r).encode() for r in rows]
        prefix, start = run
        first = rows[0]
        mask = (1 << 48) - 1
        # (bytes formatting with %: one C call per id instead of at()'s dozen steps)
        pre = prefix.encode()
        return [pre + b"%04x-%012x" % ((v := start + r - first) >> 48, v & mask) for r in rows]

    def _texts(self, fast: pl.DataFrame, rows: list[int]) -> list[str]:
        """The staged rows' COPY text (after row_number, line_number, upload_id)."""
        ids = self._lead_ids(rows)
        cipher = self.cipher
        email_aad = [b"leads.email." + i for i in ids]
        phone_aad = [b"leads.phone." + i for i in ids]
        emails = fast["email_n"].cast(pl.Binary).to_list()
        self.clock.tick("lead ids")
        phones = fast["phone_n"].cast(pl.Binary).to_list()
        notes = self._slow_contacts(fast, emails, phones)
        self.clock.tick("normalize")
        email_ct = cipher.encrypt_many(emails, email_aad)
        phone_ct = cipher.encrypt_many(phones, phone_aad)
        self.clock.tick("encrypt")
        email_idx = cipher.blind_indexes(_EMAIL, emails)
        phone_idx = cipher.blind_indexes(_PHONE, phones)
        sha = hashlib.sha256
        hashed = [sha(v).digest() for v in fast["hash_in"].cast(pl.Binary).to_list()]
        self.clock.tick("hmac")
        extra_ct: list[bytes | None] = [None] * len(ids)
        extra = self.head.layout.extra
        if extra:
            names = [k for k, _ in extra]
            values = fast.select([f"x_{i}" for _, i in extra]).rows()
            plain: list[bytes | None] = []
            aads: list[bytes] = []
            for lead, vals in zip((i.decode() for i in ids), values, strict=True):
                kept = {k: v for k, v in zip(names, vals, strict=True) if v}
                if kept:
                    plain.append(json.dumps(kept, ensure_ascii=False).encode())
                    aads.append(extras_aad(lead))
                else:
                    plain.append(None)
                    aads.append(b"")
            extra_ct = cipher.encrypt_many(plain, aads)
            self.clock.tick("encrypt")

        def hexed(values: list[bytes | None]) -> pl.Expr:
            series = pl.Series(values, dtype=pl.Binary).bin.encode("hex")
            return pl.lit(series).fill_null(pl.lit(None, pl.String))

        out = fast.select(
            pl.concat_str(
                [
                    pl.lit(pl.Series(ids, dtype=pl.Binary).cast(pl.String)),
                    _text("mak"),
                    _text("fips"),
                    _text("apn"),
                    _text("apn_key"),
                    _bytea(pl.lit(pl.Series(hashed, dtype=pl.Binary).bin.encode("hex"))),
                    _text("first"),
                    _text("last"),
                    _int("age"),
                    _text("street_out"),
                    _text("unit"),
                    _text("city_out"),
                    _text("state_out"),
                    _text("zip5"),
                    _int("value"),
                    _int("equity"),
                    _int("year"),
                    _text("source"),
                    _bytea(hexed(email_ct)),
                    _bytea(hexed(email_idx)),
                    _bytea(hexed(phone_ct)),
                    _bytea(hexed(phone_idx)),
                    _bytea(hexed(extra_ct)),
                    _escaped(pl.lit(pl.Series(notes, dtype=pl.String))),
                ],
                separator="\t",
            ).alias("text")
        )
        texts: list[str] = out["text"].to_list()
        self.clock.tick("copy text")
        return texts


_Converter = Callable[[list[str], int, int], CsvRecord | None]


def _escaped(expr: pl.Expr) -> pl.Expr:
    """COPY text escaping, as rows._texts does it; NULL is \\N."""
    return (
        expr.str.replace_all("\\", "\\\\", literal=True)
        .str.replace_all("\t", "\\t", literal=True)
        .fill_null(_NULL)
    )


def _text(name: str) -> pl.Expr:
    return _escaped(pl.col(name))


def _int(name: str) -> pl.Expr:
    return pl.col(name).cast(pl.String).fill_null(_NULL)


def _bytea(hexed: pl.Expr) -> pl.Expr:
    return pl.concat_str([pl.lit("\\\\x"), hexed]).fill_null(_NULL)


# --- the vectorized rules ----------------------------------------------------------------


def _stripped(expr: pl.Expr) -> pl.Expr:
    """str.strip() (the line holds no other whitespace than space and tab), "" -> None."""
    s = expr.str.strip_chars(" \t")
    return pl.when(s.str.len_bytes() > 0).then(s).otherwise(None)


def _ascii(expr: pl.Expr) -> pl.Expr:
    return expr.is_null() | (expr.str.len_bytes() == expr.str.len_chars())


def _lookup(expr: pl.Expr, table: Mapping[str, str]) -> pl.Expr:
    return expr.replace_strict(
        list(table.keys()), list(table.values()), default=None, return_dtype=pl.String
    )


def _is_in(expr: pl.Expr, keys: Iterable[str]) -> pl.Expr:
    return expr.is_in(pl.Series(sorted(keys), dtype=pl.String).implode()).fill_null(False)


def _normalized(fields: pl.DataFrame, lines: pl.Series, layout: _Layout) -> pl.DataFrame:
    """The staged values of one-line records, and ``ok``: whether the rules settled the row."""
    index = layout.index
    frame = fields.with_columns(lines.alias("line")).lazy()

    def raw(name: str) -> pl.Expr:
        i = index.get(name)
        return _stripped(pl.col(f"field_{i}")) if i is not None else pl.lit(None, pl.String)

    max_year = str(dt.date.today().year + 1)
    first = [
        raw("property_address").alias("address"),
        raw("county_fips").alias("fips"),
        raw("property_city").alias("city"),
        raw("property_state").alias("state_raw"),
        raw("property_zip").alias("zip_raw"),
        raw("estimated_value").alias("value_raw"),
        raw("estimated_equity").alias("equity_raw"),
        raw("owner_age").alias("age_raw"),
        raw("year_built").alias("year_raw"),
        raw("mak").alias("mak"),
        raw("apn").alias("apn"),
        raw("owner_first_name").alias("first"),
        raw("owner_last_name").alias("last"),
        raw("email").alias("email"),
        raw("phone").alias("phone"),
        raw("source").alias("source"),
        *[_stripped(pl.col(f"field_{i}")).alias(f"x_{i}") for _, i in layout.extra],
    ]
    frame = frame.select(pl.col("line"), *first)
    c = pl.col
    zip_ok = c("zip_raw").str.contains(r"^[0-9]{5}(?:-[0-9]{4})?$") & (
        c("zip_raw").str.slice(0, 5) != "00000"
    )
    amount = r"^[0-9]{1,12}$"
    year_zero = c("year_raw").is_null() | c("year_raw").str.contains(r"^0+$")
    year_ok = year_zero | (
        c("year_raw").str.contains(r"^[0-9]{4}$")
        & (c("year_raw") >= "1600")
        & (c("year_raw") <= max_year)
    )
    frame = frame.with_columns(
        _lookup(c("state_raw"), _STATE_LOOKUP).alias("state"),
        c("zip_raw").str.slice(0, 5).alias("zip5"),
        c("value_raw").cast(pl.Int64, strict=False).alias("value"),
        c("equity_raw").cast(pl.Int64, strict=False).alias("equity"),
        c("age_raw").cast(pl.Int64, strict=False).alias("age"),
        pl.when(year_zero)
        .then(None)
        .otherwise(c("year_raw").cast(pl.Int64, strict=False))
        .alias("year"),
        (
            ~c("line").str.contains(_ODD_CHARS)
            & c("address").is_not_null()
            & _ascii(c("address"))
            & _ascii(c("city"))
            & _ascii(c("apn"))
            & (c("fips").is_null() | c("fips").str.contains(r"^[0-9]{5}$"))
            & zip_ok
            & (c("value_raw").is_null() | c("value_raw").str.contains(amount))
            & (c("equity_raw").is_null() | c("equity_raw").str.contains(amount))
            & (c("age_raw").is_null() | c("age_raw").str.contains(r"^[0-9]{1,2}$"))
            & year_ok
        )
        .fill_null(False)
        .alias("ok"),
    )
    frame = frame.with_columns(
        (c("ok") & (c("state_raw").is_null() | c("state").is_not_null())).alias("ok"),
        _lookup(c("state"), _STATE_NORMALIZED).alias("state_n"),
        # normalize_city: upper, no periods, commas as spaces, whitespace collapsed.
        c("city")
        .str.to_uppercase()
        .str.replace_all(".", "", literal=True)
        .str.replace_all(",", " ", literal=True)
        .str.replace_all(r"[ \t]+", " ")
        .str.strip_chars(" ")
        .alias("city_n"),
        # normalize_apn: upper, letters and digits only; the key needs a county.
        c("apn").str.to_uppercase().str.replace_all(r"[^0-9A-Z]+", "").alias("apn_n"),
    )
    frame = frame.with_columns(
        pl.when(c("city_n") == "").then(None).otherwise(c("city_n")).alias("city_n"),
        pl.when((c("apn_n") != "") & c("fips").is_not_null())
        .then(c("apn_n"))
        .otherwise(None)
        .alias("apn_key"),
    )
    frame = _emails(frame)
    frame = _phones(frame)
    frame = _streets(frame)
    return frame.with_columns(
        pl.coalesce(c("city_n"), c("city")).alias("city_out"),
        pl.coalesce(c("state_n"), c("state")).alias("state_out"),
        pl.concat_str(
            [pl.lit(_HASH_VERSION), c("street_line"), c("unit_key").fill_null(""), c("zip5")],
            separator="\x1f",
        ).alias("hash_in"),
    ).collect(engine="in-memory")  # small frames: the streaming engine costs twice as much


def _emails(frame: pl.LazyFrame) -> pl.LazyFrame:
    """validate_email's fast accept; ``email_slow``: the others, for validate_email itself."""
    c = pl.col
    low = c("email").str.to_lowercase()
    domain = low.str.extract(r"@(.*)$")
    tld = low.str.extract(r"\.([a-z]+)$")
    accepted = (
        (low.str.len_bytes() <= 254)
        & low.str.contains(_FAST_EMAIL)
        & (domain.str.len_bytes() <= 253)
        & ~domain.str.contains("--", literal=True)
        & ~_is_in(tld, _SPECIAL_USE_TLDS)
    ).fill_null(False)
    return frame.with_columns(
        pl.when(accepted).then(low).otherwise(None).alias("email_n"),
        (c("email").is_not_null() & ~accepted).alias("email_slow"),
    )


def _phones(frame: pl.LazyFrame) -> pl.LazyFrame:
    """validate_phone's fast NANP path for valid numbers; ``phone_slow``: the others."""
    c = pl.col
    plus = c("phone").str.starts_with("+")
    frame = frame.with_columns(
        pl.when(plus)
        .then(c("phone").str.slice(1))
        .otherwise(c("phone"))
        .str.replace_all(r"[ ()\-./\t]", "")
        .alias("digits"),
    )
    digits = c("digits")
    eleven = (digits.str.len_bytes() == 11) & digits.str.starts_with("1")
    national = (
        pl.when(eleven)
        .then(digits.str.slice(1))
        .when(~plus & (digits.str.len_bytes() == 10))
        .then(digits)
        .otherwise(None)
    )
    frame = frame.with_columns(
        pl.when(digits.str.contains(r"^[0-9]+$")).then(national).otherwise(None).alias("nat")
    )
    valid = (
        c("nat").str.contains(r"^[2-9][0-9]{2}[2-9][0-9]{6}$")
        & (c("nat").str.slice(1, 2) != "11")
        & (c("nat").str.slice(4, 2) != "11")
    ).fill_null(False)
    return frame.with_columns(
        pl.when(valid).then(pl.lit("+1") + c("nat")).otherwise(None).alias("phone_n"),
        (c("phone").is_not_null() & ~valid).alias("phone_slow"),
    )


def _streets(frame: pl.LazyFrame) -> pl.LazyFrame:
    """normalize.address's fast path (``_clean_upper`` + ``_parse_tokens``) over a column.

    A row it would decline (or that this version does not try) is not ``ok``.
    """
    c = pl.col
    upper = c("address").str.to_uppercase()
    cleaned = (
        upper.str.replace_all(".", "", literal=True)
        .str.replace_all("'", "", literal=True)
        .str.replace_all(",", " ", literal=True)
        .str.replace_all("#", " # ", literal=True)
        .str.replace_all(r"[ \t]+", " ")
        .str.strip_chars(" ")
    )
    frame = frame.with_columns(
        cleaned.str.split(" ").alias("tok"),
        upper.str.contains(r"[0-9]\.[0-9]").fill_null(True).alias("decimal"),
    )
    tok = c("tok")
    n = tok.list.len()

    def at(i: int | pl.Expr) -> pl.Expr:
        return tok.list.get(i, null_on_oob=True)

    unit_words = set(UNIT_DESIGNATORS) | set(UNIT_DESIGNATORS_NO_ID)
    d2 = _lookup(at(-2), UNIT_DESIGNATORS)
    outer = _lookup(at(-3), UNIT_DESIGNATORS)
    last = at(-1)
    unit_id = last.str.contains(r"^[A-Z0-9]+$") & (
        (last.str.len_bytes() == 1) | ~last.str.contains(r"^[A-Z]+$")
    )
    hash_outer = (d2 == "#") & (n > 3) & outer.is_not_null()
    frame = frame.with_columns(
        # (end, designator, unit) of _split_unit, and whether it declined.
        pl.when(d2.is_null()).then(n).when(hash_outer).then(n - 3).otherwise(n - 2).alias("end"),
        pl.when(d2.is_null()).then(None).when(hash_outer).then(outer).otherwise(d2).alias("desig"),
        pl.when(d2.is_null()).then(None).otherwise(last).alias("unit"),
        pl.when(d2.is_null())
        .then(_is_in(last, unit_words))
        .otherwise(
            ~unit_id.fill_null(False) | ((d2 == "#") & (n > 3) & (outer == "#")).fill_null(False)
        )
        .fill_null(True)
        .alias("unit_declined"),
    )
    end = c("end")
    word = at(end - 1)
    before = at(end - 2)
    postdir = (end >= 4) & _is_in(word, DIRECTIONALS) & _is_in(before, STREET_SUFFIXES)
    frame = frame.with_columns(
        pl.when(postdir).then(_lookup(word, DIRECTIONALS)).otherwise(None).alias("postdir"),
        pl.when(postdir).then(end - 2).otherwise(end - 1).alias("li"),
    )
    li = c("li")
    predir = pl.when(li >= 3).then(_lookup(at(1), DIRECTIONALS)).otherwise(None)
    frame = frame.with_columns(
        _lookup(at(li), STREET_SUFFIXES).alias("suffix"),
        predir.alias("predir"),
    )
    first = pl.when(c("predir").is_not_null()).then(2).otherwise(1)
    bad_words = set(ORDINAL_WORDS) | set(HIGHWAY_WORDS)
    frame = frame.with_columns(tok.list.slice(first, li - first).alias("name"))
    name = c("name")
    name_ok = name.list.eval(
        pl.element().str.contains(r"^[A-Z]+$")
        & ~pl.element().is_in(pl.Series(sorted(bad_words), dtype=pl.String).implode())
    ).list.all()
    lone_directional = (
        c("predir").is_null() & (name.list.len() == 1) & _is_in(name.list.first(), DIRECTIONALS)
    )
    parsed = (
        (n >= 3)
        & at(0).str.contains(r"^[0-9]+$")
        & ~c("unit_declined")
        & (end >= 3)
        & c("suffix").is_not_null()
        & ~(c("predir").is_not_null() & _is_in(at(2), DIRECTIONALS))
        & ~lone_directional
        & name_ok
        & ~c("decimal")
    ).fill_null(False)
    street_line = pl.concat_str(
        [at(0), c("predir"), name.list.join(" "), c("suffix"), c("postdir")],
        separator=" ",
        ignore_nulls=True,
    )
    frame = frame.with_columns(
        street_line.alias("street_line"),
        (c("ok") & parsed).alias("ok"),
    )
    return frame.with_columns(
        pl.when(c("unit").is_null())
        .then(c("street_line"))
        .otherwise(pl.concat_str([c("street_line"), c("desig"), c("unit")], separator=" "))
        .alias("street_out"),
        pl.when(c("unit").is_null())
        .then(None)
        .when(_is_in(c("desig"), INTERCHANGEABLE_UNIT_DESIGNATORS))
        .then(c("unit"))
        .otherwise(pl.concat_str([c("desig"), c("unit")], separator=" "))
        .alias("unit_key"),
    )
