"""The ops console's figures against seeded tables: totals, groups, replay, providers, feed."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest
from psycopg.types.json import Jsonb

from equity_connect.campaign.schedule import Calendar
from equity_connect.db.pool import Conn, connect
from equity_connect.ingest.schemas import SignatureScheme
from equity_connect.ingest.service import UploadMeta, ingest
from equity_connect.jobs import service as jobs
from equity_connect.observability import console
from equity_connect.security.crypto import PiiCipher
from tests.ingest.helpers import csv_bytes, row

NOW = datetime(2026, 11, 30, 18, 0, tzinfo=UTC)


def _dead(conn: Conn, source: str, reason: str | None, n: int) -> None:
    for _ in range(n):
        conn.execute(
            "insert into pipeline_dlq (source, payload, reason) values (%s, %s, %s)",
            [source, Jsonb({"task": source, "args": {"lead_ids": []}}), reason],
        )


def test_dlq_total_is_the_real_count_not_the_page_size(conn: Conn) -> None:
    conn.execute("update pipeline_dlq set status = 'discarded' where status = 'pending'")
    _dead(conn, "skiptrace.enrich_batch", "melissa: out of credits (GE14)", 30)
    _dead(conn, "campaign.push_batch", "instantly: HTTP 500 " + "x" * 1500, 7)
    view = console.dlq(conn, console.Paging(1, 10), console.DlqFilter())
    assert view.pending_total == 37 and view.page.total == 37
    assert len(view.page.items) == 10 and view.page.pages == 4
    groups = {(g["source"], g["n"]) for g in view.groups}
    assert groups == {("skiptrace.enrich_batch", 30), ("campaign.push_batch", 7)}
    long = next(g for g in view.groups if g["n"] == 7)
    assert len(long["reason"]) == len("instantly: HTTP 500 ") + 1500  # shown whole
    filtered = console.dlq(conn, console.Paging(2, 10), console.DlqFilter(contains="CREDITS"))
    assert filtered.page.total == 30 and filtered.pending_total == 37
    assert [r["source"] for r in filtered.page.items] == ["skiptrace.enrich_batch"] * 10


def test_group_replay_is_one_statement_and_counts(conn: Conn) -> None:
    conn.execute("update pipeline_dlq set status = 'discarded' where status = 'pending'")
    _dead(conn, "skiptrace.enrich_batch", "melissa: out of credits (GE14)", 5)
    _dead(conn, "skiptrace.enrich_batch", "melissa: HTTP 503", 3)
    key = hashlib.md5(b"melissa: out of credits (GE14)", usedforsecurity=False).hexdigest()
    before = conn.execute("select count(*) as n from jobs").fetchone()
    assert before is not None
    assert jobs.replay_dlq_matching(conn, source="skiptrace.enrich_batch", group_key=key) == 5
    after = conn.execute("select count(*) as n from jobs").fetchone()
    assert after is not None and after["n"] - before["n"] == 5
    view = console.dlq(conn, console.Paging(), console.DlqFilter())
    assert view.pending_total == 3
    # again: nothing left in that group, nothing enqueued twice
    assert jobs.replay_dlq_matching(conn, source="skiptrace.enrich_batch", group_key=key) == 0
    assert jobs.replay_dlq_matching(conn, contains="http 503") == 3


def test_group_replay_is_all_or_nothing(conn: Conn) -> None:
    conn.execute("update pipeline_dlq set status = 'discarded' where status = 'pending'")
    _dead(conn, "skiptrace.enrich_batch", "boom", 2)
    conn.execute(
        "insert into pipeline_dlq (source, payload, reason) values ('x.y', '{}', 'boom')"
    )  # a payload without a task cannot be enqueued
    with pytest.raises(psycopg.errors.NotNullViolation):
        jobs.replay_dlq_matching(conn, contains="boom")
    conn.rollback()


def test_uploads_paging_total_and_lineage_funnel(conn: Conn, cipher: PiiCipher) -> None:
    tag = uuid.uuid4().hex[:8]
    ids = []
    for u in range(3):
        body = csv_bytes(
            [
                row(mak=f"7{u}{i:07d}{tag[:1]}", property_address=f"{i + 1} {tag} Ave {u}")
                for i in range(4)
            ]
        )
        meta = UploadMeta(
            hashlib.sha256(body).digest(),
            len(body),
            SignatureScheme.LOCAL,
            f"src-{tag}",
            f"list-{u}.csv",
            "cli: test@host",
        )
        ids.append(ingest(conn, cipher, [body], meta).upload_id)
        # one transaction gives them all the same now(): spread them, oldest first
        conn.execute(
            "update uploads set received_at = now() - make_interval(mins => %s) where id = %s",
            [10 - u, ids[-1]],
        )
    conn.execute(
        "update leads set email_verified = true where id in "
        "(select lead_id from upload_rows where upload_id = %s and row_number <= 2)",
        [ids[0]],
    )
    page = console.uploads(conn, console.Paging(1, 2), source=f"src-{tag}")
    assert page.total == 3 and len(page.items) == 2 and page.pages == 2
    second = console.uploads(conn, console.Paging(2, 2), source=f"src-{tag}")
    assert [u["id"] for u in second.items] == [ids[0]]  # newest first
    first = second.items[0]
    assert first["filename"] == "list-0.csv" and first["uploaded_by"] == "cli: test@host"
    assert first["funnel"]["leads"] == 4 and first["funnel"]["verified"] == 2


def test_provider_usage_over_24h_and_7d(conn: Conn) -> None:
    provider = f"p{uuid.uuid4().hex[:6]}"

    def event(hours_ago: float, outcome: str, count: int, status: int | None = None) -> None:
        conn.execute(
            "insert into pipeline_events (occurred_at, stage, outcome, count, provider, "
            "status_code) values (%s, 'skiptrace', %s, %s, %s, %s)",
            [NOW - timedelta(hours=hours_ago), outcome, count, provider, status],
        )

    event(1, "requested", 100)
    event(2, "rate_limited", 50, 429)
    event(30, "requested", 40)
    event(50, "failed", 10, 503)
    event(24 * 8, "requested", 999)  # outside both windows
    usage = console.provider_usage(conn, NOW, {provider: 0.05})[provider]
    day, week = usage["24h"], usage["7d"]
    assert (day.requests, day.records, day.errors, day.rate_limited) == (2, 100, 0, 1)
    assert (week.requests, week.records, week.errors, week.rate_limited) == (4, 140, 1, 1)
    assert day.spend_usd == 5.0 and week.spend_usd == 7.0
    assert console.provider_usage(conn, NOW, {})[provider]["7d"].spend_usd is None


def test_feed_days_are_business_days_against_the_cap(conn: Conn) -> None:
    days = console.business_days(Calendar(), date(2026, 11, 30), 30)
    assert len(days) == 30 and days[-1] == date(2026, 11, 30)
    assert all(d.weekday() < 5 for d in days)
    assert date(2026, 11, 26) not in days  # Thanksgiving
    conn.execute(
        "insert into feed_days (business_date, cap, fed_count) values ('2026-11-27', 250, 180) "
        "on conflict (business_date) do update set cap = 250, fed_count = 180"
    )
    rows = {r["business_date"]: r for r in console.feed_days(conn, days, 300)}
    assert rows[date(2026, 11, 27)]["fed_count"] == 180 and rows[date(2026, 11, 27)]["cap"] == 250
    never_ran = date(2026, 10, 20)
    conn.execute("delete from feed_days where business_date = %s", [never_ran])
    rows = {r["business_date"]: r for r in console.feed_days(conn, days, 300)}
    assert rows[never_ran]["cap"] == 300 and rows[never_ran]["fed_count"] == 0


def test_two_operators_replaying_one_group_enqueue_it_once(database_url: str) -> None:
    # a task name of its own (letters only, as jobs_task_check wants) keeps other tests out
    source = "skiptrace." + "".join(chr(97 + int(c, 16)) for c in uuid.uuid4().hex[:10])
    with connect(database_url) as setup:
        _dead(setup, source, "melissa: HTTP 503", 4)
        setup.commit()
    first, second = connect(database_url), connect(database_url)
    try:
        assert jobs.replay_dlq_matching(first, source=source) == 4  # holds the row locks
        assert jobs.replay_dlq_matching(second, source=source) == 0  # skips them, no wait
        first.commit()
        second.commit()
        enqueued = first.execute("select count(*) as n from jobs where task = %s", [source])
        assert enqueued.fetchone() == {"n": 4}
    finally:
        for c in (first, second):
            c.execute("delete from jobs where task = %s", [source])
            c.execute("delete from pipeline_dlq where source = %s", [source])
            c.commit()
            c.close()
