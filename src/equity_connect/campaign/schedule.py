"""When the scheduled jobs run: Los Angeles wall-clock times, business days only.

Computed with zoneinfo from the business date, so a DST change neither skips
nor doubles a run: 05:30 and 06:00 exist exactly once on every day of the
year in America/Los_Angeles (the switch happens at 02:00). A run's identity
is its job name and business date; the queue's unique (task, key) index
turns "enqueue if due" into exactly once, whatever the number of schedulers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

BUSINESS_TZ = ZoneInfo("America/Los_Angeles")


@dataclass(frozen=True)
class Schedule:
    """A job that runs once per business day at a local time."""

    name: str
    task: str
    at: time


SCHEDULES: tuple[Schedule, ...] = (
    Schedule("refresh_contactable", "campaign.refresh_contactable", time(5, 30)),
    Schedule("feed_daily", "campaign.feed_daily", time(6, 0)),
)


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    first = date(year, month, 1)
    return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))


def _last_weekday(year: int, month: int, weekday: int) -> date:
    last = date(year, month + 1, 1) - timedelta(days=1) if month < 12 else date(year, 12, 31)
    return last - timedelta(days=(last.weekday() - weekday) % 7)


def _observed(d: date) -> date:
    # A federal holiday on Saturday is observed Friday; on Sunday, Monday.
    if d.weekday() == 5:
        return d - timedelta(days=1)
    if d.weekday() == 6:
        return d + timedelta(days=1)
    return d


def us_federal_holidays(year: int) -> set[date]:
    """The observed US federal holidays of ``year`` (5 U.S.C. 6103)."""
    mon, thu = 0, 3
    fixed = [
        date(year, 1, 1),
        date(year, 6, 19),
        date(year, 7, 4),
        date(year, 11, 11),
        date(year, 12, 25),
    ]
    floating = [
        _nth_weekday(year, 1, mon, 3),  # Martin Luther King Jr. Day
        _nth_weekday(year, 2, mon, 3),  # Washington's Birthday
        _last_weekday(year, 5, mon),  # Memorial Day
        _nth_weekday(year, 9, mon, 1),  # Labor Day
        _nth_weekday(year, 10, mon, 2),  # Columbus Day
        _nth_weekday(year, 11, thu, 4),  # Thanksgiving
    ]
    return {_observed(d) for d in fixed} | set(floating)


@dataclass(frozen=True)
class Calendar:
    """Which dates are business days: weekdays, minus holidays and configured skip dates."""

    skip_federal_holidays: bool = True
    skip_dates: frozenset[date] = frozenset()

    def is_business_day(self, d: date) -> bool:
        """Monday to Friday, not a skipped date."""
        if d.weekday() >= 5 or d in self.skip_dates:
            return False
        return not (self.skip_federal_holidays and d in us_federal_holidays(d.year))


def run_instant(schedule: Schedule, business_date: date) -> datetime:
    """The UTC instant of a schedule's run on a business date."""
    local = datetime.combine(business_date, schedule.at, tzinfo=BUSINESS_TZ)
    return local.astimezone(UTC)


def due_runs(
    now: datetime,
    calendar: Calendar,
    *,
    grace: timedelta,
    schedules: Iterable[Schedule] = SCHEDULES,
) -> list[tuple[Schedule, date]]:
    """Runs whose time has come within the last ``grace`` (a missed run is caught up once)."""
    local_today = now.astimezone(BUSINESS_TZ).date()
    found: list[tuple[Schedule, date]] = []
    for schedule in schedules:
        for days_back in range(grace.days + 2):
            d = local_today - timedelta(days=days_back)
            at = run_instant(schedule, d)
            if calendar.is_business_day(d) and at <= now < at + grace:
                found.append((schedule, d))
    return found


def next_runs(
    now: datetime,
    calendar: Calendar,
    *,
    count: int = 5,
    schedules: Iterable[Schedule] = SCHEDULES,
) -> list[tuple[Schedule, datetime]]:
    """The next ``count`` runs after ``now``, in time order."""
    runs: list[tuple[Schedule, datetime]] = []
    d = now.astimezone(BUSINESS_TZ).date()
    wanted = list(schedules)
    while len(runs) < count:
        if calendar.is_business_day(d):
            runs.extend((s, run_instant(s, d)) for s in wanted if run_instant(s, d) > now)
        d += timedelta(days=1)
    runs.sort(key=lambda r: r[1])
    return runs[:count]


def parse_skip_dates(text: str) -> frozenset[date]:
    """``EC_SKIP_DATES``: comma-separated ISO dates."""
    return frozenset(date.fromisoformat(p.strip()) for p in text.split(",") if p.strip())
