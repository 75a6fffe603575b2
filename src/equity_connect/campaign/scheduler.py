"""Turn due schedule entries into jobs, exactly once each (for any number of schedulers)."""

from __future__ import annotations

from datetime import datetime, timedelta

from equity_connect.campaign.schedule import SCHEDULES, Calendar, due_runs, parse_skip_dates
from equity_connect.config import Settings
from equity_connect.db.pool import Conn
from equity_connect.jobs import service as jobs


def calendar_from(settings: Settings) -> Calendar:
    """The business calendar the settings describe."""
    return Calendar(settings.skip_federal_holidays, parse_skip_dates(settings.skip_dates))


def enqueue_due(conn: Conn, settings: Settings, now: datetime) -> list[int]:
    """Enqueue every run due now (or missed within the grace period); return new job ids.

    The job's idempotency key is the business date, and the queue allows one
    job per (task, key): a second scheduler, a restart or a later tick adds
    nothing.
    """
    grace = timedelta(hours=settings.schedule_grace_hours)
    created: list[int] = []
    for schedule, business_date in due_runs(
        now, calendar_from(settings), grace=grace, schedules=SCHEDULES
    ):
        job_id = jobs.enqueue(
            conn,
            schedule.task,
            {"business_date": business_date.isoformat()},
            idempotency_key=business_date.isoformat(),
            priority=10,
        )
        if job_id is not None:
            created.append(job_id)
    return created
