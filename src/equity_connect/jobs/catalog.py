"""Every task the worker can run: importing a domain's tasks module registers them."""

from __future__ import annotations

import equity_connect.campaign.tasks
import equity_connect.inbound.tasks
import equity_connect.ingest.tasks
import equity_connect.notifications.tasks
import equity_connect.skiptrace.tasks  # noqa: F401 - registers skip-trace tasks
from equity_connect.jobs.registry import registry

__all__ = ["registry"]
