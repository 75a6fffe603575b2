"""The schedule with an injected clock: weekdays, holidays, DST, catch-up."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from equity_connect.campaign.schedule import (
    BUSINESS_TZ,
    SCHEDULES,
    Calendar,
    due_runs,
    next_runs,
    run_instant,
    us_federal_holidays,
)

FEED = next(s for s in SCHEDULES if s.name == "feed_daily")
CAL = Calendar()
GRACE = timedelta(hours=4)


def la(y: int, m: int, d: int, hh: int, mm: int = 0, ss: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, ss, tzinfo=BUSINESS_TZ)


def feeds_due(now: datetime, calendar: Calendar = CAL) -> list[date]:
    return [d for s, d in due_runs(now, calendar, grace=GRACE) if s is FEED]


def test_monday_0600_pt_runs_and_not_before() -> None:
    assert feeds_due(la(2026, 11, 30, 6)) == [date(2026, 11, 30)]
    assert feeds_due(la(2026, 11, 30, 5, 59, 59)) == []


def test_weekends_and_holidays_do_not_run() -> None:
    assert feeds_due(la(2026, 11, 28, 6, 5)) == []  # Saturday
    assert feeds_due(la(2026, 11, 29, 6, 5)) == []  # Sunday
    assert feeds_due(la(2026, 11, 26, 6, 5)) == []  # Thanksgiving
    assert feeds_due(la(2026, 7, 3, 6, 5)) == []  # July 4th 2026 is Saturday: observed Friday
    custom = Calendar(skip_dates=frozenset({date(2026, 12, 1)}))
    assert feeds_due(la(2026, 12, 1, 6, 5), custom) == []
    assert feeds_due(la(2026, 12, 1, 6, 5)) == [date(2026, 12, 1)]


def test_federal_holidays_2026() -> None:
    assert us_federal_holidays(2026) == {
        date(2026, 1, 1),
        date(2026, 1, 19),
        date(2026, 2, 16),
        date(2026, 5, 25),
        date(2026, 6, 19),
        date(2026, 7, 3),
        date(2026, 9, 7),
        date(2026, 10, 12),
        date(2026, 11, 11),
        date(2026, 11, 26),
        date(2026, 12, 25),
    }


def test_dst_change_days_run_once_at_0600_local() -> None:
    # 2026: spring forward Sunday March 8 (next business day Monday March 9 is already PDT),
    # fall back Sunday November 1. Check the whole week around each change minute by minute.
    for start in (datetime(2026, 3, 6, tzinfo=UTC), datetime(2026, 10, 29, tzinfo=UTC)):
        seen: dict[date, list[datetime]] = {}
        t = start
        while t < start + timedelta(days=6):
            for d in feeds_due(t):
                seen.setdefault(d, []).append(t)
            t += timedelta(minutes=1)
        for d, instants in seen.items():
            first = instants[0].astimezone(BUSINESS_TZ)
            assert (first.hour, first.minute) == (6, 0), d
    assert run_instant(FEED, date(2026, 3, 9)) == datetime(2026, 3, 9, 13, 0, tzinfo=UTC)  # PDT
    assert run_instant(FEED, date(2026, 11, 2)) == datetime(2026, 11, 2, 14, 0, tzinfo=UTC)  # PST
    assert run_instant(FEED, date(2026, 3, 6)) == datetime(2026, 3, 6, 14, 0, tzinfo=UTC)  # PST


def test_missed_run_is_caught_up_within_grace_only() -> None:
    assert feeds_due(la(2026, 11, 30, 9, 59)) == [date(2026, 11, 30)]
    assert feeds_due(la(2026, 11, 30, 10, 0)) == []  # grace of 4 hours passed


@given(st.integers(min_value=0, max_value=400 * 24 * 60))
def test_each_run_is_due_only_inside_its_window(minutes: int) -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=minutes)
    for schedule, d in due_runs(now, CAL, grace=GRACE):
        at = run_instant(schedule, d)
        assert at <= now < at + GRACE
        assert CAL.is_business_day(d)


def test_next_runs_are_ordered_and_skip_weekends() -> None:
    runs = next_runs(la(2026, 11, 27, 7), CAL, count=4)  # Friday after Thanksgiving, 07:00
    assert [(s.name, t.astimezone(BUSINESS_TZ).strftime("%a %H:%M")) for s, t in runs] == [
        ("refresh_contactable", "Mon 05:30"),
        ("feed_daily", "Mon 06:00"),
        ("refresh_contactable", "Tue 05:30"),
        ("feed_daily", "Tue 06:00"),
    ]
