"""Match weights: a pair's score and the evidence behind it."""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from equity_connect.matching.compare import Candidate, compare, hard_conflict


@dataclass(frozen=True)
class Weights:
    """The versioned parameters of ``weights.toml``: a weight per field and level."""

    version: str
    merge: float
    review: float
    by_level: dict[str, dict[str, float]]

    def weight(self, field: str, level: str) -> float:
        return self.by_level[field][level]


def _weight(m: float, u: float) -> float:
    if m <= 0:
        return -math.inf
    return math.log2(m / u)


def parse_weights(document: dict[str, Any]) -> Weights:
    """Weights from the TOML document's tables, refusing an incomplete one."""
    thresholds = document["thresholds"]
    by_level: dict[str, dict[str, float]] = {}
    for field in ("house_number", "street", "unit", "place", "owner"):
        levels = document[field]
        by_level[field] = {
            level: _weight(float(p["m"]), float(p["u"])) for level, p in levels.items()
        }
    merge, review = float(thresholds["merge"]), float(thresholds["review"])
    if review > merge:
        raise ValueError("weights: the review threshold is above the merge threshold")
    return Weights(str(document["version"]), merge, review, by_level)


@lru_cache(maxsize=1)
def default_weights() -> Weights:
    """The packaged ``weights.toml``."""
    text = resources.files("equity_connect.matching").joinpath("weights.toml").read_text()
    return parse_weights(tomllib.loads(text))


@dataclass(frozen=True)
class PairScore:
    """How alike two rows are: the total weight, each field's level, and any veto."""

    score: float
    levels: dict[str, str]
    conflict: str | None

    @property
    def agreed(self) -> list[str]:
        return [f for f, level in self.levels.items() if level in _AGREEING]

    @property
    def differed(self) -> list[str]:
        return [f for f, level in self.levels.items() if level in _DIFFERING]

    def evidence(self, weights: Weights) -> dict[str, Any]:
        """What lineage records of a probabilistic match (JSON-ready)."""
        return {
            "score": round(self.score, 2),
            "weights_version": weights.version,
            "levels": self.levels,
            "agreed": self.agreed,
            "differed": self.differed,
        }


_AGREEING = frozenset({"exact", "zip", "full", "close", "transposed", "one_key_off", "fuzzy"})
_DIFFERING = frozenset({"different", "one_digit", "city_not_zip"})


def score_pair(a: Candidate, b: Candidate, weights: Weights | None = None) -> PairScore:
    """Score two rows; a hard conflict scores minus infinity."""
    weights = weights or default_weights()
    conflict = hard_conflict(a, b)
    levels = compare(a, b)
    if conflict is not None:
        return PairScore(-math.inf, levels, conflict)
    total = sum(weights.weight(field, level) for field, level in levels.items())
    return PairScore(total, levels, None)
