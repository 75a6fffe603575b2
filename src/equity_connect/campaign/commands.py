"""``equity-connect feed``, ``feed-skipped``, ``reconcile-suppressed`` and ``schedule show``."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from equity_connect.campaign.runs import default_campaign, feed_run
from equity_connect.campaign.schedule import BUSINESS_TZ, next_runs
from equity_connect.campaign.scheduler import calendar_from
from equity_connect.campaign.service import FeedResult, Q, feed
from equity_connect.campaign.suppression import reconcile_contact_suppressed
from equity_connect.cli_support import migrated_database_url
from equity_connect.config import get_settings
from equity_connect.db.pool import connect, open_pool

_console = Console()
schedule_app = typer.Typer(help="The scheduled jobs (LA business time).", no_args_is_help=True)


@schedule_app.command("show")
def schedule_show(count: int = 6) -> None:
    """The next scheduled runs, in Pacific and UTC time."""
    settings = get_settings()
    table = Table("job", "Pacific", "UTC")
    for schedule, at in next_runs(datetime.now(UTC), calendar_from(settings), count=count):
        table.add_row(
            schedule.name,
            at.astimezone(BUSINESS_TZ).strftime("%a %Y-%m-%d %H:%M %Z"),
            at.strftime("%Y-%m-%d %H:%M UTC"),
        )
    _console.print(table)


def _print(result: FeedResult) -> None:
    title = "would feed" if result.dry_run else "fed"
    table = Table(
        "lead",
        "score",
        "broker",
        "campaign",
        title=(
            f"{title} {len(result.picks)} on {result.business_date} "
            f"(cap {result.cap}, already fed {result.fed_before})"
        ),
    )
    for p in result.picks:
        table.add_row(str(p.lead_id), str(p.score), p.broker_name, p.campaign_id)
    _console.print(table)


def feed_cmd(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show the picks; change nothing")
    ] = False,
    day: Annotated[
        str | None, typer.Option("--date", help="Business date (YYYY-MM-DD, PT)")
    ] = None,
) -> None:
    """Run the daily feed now (the same locked, capped run the 06:00 PT schedule makes)."""
    settings = get_settings()
    url = migrated_database_url(settings)
    business_date = date.fromisoformat(day) if day else datetime.now(BUSINESS_TZ).date()
    if dry_run:
        with connect(url) as conn:
            _print(
                feed(
                    conn,
                    business_date=business_date,
                    cap=settings.daily_feed_cap,
                    default_campaign=default_campaign(settings),
                    dry_run=True,
                )
            )
        return
    with open_pool(settings, conninfo=url) as pool:
        outcome, result = feed_run(pool, settings, business_date)
    if result is not None:
        _print(result)
    _console.print(f"run: {outcome}; the push runs as a job (`equity-connect worker`)")


def feed_skipped_cmd(
    since: Annotated[
        str | None, typer.Option("--since", help="Only skips from this date on (YYYY-MM-DD)")
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many, newest first")] = 100,
) -> None:
    """Leads the campaign provider skipped (not created, so not active), with its reason."""
    try:
        start = date.fromisoformat(since) if since else None
    except ValueError:
        raise typer.BadParameter("--since takes a date such as 2026-11-30") from None
    with connect(migrated_database_url()) as conn:
        rows = conn.execute(Q["skipped_leads"], {"since": start, "limit": limit}).fetchall()
    # One tab-separated line per skip (no table): ops grep and cut it; a lead id is never
    # wrapped or truncated.
    print("\t".join(("when_utc", "lead_id", "broker", "campaign_id", "reason", "reason_text")))
    for r in rows:
        print(
            "\t".join(
                (
                    r["occurred_at"].astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    str(r["lead_id"]),
                    r["broker_name"] or "",
                    r["campaign_id"] or "",
                    r["reason"] or "",
                    r["reason_text"] or "",
                )
            )
        )


def reconcile_suppressed_cmd() -> None:
    """Repair each lead's suppression flag from the suppression set (the worker does it
    every minute; this runs it now)."""
    with connect(migrated_database_url()) as conn:
        changed = reconcile_contact_suppressed(conn)
        conn.commit()
    _console.print(f"{changed} lead flags repaired")
