"""In-file dedupe: rows sharing any identity key, transitively, are one property.

The database lists the links (a row whose key value an earlier row of the
file has, with that earliest row) and settles them into connected
components by rounds of label propagation with hooking and pointer jumping;
this drives the rounds. It all stays in the database, so the application's memory does
not grow with the number of duplicates in a file.
"""

from __future__ import annotations

from dataclasses import dataclass

from equity_connect.db import queries
from equity_connect.db.pool import Conn

Q = queries.load("equity_connect.ingest")


@dataclass(frozen=True)
class Linked:
    """How many staged rows share a key with another row, in how many components."""

    rows: int
    components: int


def connected_components(conn: Conn) -> Linked:
    """Fill ``ingest_components`` from ``ingest_stage`` (both scratch tables of an ingest)."""
    conn.execute(Q["create_links"])
    return components_of_links(conn)


def components_of_links(conn: Conn) -> Linked:
    """Fill ``ingest_components`` from the links in ``ingest_links``."""
    conn.execute(Q["create_edges"])
    rows = conn.execute(Q["create_components"]).rowcount
    conn.execute(Q["index_components"])
    # Hooking makes this a few rounds even for long chains. Bound: after k
    # rounds a row's root is at most the smallest row within k links of it,
    # so rows + 1 rounds always suffice.
    for _ in range(rows + 1):
        if conn.execute(Q["settle_components"]).rowcount == 0:
            break
    else:
        raise RuntimeError(f"in-file dedupe did not settle in {rows + 1} rounds")
    conn.execute(Q["analyze_components"])
    found = conn.execute(Q["count_components"]).fetchone()
    assert found is not None  # an aggregate always returns a row
    return Linked(found["rows"], found["components"])
