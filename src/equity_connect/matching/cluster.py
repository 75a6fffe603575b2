"""Clusters joined in score order, so no hard constraint is broken transitively.

Pairs are only ever compared two at a time, but a cluster is many rows: A~B
and B~C would make A and C one property even when A and C have different
MAKs. Each cluster therefore carries what constrains it (its MAK, its APN
per county, its unit per house number) and two clusters join only when
those agree, strongest pair first, as a greedy agglomeration does.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from equity_connect.matching.compare import Candidate


@dataclass
class _Facts:
    lead: str | None = None
    mak: str | None = None
    apns: dict[str, str] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, c: Candidate) -> _Facts:
        facts = cls(lead=c.lead, mak=c.mak)
        if c.county is not None and c.apn:
            facts.apns[c.county] = c.apn
        if c.number is not None and c.unit is not None:
            facts.units[c.number] = c.unit
        return facts

    def conflicts(self, other: _Facts) -> bool:
        if self.lead is not None and other.lead is not None and self.lead != other.lead:
            return True
        if self.mak is not None and other.mak is not None and self.mak != other.mak:
            return True
        for county, apn in other.apns.items():
            if self.apns.get(county, apn) != apn:
                return True
        return any(self.units.get(n, u) != u for n, u in other.units.items())

    def absorb(self, other: _Facts) -> None:
        self.lead = self.lead or other.lead
        self.mak = self.mak or other.mak
        self.apns.update(other.apns)
        self.units.update(other.units)


class Clusters:
    """Union-find over row indexes, refusing unions that break a constraint."""

    def __init__(self, candidates: list[Candidate]) -> None:
        self._parent = list(range(len(candidates)))
        self._facts = [_Facts.of(c) for c in candidates]
        self._apart: list[set[int]] = [set() for _ in candidates]

    def find(self, i: int) -> int:
        parent = self._parent
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def keep_apart(self, pairs: Iterable[tuple[int, int]]) -> None:
        """From now on, never join a cluster holding one row of a pair with one holding
        the other (an ops "apart" decision, which holds transitively)."""
        for i, j in pairs:
            self._apart[self.find(i)].add(j)
            self._apart[self.find(j)].add(i)

    def _kept_apart(self, a: int, b: int) -> bool:
        return any(self.find(x) == b for x in self._apart[a]) or any(
            self.find(x) == a for x in self._apart[b]
        )

    def join(self, i: int, j: int) -> bool:
        """Join the clusters of rows ``i`` and ``j``; False when that would break a constraint."""
        a, b = self.find(i), self.find(j)
        if a == b:
            return True
        if self._facts[a].conflicts(self._facts[b]) or self._kept_apart(a, b):
            return False
        if b < a:  # the earliest row names the cluster, as the exact cascade does
            a, b = b, a
        self._parent[b] = a
        self._facts[a].absorb(self._facts[b])
        self._apart[a] |= self._apart[b]
        return True

    def labels(self) -> list[int]:
        return [self.find(i) for i in range(len(self._parent))]
