"""The delivery job: ``events.deliver_event`` with ``{"delivery_id": N}``."""

from __future__ import annotations

from typing import Any

from equity_connect.events.sender import deliver
from equity_connect.jobs.registry import TaskContext, registry
from equity_connect.jobs.worker import PermanentJobError


@registry.task("events.deliver_event")
def deliver_event(ctx: TaskContext, args: dict[str, Any]) -> None:
    """One attempt of one delivery; the sender queues the next attempt itself."""
    delivery_id = args.get("delivery_id")
    if not isinstance(delivery_id, int) or isinstance(delivery_id, bool):
        raise PermanentJobError("events.deliver_event needs an integer delivery_id")
    deliver(ctx.pool, ctx.settings, ctx.keyring, delivery_id)
