"""What the ops console shows: uploads, jobs, dead letters, providers, the campaign feed.

Read-only services over named queries; each takes a connection first and
never commits. Every list returns its page *and* the total that matches the
filters, so a heading never shows the page size as the count.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from equity_connect.campaign.schedule import Calendar
from equity_connect.campaign.service import Q as CAMPAIGN_Q
from equity_connect.db import queries
from equity_connect.db.pool import Conn

Q = queries.load("equity_connect.observability")

PER_PAGE = 25
MAX_PER_PAGE = 200
WINDOWS = ("24h", "7d")


@dataclass(frozen=True)
class Paging:
    """Which page of a list: 1-based page number and its size (clamped to sane bounds)."""

    page: int = 1
    per_page: int = PER_PAGE

    @classmethod
    def of(cls, page: int | None, per_page: int | None) -> Paging:
        """Clamp what a query string asked for: page ≥ 1, 1 ≤ per_page ≤ MAX_PER_PAGE."""
        size = min(max(per_page or PER_PAGE, 1), MAX_PER_PAGE)
        return cls(max(page or 1, 1), size)

    @property
    def offset(self) -> int:
        """Rows before this page."""
        return (self.page - 1) * self.per_page


@dataclass(frozen=True)
class Page:
    """One page of a list and the number of rows matching the filters."""

    items: list[dict[str, Any]]
    total: int
    paging: Paging

    @property
    def pages(self) -> int:
        """How many pages the total fills (at least one)."""
        return max(1, -(-self.total // self.paging.per_page))

    @property
    def first(self) -> int:
        """1-based number of the page's first row (0 when empty)."""
        return self.paging.offset + 1 if self.items else 0

    @property
    def last(self) -> int:
        """1-based number of the page's last row."""
        return self.paging.offset + len(self.items)


def _count(conn: Conn, name: str, params: dict[str, Any]) -> int:
    row = conn.execute(Q[name], params).fetchone()
    return int(row["n"]) if row else 0


def uploads(
    conn: Conn, paging: Paging, *, status: str | None = None, source: str | None = None
) -> Page:
    """Uploads newest first, each with its lineage funnel (verified, fed, replied, booked)."""
    filters = {"status": status, "source": source}
    rows = conn.execute(
        Q["console_uploads_page"], {**filters, "limit": paging.per_page, "offset": paging.offset}
    ).fetchall()
    funnels = upload_funnels(conn, [r["id"] for r in rows])
    empty = {"leads": 0, "verified": 0, "fed": 0, "replied": 0, "booked": 0}
    items = [{**r, "funnel": funnels.get(r["id"], empty)} for r in rows]
    return Page(items, _count(conn, "console_uploads_total", filters), paging)


def upload_funnels(conn: Conn, upload_ids: list[uuid.UUID]) -> dict[uuid.UUID, dict[str, int]]:
    """Per upload: how many of the leads its rows fed got verified, fed, replied, booked."""
    if not upload_ids:
        return {}
    rows = conn.execute(Q["console_upload_funnels"], {"ids": upload_ids}).fetchall()
    return {
        r["upload_id"]: {k: int(r[k]) for k in ("leads", "verified", "fed", "replied", "booked")}
        for r in rows
    }


def upload(conn: Conn, upload_id: uuid.UUID) -> dict[str, Any] | None:
    """One upload with its funnel; None if there is no such upload."""
    row = conn.execute(Q["console_upload"], {"id": upload_id}).fetchone()
    if row is None:
        return None
    empty = {"leads": 0, "verified": 0, "fed": 0, "replied": 0, "booked": 0}
    return {**row, "funnel": upload_funnels(conn, [upload_id]).get(upload_id, empty)}


@dataclass(frozen=True)
class DlqFilter:
    """Which pending dead letters: by job (source), reason group (md5) and/or reason text."""

    source: str | None = None
    group_key: str | None = None
    contains: str | None = None

    def params(self) -> dict[str, Any]:
        """As query parameters."""
        return {"source": self.source, "group_key": self.group_key, "contains": self.contains}

    def query(self) -> dict[str, str]:
        """As a query string's fields (empty ones left out), for links that keep the filter."""
        return {k: v for k, v in self.params().items() if v}


@dataclass(frozen=True)
class DlqView:
    """The DLQ page: the real pending total, the matching total, groups and one page."""

    pending_total: int
    page: Page
    groups: list[dict[str, Any]] = field(default_factory=list)


def dlq(conn: Conn, paging: Paging, filters: DlqFilter) -> DlqView:
    """Pending dead letters matching ``filters``, newest first, with reasons whole.

    The matching total comes with the groups (the sum of the matching groups'
    sizes), so the page needs no second pass over the entries' reasons.
    """
    params = filters.params()
    rows = conn.execute(
        Q["console_dlq_page"], {**params, "limit": paging.per_page, "offset": paging.offset}
    ).fetchall()
    groups = conn.execute(Q["console_dlq_groups"], {**params, "limit": 50}).fetchall()
    matching = int(groups[0]["matching"]) if groups else 0
    if groups:
        pending = int(groups[0]["pending"])
    else:  # nothing matches: the pending total is not in the groups' rows
        pending = _count(conn, "console_dlq_total", DlqFilter().params())
    return DlqView(pending_total=pending, page=Page(rows, matching, paging), groups=groups)


def jobs(conn: Conn, paging: Paging, *, task: str | None = None, status: str | None = None) -> Page:
    """Jobs newest first, by task and status."""
    filters = {"task": task, "status": status}
    rows = conn.execute(
        Q["console_jobs_page"], {**filters, "limit": paging.per_page, "offset": paging.offset}
    ).fetchall()
    return Page(rows, _count(conn, "console_jobs_total", filters), paging)


def queue_depth(conn: Conn) -> dict[str, dict[str, int]]:
    """``{task: {status: n}}`` over the whole queue."""
    depth: dict[str, dict[str, int]] = {}
    for r in conn.execute(Q["job_counts"]):
        depth.setdefault(r["task"], {})[r["status"]] = int(r["n"])
    return dict(sorted(depth.items()))


def workers(conn: Conn) -> list[dict[str, Any]]:
    """Every worker's last heartbeat, freshest first."""
    return conn.execute(Q["console_workers"]).fetchall()


def job(conn: Conn, job_id: int) -> dict[str, Any] | None:
    """One job: attempts, lease, last error; None if there is no such job."""
    return conn.execute(Q["console_job"], {"id": job_id}).fetchone()


@dataclass(frozen=True)
class ProviderUsage:
    """One provider over one window."""

    provider: str
    window: str
    requests: int
    records: int
    errors: int
    rate_limited: int
    spend_usd: float | None  # None: no price per record configured for this provider


def provider_usage(
    conn: Conn, now: datetime, prices: dict[str, float]
) -> dict[str, dict[str, ProviderUsage]]:
    """``{provider: {"24h": usage, "7d": usage}}`` up to ``now``.

    Spend is derived, not recorded (the providers' answers carry no price):
    records sent × ``prices[provider]`` (``EC_PROVIDER_COST_PER_RECORD_USD``).
    """
    out: dict[str, dict[str, ProviderUsage]] = {}
    for r in conn.execute(Q["console_provider_usage"], {"now": now}):
        price = prices.get(r["provider"])
        records = int(r["records"])
        out.setdefault(r["provider"], {})[r["window"]] = ProviderUsage(
            r["provider"],
            r["window"],
            int(r["requests"]),
            records,
            int(r["errors"]),
            int(r["rate_limited"]),
            None if price is None else round(records * price, 2),
        )
    for provider, by_window in out.items():
        for window in WINDOWS:  # a provider seen only last week has a zero day
            by_window.setdefault(window, ProviderUsage(provider, window, 0, 0, 0, 0, None))
    return out


def business_days(calendar: Calendar, today: date, count: int = 30) -> list[date]:
    """The last ``count`` business days up to and including ``today``, oldest first."""
    days: list[date] = []
    d = today
    while len(days) < count:
        if calendar.is_business_day(d):
            days.append(d)
        d -= timedelta(days=1)
    return list(reversed(days))


def feed_days(conn: Conn, days: list[date], default_cap: int) -> list[dict[str, Any]]:
    """Leads fed on each day against its cap (the configured cap on a day that never ran)."""
    rows = conn.execute(Q["console_feed_days"], {"days": days}).fetchall()
    return [{**r, "cap": default_cap if r["cap"] is None else int(r["cap"])} for r in rows]


def skipped_leads(conn: Conn, limit: int = 50) -> tuple[list[dict[str, Any]], int]:
    """The newest leads the campaign provider skipped, and how many there are in all."""
    rows = conn.execute(CAMPAIGN_Q["skipped_leads"], {"since": None, "limit": limit}).fetchall()
    return rows, _count(conn, "console_skipped_total", {})
