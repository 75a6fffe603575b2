"""Streaming CSV export that spreadsheets cannot be tricked into executing.

Formula injection (OWASP "CSV Injection", ASVS 5.0 1.2.10,
reliability-checklist.md §6): a cell such as ``=HYPERLINK("http://x","y")``
from an uploaded vendor file becomes a live formula when a broker opens our
export in Excel, LibreOffice or Google Sheets. Defence, per ASVS: quote per
RFC 4180 §2.6-2.7 (the `csv` module) and prefix ``'`` to any cell whose first
character is one of ``= + - @``, TAB, NUL (ASVS) or CR (OWASP's page).

Decisions:

- **Leading whitespace is looked through.** Several importers trim spaces
  (LibreOffice's "Trim spaces" option, Sheets), turning ``" =1+1"`` into a
  formula, so the first *non-whitespace* character decides. LF is covered by
  this too (it is whitespace). A legitimate cell like ``"  - note"`` gains a
  ``'``, which is harmless.
- **Numbers are not text.** An `int`, `float` or `Decimal` is written plainly,
  so ``-5`` stays ``-5``: a spreadsheet parses it as a number, never a
  formula. Non-finite floats/Decimals have no number form, so they go through
  the text rule (``-inf`` → ``'-inf``).
- **Escapes by column kind.** A string in a ``kind="phone"`` column that is
  strictly E.164 (``+15555550123``) or in a ``kind="number"`` column that is a
  plain decimal literal (``-12.5``, ``1e3``) passes unchanged: those exact
  shapes cannot contain a function call, and they must survive a round trip.
  Anything else in those columns falls back to the text rule.
- ``bool`` → ``true``/``false`` (as PostgreSQL prints them); `bytes` are
  refused (no honest text form); other objects (dates, UUIDs, enums) use
  ``str()`` and then the text rule.

Not covered: a program that re-splits the file on another delimiter (``;`` in
some Excel locales) can start a cell mid-field, since QUOTE_MINIMAL quotes
only fields containing ``,``, ``"``, CR or LF. Serve exports as
``text/csv`` attachments and tell users to import with comma delimiters.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal
from typing import Final

__all__ = [
    "CELL_KINDS",
    "DANGEROUS_PREFIXES",
    "DEFAULT_CHUNK_SIZE",
    "safe_cell",
    "stream_csv",
]

DANGEROUS_PREFIXES: Final = frozenset("=+-@\t\r\0")
"""First characters that make a spreadsheet evaluate a cell (ASVS 1.2.10 + CR)."""

CELL_KINDS: Final = frozenset({"text", "phone", "number"})
"""Values accepted for `safe_cell`'s ``kind``."""

DEFAULT_CHUNK_SIZE: Final = 64 * 1024
"""Roughly how many characters `stream_csv` buffers before yielding."""

_ESCAPE: Final = "'"
_E164_RE: Final = re.compile(r"\+[1-9][0-9]{6,14}")
_NUMBER_RE: Final = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_BOM: Final = "\ufeff"


def _escape_text(text: str) -> str:
    # Both the very first character (TAB, CR) and the first one after
    # whitespace (" =1", "\n=1") count; lstrip() strips Unicode whitespace.
    if {text[:1], text.lstrip()[:1]} & DANGEROUS_PREFIXES:
        return _ESCAPE + text
    return text


def safe_cell(value: object, *, kind: str = "text") -> str:
    """Render one value as an injection-safe CSV cell (before RFC 4180 quoting).

    ``None`` → ``""``; numbers plainly; strings prefixed with ``'`` when their
    first non-whitespace character is one of `DANGEROUS_PREFIXES`, unless
    `kind` is ``"phone"`` and the string is E.164, or ``"number"`` and it is
    a decimal literal. Raises `ValueError` for an unknown `kind` and
    `TypeError` for `bytes`.
    """
    if kind not in CELL_KINDS:
        raise ValueError(f"unknown cell kind {kind!r}; expected one of {sorted(CELL_KINDS)}")
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float | Decimal):
        if value.is_finite() if isinstance(value, Decimal) else math.isfinite(value):
            return str(value)
        return _escape_text(str(value))
    if isinstance(value, bytes | bytearray | memoryview):
        raise TypeError("bytes have no text form; decode them before export")
    text = value if isinstance(value, str) else str(value)
    if (kind == "phone" and _E164_RE.fullmatch(text)) or (
        kind == "number" and _NUMBER_RE.fullmatch(text)
    ):
        return text
    return _escape_text(text)


def stream_csv(
    header: Sequence[str],
    rows: Iterable[Sequence[object]],
    *,
    kinds: Sequence[str] | None = None,
    bom: bool = False,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> Iterator[bytes]:
    """Yield an injection-safe UTF-8 CSV in chunks of about `chunk_size`.

    RFC 4180: comma-separated, minimal quoting, ``\\r\\n`` line ends. Rows are
    pulled from `rows` only as chunks are consumed, so memory stays flat for
    any row count (hand the iterator straight to a streaming response).
    `kinds` gives each column's `safe_cell` kind (default all ``"text"``);
    header cells are escaped as text. `bom=True` prepends a UTF-8 byte order
    mark, which Excel on Windows needs to read non-ASCII text correctly.

    Arguments are checked when this is called; a row whose length differs
    from the header raises `ValueError` when that row is reached.
    """
    width = len(header)
    if width == 0:
        raise ValueError("header must have at least one column")
    column_kinds = tuple(kinds) if kinds is not None else ("text",) * width
    if len(column_kinds) != width:
        raise ValueError(f"kinds has {len(column_kinds)} entries for {width} columns")
    unknown = set(column_kinds) - CELL_KINDS
    if unknown:
        raise ValueError(f"unknown cell kinds {sorted(unknown)}")
    if chunk_size <= 0:
        raise ValueError("chunk_size must be positive")
    # Validation above runs eagerly; the generator below is lazy.
    return _generate(tuple(header), rows, column_kinds, bom=bom, chunk_size=chunk_size)


class _Pending:
    """A write-only text sink for `csv.writer` that remembers its length.

    A list of row strings, joined once per chunk, holds each character once;
    `io.StringIO` keeps a wide buffer and copies on `getvalue()`, which
    doubles the peak for the same chunk.
    """

    __slots__ = ("parts", "size")

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.size = 0

    def write(self, text: str) -> int:
        self.parts.append(text)
        self.size += len(text)
        return len(text)

    def take(self) -> bytes:
        # strict UTF-8: PostgreSQL text is valid UTF-8, so a lone surrogate
        # here is a bug to surface, not data to mangle silently.
        data = "".join(self.parts).encode("utf-8")
        self.parts.clear()
        self.size = 0
        return data


def _generate(
    header: tuple[str, ...],
    rows: Iterable[Sequence[object]],
    kinds: tuple[str, ...],
    *,
    bom: bool,
    chunk_size: int,
) -> Iterator[bytes]:
    pending = _Pending()
    # The "excel" dialect is RFC 4180: ",", '"' doubled inside quotes,
    # QUOTE_MINIMAL and "\r\n".
    writer = csv.writer(pending, dialect="excel", quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    if bom:
        pending.write(_BOM)
    writer.writerow([safe_cell(name) for name in header])
    width = len(header)
    for number, row in enumerate(rows, start=1):
        if len(row) != width:
            raise ValueError(f"row {number} has {len(row)} cells for {width} columns")
        writer.writerow([safe_cell(v, kind=k) for v, k in zip(row, kinds, strict=True)])
        if pending.size >= chunk_size:
            yield pending.take()
    if pending.size:
        yield pending.take()
