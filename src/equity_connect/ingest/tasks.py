"""Ingest jobs. Arguments are ids only."""

from __future__ import annotations

import uuid
from typing import Any

from equity_connect.ingest.service import IngestLimits
from equity_connect.ingest.uploads import TASK, process_upload
from equity_connect.jobs.registry import TaskContext, registry
from equity_connect.security.crypto import PiiCipher


@registry.task(TASK)
def process_upload_task(ctx: TaskContext, args: dict[str, Any]) -> None:
    """Ingest an accepted upload's stored body (a no-op once it is no longer waiting)."""
    process_upload(
        ctx.pool,
        PiiCipher(ctx.keyring),
        uuid.UUID(args["upload_id"]),
        limits=IngestLimits.from_settings(ctx.settings),
        heartbeat_seconds=ctx.settings.upload_heartbeat_seconds,
    )
