"""Lead score 0–100 from documented factors, with a per-factor breakdown.

The product is home-equity lending (HECM reverse mortgages and equity
loans), so the weights follow what makes a lead bookable:

| factor | points | why |
|---|---|---|
| equity share (equity ÷ value) | 0–35, linear | the loan size available is a share of equity |
| equity amount | 0–15, linear to $500k | small absolute equity rarely justifies a loan |
| owner age | 15 at 62+, 8 at 55–61 | 62 is the HECM eligibility age |
| reachable phone | 15 if verified and not on a DNC list | calls convert best |
| reachable email | 10 if verified | the daily feed is email |
| DNC phone | −15 | TCPA: the phone channel is closed, and such owners rarely convert |
| data freshness | 10 within 30 days, 5 within 90 | stale skip-trace data bounces |

The total is clamped to 0–100 (the database checks the range too).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

EQUITY_SHARE_POINTS = 35
EQUITY_AMOUNT_POINTS = 15
EQUITY_AMOUNT_FULL = 500_000
AGE_HECM = 62
AGE_NEAR = 55
PHONE_POINTS = 15
EMAIL_POINTS = 10
DNC_PENALTY = -15
FRESH_DAYS, FRESH_POINTS = 30, 10
RECENT_DAYS, RECENT_POINTS = 90, 5


@dataclass(frozen=True)
class ScoreInputs:
    """What the score depends on; a change to any of these warrants a re-score."""

    estimated_value: int | None
    estimated_equity: int | None
    owner_age: int | None
    phone_verified: bool
    email_verified: bool
    phone_dnc: bool
    data_as_of: datetime | None


@dataclass(frozen=True)
class ScoreBreakdown:
    """Points per factor and their clamped total (stored in ``leads.score_breakdown``)."""

    equity_share: int
    equity_amount: int
    owner_age: int
    phone: int
    email: int
    dnc: int
    freshness: int
    total: int

    def as_json(self) -> dict[str, int]:
        """JSON for the jsonb column."""
        return asdict(self)


def score(inputs: ScoreInputs, *, now: datetime) -> ScoreBreakdown:
    """Score a lead. Pure: the same inputs and ``now`` always give the same result."""
    equity = max(0, inputs.estimated_equity or 0)
    value = inputs.estimated_value or 0
    share = min(1.0, equity / value) if value > 0 else 0.0
    equity_share = round(EQUITY_SHARE_POINTS * share)
    equity_amount = round(EQUITY_AMOUNT_POINTS * min(1.0, equity / EQUITY_AMOUNT_FULL))
    age = inputs.owner_age or 0
    owner_age = 15 if age >= AGE_HECM else 8 if age >= AGE_NEAR else 0
    phone = PHONE_POINTS if inputs.phone_verified and not inputs.phone_dnc else 0
    email = EMAIL_POINTS if inputs.email_verified else 0
    dnc = DNC_PENALTY if inputs.phone_dnc else 0
    freshness = 0
    if inputs.data_as_of is not None:
        age_of_data = now - inputs.data_as_of
        if age_of_data <= timedelta(days=FRESH_DAYS):
            freshness = FRESH_POINTS
        elif age_of_data <= timedelta(days=RECENT_DAYS):
            freshness = RECENT_POINTS
    raw = equity_share + equity_amount + owner_age + phone + email + dnc + freshness
    return ScoreBreakdown(
        equity_share, equity_amount, owner_age, phone, email, dnc, freshness, max(0, min(100, raw))
    )
