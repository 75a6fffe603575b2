"""Skip-trace jobs. Arguments are ids only."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from equity_connect.config import Settings
from equity_connect.db.pool import Conn
from equity_connect.jobs import service as jobs
from equity_connect.jobs.registry import TaskContext, registry
from equity_connect.jobs.worker import PermanentJobError
from equity_connect.security.crypto import PiiCipher
from equity_connect.skiptrace.providers import build_buckets, build_providers
from equity_connect.skiptrace.service import Q, enrich_leads

ENRICH_UPLOAD = "skiptrace.enrich_upload"
ENRICH_BATCH = "skiptrace.enrich_batch"


@registry.task(ENRICH_UPLOAD)
def enrich_upload(ctx: TaskContext, args: dict[str, Any]) -> None:
    """Fan an upload's leads out into batch jobs of at most the provider batch size."""
    upload_id = uuid.UUID(args["upload_id"])
    size = ctx.settings.skiptrace_batch_size
    with ctx.pool.connection() as conn:
        lead_ids = [
            str(r["lead_id"])
            for r in conn.execute(
                Q["upload_leads_to_enrich"],
                {"upload_id": upload_id, "window_days": ctx.settings.skiptrace_window_days},
            )
        ]
        for n, start in enumerate(range(0, len(lead_ids), size)):
            jobs.enqueue(
                conn,
                ENRICH_BATCH,
                {"lead_ids": lead_ids[start : start + size], "upload_id": str(upload_id)},
                idempotency_key=f"{upload_id}:{n}",
            )


@registry.task(ENRICH_BATCH)
def enrich_batch(ctx: TaskContext, args: dict[str, Any]) -> None:
    """Skip-trace, verify and score one batch of leads."""
    providers = ctx.services.get("skiptrace_providers") or build_providers(ctx.settings)
    buckets = ctx.services.get("skiptrace_buckets")
    if buckets is None:
        buckets = build_buckets(ctx.pool, ctx.settings)
    enrich_leads(
        ctx.pool,
        PiiCipher(ctx.keyring),
        providers,
        [uuid.UUID(i) for i in args["lead_ids"]],
        now=datetime.now(UTC),
        window_days=ctx.settings.skiptrace_window_days,
        buckets=buckets,
        correlation_id=args.get("upload_id"),
    )


@registry.preflight
def providers_configured(conn: Conn, settings: Settings) -> str | None:
    """Refuse to start while skip-trace jobs wait and no provider is configured.

    Otherwise every one of them fails permanently on its first try and the
    whole backlog lands in the DLQ, to be replayed by hand.
    """
    try:
        build_providers(settings)
    except PermanentJobError as exc:
        row = conn.execute(Q["pending_jobs"], {"tasks": [ENRICH_UPLOAD, ENRICH_BATCH]}).fetchone()
        waiting = int(row["n"]) if row else 0
        if waiting:
            return (
                f"{waiting} skip-trace jobs are queued but {exc}; "
                "starting now would send them all to the DLQ"
            )
    return None
