"""In-file dedupe: rows sharing any identity key, transitively, are one property.

The database lists the links (a row whose key value an earlier row of the
file has, with that earliest row); this joins them into connected components
with a union-find. Only rows that share a key take part, so memory follows
the number of duplicates, not the size of the file.
"""

from __future__ import annotations

from collections.abc import Iterable

from equity_connect.ingest.schemas import MatchKey

# The order in which keys are trusted, strongest first (the query's key ids).
KEY_BY_ID: dict[int, MatchKey] = {1: MatchKey.MAK, 2: MatchKey.APN, 3: MatchKey.ADDR_HASH}


def components(links: Iterable[tuple[int, int, int]]) -> dict[int, tuple[int, MatchKey]]:
    """``{row: (root, link)}`` for every row that shares a key with another row.

    ``links`` are ``(key id, first row, row)``: ``row`` has the same value of
    that key as ``first``, the earliest row with it. ``root`` is the first row
    of the row's component (the one that becomes the lead); ``link`` the
    strongest key the row shares with another row.
    """
    parent: dict[int, int] = {}
    link: dict[int, int] = {}

    def find(x: int) -> int:
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:  # path compression keeps later finds O(1)
            parent[x], x = root, parent[x]
        return root

    for key_id, first, row in links:
        for r in (first, row):
            parent.setdefault(r, r)
            link[r] = min(link.get(r, key_id), key_id)
        a, b = find(first), find(row)
        if a != b:
            # the smaller row number stays root: "first in file wins"
            if b < a:
                a, b = b, a
            parent[b] = a
    return {row: (find(row), KEY_BY_ID[link[row]]) for row in parent}
