"""Tests for injection-safe streaming CSV (reliability-checklist.md §6)."""

from __future__ import annotations

import csv
import io
import itertools
import tracemalloc
import uuid
from collections.abc import Iterator
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from equity_connect.exports.csv_safe import (
    DANGEROUS_PREFIXES,
    DEFAULT_CHUNK_SIZE,
    safe_cell,
    stream_csv,
)


def read_back(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


def is_dangerous(cell: str) -> bool:
    return bool({cell[:1], cell.lstrip()[:1]} & DANGEROUS_PREFIXES)


# -- safe_cell ----------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        '=HYPERLINK("http://x","y")',
        "@SUM(1)",
        "\t=1",
        "-2+3",
        "+1 555",
        "=cmd|' /C calc'!A0",
        "\r=1",
        "\0=1",
        "\ttext",
        " =1+1",
        "\n@SUM(1)",
        "\u00a0=1",  # NBSP is whitespace to str.lstrip and to some importers
        "-",
    ],
)
def test_dangerous_text_is_prefixed(text: str) -> None:
    assert safe_cell(text) == "'" + text


@pytest.mark.parametrize(
    "text", ["", "hello", "José", "a=b", "1+1", "'quoted", "555-0123", " plain", "x-1"]
)
def test_plain_text_unchanged(text: str) -> None:
    assert safe_cell(text) == text


def test_phone_kind() -> None:
    assert safe_cell("+15555550123", kind="phone") == "+15555550123"
    assert safe_cell("+15555550123") == "'+15555550123"  # as text it is escaped
    # Not E.164 → text rule even in a phone column.
    assert safe_cell("+1 555 555 0123", kind="phone") == "'+1 555 555 0123"
    assert safe_cell("+0555550123", kind="phone") == "'+0555550123"
    assert safe_cell("+1555", kind="phone") == "'+1555"
    assert safe_cell("+1555555012345678", kind="phone") == "'+1555555012345678"
    assert safe_cell("+15555550123\n", kind="phone") == "'+15555550123\n"
    assert safe_cell("=1+15555550123", kind="phone") == "'=1+15555550123"
    assert safe_cell("5555550123", kind="phone") == "5555550123"


@pytest.mark.parametrize("text", ["-5", "+5", "-12.50", "-.5", "1e3", "-1E-3", "0"])
def test_number_kind_numeric_strings_unchanged(text: str) -> None:
    assert safe_cell(text, kind="number") == text


@pytest.mark.parametrize("text", ["-2+3", "-1-1", "-5 ", "- 5", "-1e", "--5", "-", "-0x1f"])
def test_number_kind_non_numeric_strings_escaped(text: str) -> None:
    assert safe_cell(text, kind="number") == "'" + text


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, ""),
        (-5, "-5"),
        (0, "0"),
        (12345678901234567890, "12345678901234567890"),
        (-2.5, "-2.5"),
        (Decimal("-12.50"), "-12.50"),
        (True, "true"),
        (False, "false"),
        (float("-inf"), "'-inf"),
        (float("nan"), "nan"),
        (Decimal("-Infinity"), "'-Infinity"),
        (uuid.UUID(int=1), "00000000-0000-0000-0000-000000000001"),
    ],
)
def test_non_string_values(value: object, expected: str) -> None:
    assert safe_cell(value) == expected
    assert safe_cell(value, kind="number") == expected


def test_objects_go_through_the_text_rule() -> None:
    class Evil:
        def __str__(self) -> str:
            return "=1+1"

    assert safe_cell(Evil()) == "'=1+1"


def test_bytes_and_unknown_kind_refused() -> None:
    with pytest.raises(TypeError):
        safe_cell(b"=1")
    with pytest.raises(ValueError, match="kind"):
        safe_cell("x", kind="email")


@given(st.text())
def test_text_output_never_starts_dangerously(text: str) -> None:
    out = safe_cell(text)
    assert not is_dangerous(out)
    assert out in (text, "'" + text)  # the only change is a one-character prefix


@given(st.text(), st.sampled_from(["phone", "number"]))
def test_kinded_output_dangerous_only_when_pattern_matches(text: str, kind: str) -> None:
    out = safe_cell(text, kind=kind)
    if is_dangerous(out):
        assert out == text
        if kind == "phone":
            assert out.startswith("+")
            assert out[1:].isascii()
            assert out[1:].isdigit()
        else:
            assert float(out) == float(out)  # a real number literal


@given(st.from_regex(r"\+[1-9][0-9]{6,14}", fullmatch=True))
def test_e164_phones_round_trip(phone: str) -> None:
    assert safe_cell(phone, kind="phone") == phone
    data = b"".join(stream_csv(["phone"], [[phone]], kinds=["phone"]))
    assert read_back(data) == [["phone"], [phone]]


# -- stream_csv -----------------------------------------------------------------


def test_small_export() -> None:
    rows: list[list[object]] = [
        ['=HYPERLINK("http://x","y")', "+15555550123", -5],
        ['José, "the" broker\r\nline 2', "+1 555", None],
    ]
    data = b"".join(stream_csv(["name", "phone", "n"], rows, kinds=["text", "phone", "number"]))
    assert data == (
        b'name,phone,n\r\n"\'=HYPERLINK(""http://x"",""y"")",+15555550123,-5\r\n'
        + '"José, ""the"" broker\r\nline 2",\'+1 555,\r\n'.encode()
    )
    assert read_back(data) == [
        ["name", "phone", "n"],
        ['\'=HYPERLINK("http://x","y")', "+15555550123", "-5"],
        ['José, "the" broker\r\nline 2', "'+1 555", ""],
    ]


def test_bom_option() -> None:
    plain = b"".join(stream_csv(["a"], [["é"]]))
    with_bom = b"".join(stream_csv(["a"], [["é"]], bom=True))
    assert not plain.startswith(b"\xef\xbb\xbf")
    assert with_bom == b"\xef\xbb\xbf" + plain
    assert with_bom.decode("utf-8-sig") == "a\r\né\r\n"


def test_header_only() -> None:
    assert list(stream_csv(["a", "=b"], [])) == [b"a,'=b\r\n"]


def test_argument_errors_are_eager() -> None:
    with pytest.raises(ValueError, match="kinds"):
        stream_csv(["a", "b"], [], kinds=["text"])
    with pytest.raises(ValueError, match="unknown"):
        stream_csv(["a"], [], kinds=["email"])
    with pytest.raises(ValueError, match="header"):
        stream_csv([], [])


def test_ragged_row() -> None:
    chunks = stream_csv(["a", "b"], [["1", "2"], ["3"]])
    with pytest.raises(ValueError, match="row 2"):
        list(chunks)


cell_values = st.one_of(
    st.none(),
    st.integers(),
    st.decimals(allow_nan=False, allow_infinity=False),
    st.text(),
    st.text(alphabet="=+-@\t\r\n\0 ,\"'a1", max_size=8),
)


@given(st.lists(st.lists(cell_values, min_size=3, max_size=3), max_size=20), st.booleans())
def test_round_trip_equals_safe_cells(rows: list[list[object]], bom: bool) -> None:
    kinds = ["text", "phone", "number"]
    data = b"".join(stream_csv(["a", "b", "c"], rows, kinds=kinds, bom=bom, chunk_size=50))
    text = data.decode("utf-8-sig" if bom else "utf-8")
    parsed = list(csv.reader(io.StringIO(text, newline="")))
    expected = [[safe_cell(v, kind=k) for v, k in zip(row, kinds, strict=True)] for row in rows]
    assert parsed == [["a", "b", "c"], *expected]


def test_chunks_are_bounded_and_concatenate() -> None:
    rows = ([str(i), "x" * 100, i] for i in range(5_000))
    chunks = list(stream_csv(["id", "pad", "n"], rows))
    assert len(chunks) > 5
    # Each chunk is one threshold plus at most one row.
    assert all(len(c) < DEFAULT_CHUNK_SIZE + 200 for c in chunks)
    assert all(len(c) >= DEFAULT_CHUNK_SIZE for c in chunks[:-1])
    assert len(read_back(b"".join(chunks))) == 5_001


def test_stream_is_lazy() -> None:
    pulled = 0

    def rows() -> Iterator[list[object]]:
        nonlocal pulled
        for i in itertools.count():
            pulled += 1
            yield [i, f"lead {i}", "+15555550123"]

    chunks = stream_csv(["id", "name", "phone"], rows(), kinds=["number", "text", "phone"])
    assert pulled == 0  # nothing read until the first chunk is asked for
    first = next(chunks)
    assert 0 < pulled < 5_000
    assert len(first) >= DEFAULT_CHUNK_SIZE
    next(chunks)
    assert pulled < 10_000


@pytest.mark.slow  # ~5 s: tracemalloc slows every allocation
def test_memory_is_flat_for_200k_rows() -> None:
    row_count = 200_000

    def rows() -> Iterator[tuple[object, ...]]:
        for i in range(row_count):
            yield (i, f"=evil {i}", "+15555550123", Decimal("-1.50"), None)

    header = ["id", "name", "phone", "amount", "note"]
    kinds = ["number", "text", "phone", "number", "text"]
    total = 0
    chunk_count = 0
    tracemalloc.start()
    try:
        for chunk in stream_csv(header, rows(), kinds=kinds):
            total += len(chunk)
            chunk_count += 1
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total > 8_000_000  # the whole file is ~8 MB ...
    assert chunk_count > 100
    # ... yet the peak is a few chunks' worth (measured ~0.5 MB; the margin
    # absorbs interpreter differences, not a file-sized buffer).
    assert peak < 1_500_000
