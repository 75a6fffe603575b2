"""Every task the worker can run: importing a domain's tasks module registers them."""

from __future__ import annotations

import equity_connect.campaign.tasks
import equity_connect.events.tasks
import equity_connect.inbound.tasks
import equity_connect.ingest.tasks
import equity_connect.notifications.tasks
import equity_connect.skiptrace.tasks
import equity_connect.sms.tasks  # noqa: F401 - registers the text sending task
from equity_connect.jobs.registry import registry

__all__ = ["registry"]
