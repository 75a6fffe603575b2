"""Lead scoring: bounded, monotone in equity, lowered by DNC."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from equity_connect.scoring.model import ScoreInputs, score

NOW = datetime(2026, 11, 26, 12, tzinfo=UTC)

inputs = st.builds(
    ScoreInputs,
    estimated_value=st.one_of(st.none(), st.integers(0, 5_000_000)),
    estimated_equity=st.one_of(st.none(), st.integers(-100_000, 5_000_000)),
    owner_age=st.one_of(st.none(), st.integers(0, 130)),
    phone_verified=st.booleans(),
    email_verified=st.booleans(),
    phone_dnc=st.booleans(),
    data_as_of=st.one_of(st.none(), st.integers(0, 400).map(lambda d: NOW - timedelta(days=d))),
)


@given(inputs)
def test_score_is_bounded_and_adds_up(i: ScoreInputs) -> None:
    s = score(i, now=NOW)
    assert 0 <= s.total <= 100
    parts = s.equity_share + s.equity_amount + s.owner_age + s.phone + s.email + s.dnc + s.freshness
    assert s.total == max(0, min(100, parts))


@given(inputs, st.integers(0, 1_000_000))
def test_more_equity_never_lowers_the_score(i: ScoreInputs, more: int) -> None:
    richer = replace(i, estimated_equity=(i.estimated_equity or 0) + more)
    assert score(richer, now=NOW).total >= score(i, now=NOW).total


@given(inputs)
def test_dnc_never_raises_the_score(i: ScoreInputs) -> None:
    assert (
        score(replace(i, phone_dnc=True), now=NOW).total
        <= score(replace(i, phone_dnc=False), now=NOW).total
    )


def test_a_strong_lead_and_a_weak_one() -> None:
    strong = ScoreInputs(600_000, 550_000, 70, True, True, False, NOW - timedelta(days=3))
    weak = ScoreInputs(300_000, 20_000, 40, False, False, True, None)
    assert score(strong, now=NOW).total >= 90
    assert score(weak, now=NOW).total == 0
    assert score(strong, now=NOW).as_json()["owner_age"] == 15
