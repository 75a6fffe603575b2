"""In-file dedupe: rows sharing any identity key, transitively, are one property.

The database finds the groups of rows sharing each key (a hash aggregate);
this joins them into connected components with a union-find. Only rows that
share a key take part, so memory follows the number of duplicates, not the
size of the file.
"""

from __future__ import annotations

from collections.abc import Iterable

from equity_connect.ingest.schemas import MatchKey

# The order in which keys are trusted, strongest first (the query's key ids).
KEY_BY_ID: dict[int, MatchKey] = {1: MatchKey.MAK, 2: MatchKey.APN, 3: MatchKey.ADDR_HASH}


def components(groups: Iterable[tuple[int, list[int]]]) -> dict[int, tuple[int, MatchKey]]:
    """``{row: (root, link)}`` for every row that shares a key with another row.

    ``groups`` are ``(key id, rows sharing one value of that key)``. ``root``
    is the first row of the row's component (the one that becomes the lead);
    ``link`` the strongest key the row shares with another row.
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

    for key_id, rows in groups:
        for row in rows:
            parent.setdefault(row, row)
            link[row] = min(link.get(row, key_id), key_id)
        first = find(rows[0])
        for row in rows[1:]:
            other = find(row)
            if other != first:
                # the smaller row number stays root: "first in file wins"
                if other < first:
                    first, other = other, first
                parent[other] = first
    return {row: (find(row), KEY_BY_ID[link[row]]) for row in parent}
