"""Campaign jobs: the scheduled refresh and feed, and the push of a feed batch."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import date
from typing import Any

from psycopg.types.json import Jsonb

from equity_connect.campaign.instantly import (
    InstantlyClient,
    InstantlyLead,
    LeadImporter,
    SimulatedInstantly,
    batches,
)
from equity_connect.campaign.runs import feed_run, refresh_run
from equity_connect.campaign.service import PUSH_BATCH, Q, record_push
from equity_connect.config import Settings
from equity_connect.jobs.registry import TaskContext, registry
from equity_connect.jobs.worker import PermanentJobError
from equity_connect.security.crypto import PiiCipher
from equity_connect.security.pii import lead_contact

_SIMULATED = SimulatedInstantly()


def importer_for(settings: Settings) -> LeadImporter:
    """The configured campaign provider. Unset is an error, not a silent simulation."""
    if settings.campaign_provider == "instantly":
        if not settings.instantly_api_key:
            raise PermanentJobError("EC_INSTANTLY_API_KEY is not set")
        return InstantlyClient(settings.instantly_api_key, base_url=settings.instantly_base_url)
    if settings.campaign_provider == "simulator":
        return _SIMULATED
    raise PermanentJobError("no campaign provider configured: set EC_CAMPAIGN_PROVIDER")


@registry.task("campaign.refresh_contactable")
def refresh_task(ctx: TaskContext, args: dict[str, Any]) -> None:
    """05:30 PT: refresh the contactable view and queue the newly contactable leads."""
    refresh_run(ctx.pool, date.fromisoformat(args["business_date"]))


@registry.task("campaign.feed_daily")
def feed_task(ctx: TaskContext, args: dict[str, Any]) -> None:
    """06:00 PT: reserve the day's best leads (under the cap) and queue their push."""
    feed_run(ctx.pool, ctx.settings, date.fromisoformat(args["business_date"]))


def _lead_for_instantly(row: dict[str, Any], cipher: PiiCipher) -> InstantlyLead:
    email = lead_contact(cipher, row, "email")
    assert email is not None  # the feeder only reserves leads with a verified email
    # Custom variables carry what a sequence personalizes on, and our id so
    # replies can be tied back; nothing Instantly's schema would refuse.
    return InstantlyLead(
        email=email,
        first_name=row["owner_first_name"],
        last_name=row["owner_last_name"],
        phone=lead_contact(cipher, row, "phone"),
        custom_variables={
            "ec_lead_id": str(row["id"]),
            "property_city": row["property_city"],
            "property_state": row["property_state"],
            "broker_name": row["broker_name"],
            "lead_score": row["lead_score"],
        },
    )


@registry.task(PUSH_BATCH)
def push_batch(ctx: TaskContext, args: dict[str, Any]) -> None:
    """Send a reserved batch to the campaign; only the leads Instantly created are 'active'.

    Each call's answer is recorded at once, in its own transaction
    (:func:`~equity_connect.campaign.service.record_push`): a lead left out of
    ``created_leads`` (with ``skip_if_in_workspace``, one already in another campaign or
    list) is recorded as skipped with Instantly's reason, and a later call's failure cannot
    make a retry send an imported lead again, which Instantly would then skip as "already in
    the workspace". A failure leaves the unsent leads 'queued' (and reserved) for the retry
    or, after the last attempt, for a DLQ replay.
    """
    batch_id = uuid.UUID(args["batch_id"])
    importer: LeadImporter = ctx.services.get("campaign_importer") or importer_for(ctx.settings)
    cipher = PiiCipher(ctx.keyring)
    with ctx.pool.connection() as conn:
        rows = conn.execute(Q["batch_for_push"], {"batch_id": batch_id}).fetchall()
    by_campaign: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_campaign[row["campaign_id"]].append(row)
    activated = skipped = 0
    for campaign_id, group in by_campaign.items():
        for chunk in batches(group):
            leads = [_lead_for_instantly(r, cipher) for r in chunk]
            result = importer.add_leads(campaign_id, leads, skip_if_in_workspace=True)
            with ctx.pool.connection() as conn:
                outcome = record_push(
                    conn,
                    batch_id,
                    list(chunk),
                    leads,
                    result,
                    campaign_id=campaign_id,
                    provider="instantly",
                )
            activated += len(outcome.activated)
            skipped += len(outcome.skipped)
    with ctx.pool.connection() as conn:
        conn.execute(
            Q["mark_batch"],
            {
                "batch_id": batch_id,
                "status": "pushed",
                "detail": Jsonb({"uploaded": activated, "skipped": skipped}),
            },
        )
