"""Property tests: every messy spelling of one property dedupes to one lead; traps don't."""

from __future__ import annotations

import itertools
import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from equity_connect.db.pool import Conn
from equity_connect.ingest.dedupe import components_of_links
from equity_connect.ingest.schemas import MatchKey
from equity_connect.security.crypto import PiiCipher
from tests.ingest.helpers import csv_bytes, row, run_ingest

SUFFIXES = [
    ("Street", "St"),
    ("Avenue", "Ave"),
    ("Boulevard", "Blvd"),
    ("Drive", "Dr"),
    ("Road", "Rd"),
    ("Lane", "Ln"),
    ("Court", "Ct"),
    ("Place", "Pl"),
]
DIRS = [("North", "N"), ("South", "S"), ("East", "E"), ("West", "W")]
STREETS = ["Main", "Oak", "Maple", "Cedar", "Lincoln", "Sunset", "Highland"]


@st.composite
def address(draw: st.DrawFn) -> dict[str, object]:
    return {
        "num": draw(st.integers(min_value=1, max_value=29_999)),
        "dir": draw(st.sampled_from([*DIRS, None])),
        "street": draw(st.sampled_from(STREETS)),
        "suffix": draw(st.sampled_from(SUFFIXES)),
        "unit": draw(st.one_of(st.none(), st.integers(min_value=1, max_value=40))),
        "zip": draw(st.sampled_from(["90001", "02134", "85004"])),
    }


@st.composite
def spelling(draw: st.DrawFn, a: dict[str, object]) -> str:
    parts = [str(a["num"])]
    if a["dir"] is not None:
        long, short = a["dir"]  # type: ignore[misc]
        parts.append(draw(st.sampled_from([long, short, short + "."])))
    parts.append(str(a["street"]))
    long, short = a["suffix"]  # type: ignore[misc]
    parts.append(draw(st.sampled_from([long, short, short + ".", short.upper()])))
    line = " ".join(parts)
    if a["unit"] is not None:
        u = a["unit"]
        line += draw(st.sampled_from([f" Apt {u}", f" #{u}", f" Unit {u}", f", Apt. {u}"]))
    case = draw(st.sampled_from([str, str.upper, str.lower]))
    pad = draw(st.sampled_from(["", " ", "  "]))
    return pad + case(line) + pad


def state_of(zip5: str) -> str:
    return {"90001": "CA", "02134": "MA", "85004": "AZ"}[zip5]


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data(), base=address())
def test_spellings_of_one_property_make_one_lead(
    conn: Conn, cipher: PiiCipher, data: st.DataObject, base: dict[str, object]
) -> None:
    spellings = data.draw(st.lists(spelling(base), min_size=2, max_size=5))
    rows = [
        row(property_address=s, property_zip=base["zip"], property_state=state_of(str(base["zip"])))
        for s in spellings
    ]
    with conn.transaction(force_rollback=True):
        report = run_ingest(conn, cipher, csv_bytes(rows), source=uuid.uuid4().hex)
        assert (report.inserted, report.merged, report.rejected) == (1, len(rows) - 1, 0)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data(), base=address(), trap=st.sampled_from(["num", "unit", "zip", "dir"]))
def test_a_neighbouring_property_is_never_merged(
    conn: Conn, cipher: PiiCipher, data: st.DataObject, base: dict[str, object], trap: str
) -> None:
    other = dict(base)
    if trap == "num":
        other["num"] = int(base["num"]) % 29_999 + 1  # type: ignore[call-overload]
    elif trap == "unit":
        other["unit"] = (base["unit"] or 0) + 1  # type: ignore[operator]
    elif trap == "zip":
        other["zip"] = "90001" if base["zip"] != "90001" else "02134"
    else:
        other["dir"] = DIRS[(DIRS.index(base["dir"]) + 1) % 4] if base["dir"] else DIRS[0]  # type: ignore[arg-type]
    rows = [
        row(
            property_address=data.draw(spelling(a)),
            property_zip=a["zip"],
            property_state=state_of(str(a["zip"])),
        )
        for a in (base, other)
    ]
    with conn.transaction(force_rollback=True):
        report = run_ingest(conn, cipher, csv_bytes(rows), source=uuid.uuid4().hex)
        assert (report.inserted, report.merged) == (2, 0)


def union_find(links: list[tuple[int, int, int]]) -> dict[int, tuple[int, MatchKey]]:
    """The oracle: ``{row: (smallest row of its component, strongest key touching it)}``."""
    parent: dict[int, int] = {}
    link: dict[int, int] = {}

    def find(x: int) -> int:
        while parent[x] != x:
            x = parent[x]
        return x

    for key_id, first, other in links:
        for r in (first, other):
            parent.setdefault(r, r)
            link[r] = min(link.get(r, key_id), key_id)
        a, b = sorted((find(first), find(other)))
        parent[b] = a
    keys = {1: MatchKey.MAK, 2: MatchKey.APN, 3: MatchKey.ADDR_HASH}
    return {r: (find(r), keys[link[r]]) for r in parent}


def settle(conn: Conn, links: list[tuple[int, int, int]]) -> dict[int, tuple[int, MatchKey]]:
    """Run the database's component settling over ``links``."""
    conn.execute("create temp table ingest_links (key int, first int, row int) on commit drop")
    with conn.cursor().copy("copy ingest_links (key, first, row) from stdin") as copy:
        for link in links:
            copy.write_row(link)
    linked = components_of_links(conn)
    got = {
        r["row_number"]: (r["root"], MatchKey(r["link"]))
        for r in conn.execute("select row_number, root, link from ingest_components")
    }
    assert (linked.rows, linked.components) == (len(got), len({root for root, _ in got.values()}))
    return got


def test_a_long_chain_linked_out_of_order_settles(conn: Conn) -> None:
    # Rows 1, L+1, L, ..., 2 chained pairwise by alternating keys: the root
    # must travel the whole chain, which plain label propagation does one
    # link per round.
    order = [1, *range(301, 1, -1)]
    links = [
        (1 if i % 2 else 3, min(a, b), max(a, b))
        for i, (a, b) in enumerate(itertools.pairwise(order))
    ]
    with conn.transaction(force_rollback=True):
        got = settle(conn, links)
    assert got == union_find(links)
    assert {root for root, _ in got.values()} == {1}


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([1, 2, 3]),
            st.lists(st.integers(min_value=1, max_value=60), min_size=2, max_size=6, unique=True),
        ),
        max_size=25,
    )
)
def test_components_are_transitive_and_rooted_at_the_first_row(
    conn: Conn, groups: list[tuple[int, list[int]]]
) -> None:
    # Each group: rows sharing one value of one key, linked to its first row.
    links = [(k, min(rows), r) for k, rows in groups for r in rows if r != min(rows)]
    with conn.transaction(force_rollback=True):
        got = settle(conn, links)
    assert got == union_find(links)
