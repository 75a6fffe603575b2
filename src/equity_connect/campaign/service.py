"""The daily feed: refresh the contactable set, pick the best leads under the
day's cap, assign brokers, reserve them for a push to the campaign provider.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from psycopg.types.json import Jsonb

from equity_connect.campaign.instantly import AddLeadsResult, InstantlyLead, skip_reasons
from equity_connect.db import queries
from equity_connect.db.pool import Conn
from equity_connect.jobs import service as jobs
from equity_connect.outbound.retry import MalformedResponse

Q = queries.load("equity_connect.campaign")
PUSH_BATCH = "campaign.push_batch"


@dataclass(frozen=True)
class FeedPick:
    """One lead the feeder chose, and where it goes."""

    lead_id: uuid.UUID
    score: int
    broker_id: uuid.UUID
    broker_name: str
    campaign_id: str


@dataclass(frozen=True)
class FeedResult:
    """What a feeder run did (or, dry, would do)."""

    business_date: date
    cap: int
    fed_before: int
    picks: list[FeedPick] = field(default_factory=list)
    batch_id: uuid.UUID | None = None
    dry_run: bool = False

    @property
    def counts(self) -> dict[str, Any]:
        """For job_runs and events."""
        return {"picked": len(self.picks), "cap": self.cap, "fed_before": self.fed_before}


def refresh_contactable(conn: Conn) -> int:
    """Refresh the contactable view (concurrently: readers never block) and queue new leads."""
    conn.execute(Q["refresh_contactable"])
    return conn.execute(Q["queue_contactable"]).rowcount


def _assign(
    candidates: list[dict[str, Any]], brokers: list[dict[str, Any]], default_campaign: str | None
) -> list[FeedPick]:
    """Round-robin over brokers with capacity left, in candidate (score) order."""
    open_brokers = [dict(b) for b in brokers if b["remaining"] > 0]
    # Start with the broker who has the most room, so no one is always first.
    open_brokers.sort(key=lambda b: (-b["remaining"], str(b["id"])))
    picks: list[FeedPick] = []
    turn = 0
    for lead in candidates:
        if not open_brokers:
            break
        broker = open_brokers[turn % len(open_brokers)]
        campaign = broker["instantly_campaign_id"] or default_campaign
        if campaign is None:
            raise ValueError(
                f"broker {broker['name']!r} has no campaign and no default is configured"
            )
        picks.append(
            FeedPick(lead["id"], lead["lead_score"], broker["id"], broker["name"], campaign)
        )
        broker["remaining"] -= 1
        if broker["remaining"] == 0:
            open_brokers.remove(broker)
        else:
            turn += 1
    return picks


def feed(
    conn: Conn,
    *,
    business_date: date,
    cap: int,
    default_campaign: str | None,
    dry_run: bool = False,
) -> FeedResult:
    """Reserve up to the day's remaining cap of the best leads and queue their push.

    The cap holds across re-runs, manual runs and concurrent runs: the day's
    row is locked for the transaction and counted in it. With ``dry_run``
    nothing is written (the caller's transaction is left as it was).
    """
    with conn.transaction(force_rollback=dry_run):
        conn.execute(Q["ensure_feed_day"], {"business_date": business_date, "cap": cap})
        day = conn.execute(Q["lock_feed_day"], {"business_date": business_date}).fetchone()
        assert day is not None  # ensured just above
        remaining = max(0, day["cap"] - day["fed_count"])
        candidates = (
            conn.execute(Q["feed_candidates"], {"limit": remaining}).fetchall() if remaining else []
        )
        brokers = conn.execute(Q["brokers_with_capacity"], {"business_date": business_date})
        picks = _assign(candidates, brokers.fetchall(), default_campaign)
        result = FeedResult(business_date, day["cap"], day["fed_count"], picks, dry_run=dry_run)
        if dry_run or not picks:
            return result
        batch = conn.execute(
            Q["create_batch"],
            {
                "business_date": business_date,
                "lead_count": len(picks),
                "detail": Jsonb({"brokers": sorted({str(p.broker_id) for p in picks})}),
            },
        ).fetchone()
        assert batch is not None  # INSERT … RETURNING
        conn.execute(
            Q["reserve_leads"],
            {
                "batch_id": batch["id"],
                "business_date": business_date,
                "lead_ids": [p.lead_id for p in picks],
                "broker_ids": [p.broker_id for p in picks],
                "campaign_ids": [p.campaign_id for p in picks],
            },
        )
        conn.execute(Q["count_fed"], {"business_date": business_date, "n": len(picks)})
        jobs.enqueue(conn, PUSH_BATCH, {"batch_id": str(batch["id"])})
        record_event(conn, "feed", "reserved", len(picks), correlation_id=str(batch["id"]))
        return FeedResult(business_date, day["cap"], day["fed_count"], picks, batch_id=batch["id"])


def record_event(
    conn: Conn,
    stage: str,
    outcome: str,
    count: int,
    *,
    provider: str | None = None,
    broker_id: uuid.UUID | None = None,
    correlation_id: str | None = None,
    **detail: Any,
) -> None:
    """A pipeline event of the campaign stages."""
    conn.execute(
        Q["record_event"],
        {
            "stage": stage,
            "outcome": outcome,
            "count": count,
            "provider": provider,
            "broker_id": broker_id,
            "correlation_id": correlation_id,
            "detail": Jsonb(detail),
        },
    )


@dataclass(frozen=True)
class PushOutcome:
    """What one import call did to the leads it carried."""

    activated: list[uuid.UUID] = field(default_factory=list)
    skipped: list[uuid.UUID] = field(default_factory=list)


def record_push(
    conn: Conn,
    batch_id: uuid.UUID,
    rows: list[dict[str, Any]],
    leads: list[InstantlyLead],
    result: AddLeadsResult,
    *,
    campaign_id: str,
    provider: str,
) -> PushOutcome:
    """Apply one import call's answer: created leads become active, the rest are skipped.

    ``rows[i]`` is the lead sent as ``leads[i]``. Only a lead in ``created_leads`` is in
    the campaign; a skipped one stays reserved (never picked or sent again), gives its
    broker's slot and the day's cap back, and gets a ``fed/skipped`` event carrying the
    reason Instantly gave (:func:`~equity_connect.campaign.instantly.skip_reasons`), which
    ``equity-connect feed-skipped`` lists. Idempotent: a lead already marked either way is
    left as it is.
    """
    created = {c.index for c in result.created_leads}
    if result.leads_uploaded is not None and result.leads_uploaded != len(created):
        # The counters and the list disagree, so which lead is in the campaign is unknown:
        # a dead letter for ops, not a guess (nothing is marked either way).
        raise MalformedResponse(
            provider,
            "leads_uploaded disagrees with created_leads; check the campaign before replaying",
        )
    created_ids = [rows[i]["id"] for i in sorted(created)]
    activated = {
        a["id"] for a in conn.execute(Q["mark_active"], {"lead_ids": created_ids}).fetchall()
    }
    per_broker: dict[Any, int] = {}
    for r in rows:
        if r["id"] in activated:
            per_broker[r["broker_id"]] = per_broker.get(r["broker_id"], 0) + 1
    for broker_id, n in per_broker.items():
        record_event(
            conn,
            "fed",
            "pushed",
            n,
            provider=provider,
            broker_id=broker_id,
            correlation_id=str(batch_id),
        )
    reasons = skip_reasons(result, leads)
    by_id = {rows[i]["id"]: reason for i, reason in reasons.items()}
    marked = conn.execute(
        Q["mark_skipped"], {"lead_ids": list(by_id), "batch_id": batch_id}
    ).fetchall()
    if marked:
        conn.execute(Q["uncount_fed"], {"batch_id": batch_id, "n": len(marked)})
    counters = {
        name: getattr(result, name)
        for name in (
            "total_sent",
            "leads_uploaded",
            "skipped_count",
            "duplicated_leads",
            "in_blocklist",
            "invalid_email_count",
            "duplicate_email_count",
            "incomplete_count",
        )
    }
    for m in marked:
        code, text = by_id[m["id"]]
        conn.execute(
            Q["record_lead_event"],
            {
                "stage": "fed",
                "outcome": "skipped",
                "provider": provider,
                "lead_id": m["id"],
                "broker_id": m["assigned_broker_id"],
                "correlation_id": str(batch_id),
                "detail": Jsonb(
                    {
                        "campaign_id": campaign_id,
                        "reason": code,
                        "reason_text": text,
                        "counts": counters,
                    }
                ),
            },
        )
    return PushOutcome([r["id"] for r in rows if r["id"] in activated], [m["id"] for m in marked])
