"""Notification jobs."""

from __future__ import annotations

from typing import Any

from equity_connect.jobs.registry import TaskContext, registry
from equity_connect.notifications.service import SEND, send


@registry.task(SEND)
def send_notification(ctx: TaskContext, args: dict[str, Any]) -> None:
    """Send one broker notification (retried by the queue on SMTP/webhook failure)."""
    with ctx.pool.connection() as conn:
        send(conn, ctx.settings, int(args["notification_id"]), mailer=ctx.services.get("mailer"))
