"""The feeder on the real database: cap, order, suppression, brokers, locks, scheduling."""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from equity_connect.campaign.runs import SKIPPED_LOCKED, run_locked
from equity_connect.campaign.scheduler import enqueue_due
from equity_connect.campaign.service import feed, refresh_contactable
from equity_connect.config import Settings
from equity_connect.db.locks import LockKey
from equity_connect.db.pool import Conn, connect, open_pool
from equity_connect.security.crypto import Keyring, PiiCipher, generate_key
from tests.factories import make_broker, make_lead

DAY = date(2026, 11, 30)
CIPHER = PiiCipher(Keyring.from_values(f"k1:{generate_key()}", generate_key()))


def eligible(conn: Conn, n: int, *, score: int | None = None, **extra: object) -> list[uuid.UUID]:
    rng = random.Random(n)
    columns: dict[str, object] = {
        "campaign_status": "queued",
        "phone_verified": True,
        "email_verified": True,
        **extra,
    }
    return [
        make_lead(
            conn,
            cipher=CIPHER,
            email=f"owner{uuid.uuid4().hex[:10]}@example.com",
            phone=f"+1213555{rng.randrange(10_000):04d}",
            lead_score=score if score is not None else rng.randrange(0, 101),
            **columns,
        )
        for _ in range(n)
    ]


def run_feed(conn: Conn, **kw: object) -> list[uuid.UUID]:
    result = feed(conn, business_date=DAY, cap=250, default_campaign="camp-1", **kw)  # type: ignore[arg-type]
    return [p.lead_id for p in result.picks]


def test_picks_the_best_up_to_the_cap_then_nothing(conn: Conn) -> None:
    make_broker(conn, "A")
    conn.execute("update brokers set daily_capacity = 1000")
    eligible(conn, 400)
    picked = run_feed(conn)
    assert len(picked) == 250
    scores = conn.execute(
        "select id, lead_score from leads order by lead_score desc, id"
    ).fetchall()
    assert picked == [r["id"] for r in scores[:250]]
    assert run_feed(conn) == []
    assert conn.execute("select fed_count from feed_days").fetchone() == {"fed_count": 250}
    assert conn.execute(
        "select count(*) as n from jobs where task = 'campaign.push_batch'"
    ).fetchone() == {"n": 1}


def test_ties_break_by_id(conn: Conn) -> None:
    make_broker(conn)
    conn.execute("update brokers set daily_capacity = 1000")
    ids = eligible(conn, 300, score=50)
    assert run_feed(conn) == sorted(ids)[:250]


def test_dry_run_writes_nothing(conn: Conn) -> None:
    make_broker(conn)
    eligible(conn, 10)
    result = feed(conn, business_date=DAY, cap=250, default_campaign="c", dry_run=True)
    assert len(result.picks) == 10 and result.batch_id is None
    assert conn.execute("select count(*) as n from feed_days").fetchone() == {"n": 0}
    assert conn.execute(
        "select count(*) as n from leads where feed_batch_id is not null"
    ).fetchone() == {"n": 0}


def test_every_suppression_reason_is_excluded_even_with_a_stale_view(conn: Conn) -> None:
    make_broker(conn)
    good = eligible(conn, 3)
    unsub_email = eligible(conn, 1)[0]
    dnc_phone = eligible(conn, 1)[0]
    flagged_dnc = eligible(conn, 1, phone_dnc=True)[0]
    for status in ("unsubscribed", "bounced", "do_not_contact", "replied", "paused", "converted"):
        eligible(conn, 1, campaign_status=status)
    unverified = eligible(conn, 1, email_verified=False)[0]
    conn.execute("refresh materialized view mv_contactable_leads")  # the view is now stale:
    for lead, channel, reason in (
        (unsub_email, "email", "unsubscribed"),
        (dnc_phone, "phone", "dnc"),
    ):
        conn.execute(
            f"insert into suppressions (channel, value_index, reason, source) "
            f"select '{channel}', {channel}_index, '{reason}', 'test' from leads where id = %s",
            [lead],
        )
    picked = set(run_feed(conn))
    assert picked == set(good)
    assert not picked & {unsub_email, dnc_phone, flagged_dnc, unverified}


def test_reimported_unsubscribed_owner_stays_suppressed(conn: Conn) -> None:
    make_broker(conn)
    email = "gone@example.com"
    old = make_lead(conn, cipher=CIPHER, email=email)
    conn.execute(
        "insert into suppressions (channel, value_index, reason, source, lead_id) "
        "select 'email', email_index, 'unsubscribed', 'reply', id from leads where id = %s",
        [old],
    )
    conn.execute("delete from leads where id = %s", [old])
    again = make_lead(
        conn,
        cipher=CIPHER,
        email=email,
        phone="+12135550100",
        campaign_status="queued",
        phone_verified=True,
        email_verified=True,
    )
    assert again not in run_feed(conn)


def test_brokers_are_assigned_round_robin_within_capacity(conn: Conn) -> None:
    a, b = make_broker(conn, "A"), make_broker(conn, "B")
    conn.execute("update brokers set daily_capacity = 3 where id = %s", [a])
    conn.execute("update brokers set daily_capacity = 2 where id = %s", [b])
    conn.execute("update brokers set active = false where id not in (%s, %s)", [a, b])
    eligible(conn, 20)
    result = feed(conn, business_date=DAY, cap=250, default_campaign="c")
    owners = [p.broker_id for p in result.picks]
    assert len(owners) == 5 and owners.count(a) == 3 and owners.count(b) == 2
    assert owners[:4] in ([a, b, a, b], [b, a, b, a])


def test_feeder_selection_runs_from_the_plans_partial_index(conn: Conn) -> None:
    make_broker(conn)
    conn.execute(
        "insert into leads (lead_score, campaign_status, phone_verified) "
        "select (g % 101), 'new', false from generate_series(1, 20000) g"
    )
    eligible(conn, 300)
    conn.execute("analyze leads")
    from equity_connect.campaign.service import Q

    plan = "\n".join(
        r["QUERY PLAN"]
        for r in conn.execute("explain " + Q["feed_candidates"].replace("%(limit)s", "250"))
    )
    assert "leads_feed_hot_idx" in plan, plan


@pytest.fixture
def pool(fresh_database_url: str) -> Iterator[ConnectionPool[Conn]]:
    p = open_pool(Settings(pool_max_size=8), conninfo=fresh_database_url)
    yield p
    p.close()


def test_five_concurrent_feeders_feed_exactly_the_cap(
    pool: ConnectionPool[Conn], fresh_database_url: str
) -> None:
    with connect(fresh_database_url) as conn:
        make_broker(conn)
        conn.execute("update brokers set daily_capacity = 10000")
        eligible(conn, 600)
        conn.commit()
    totals: list[int] = []
    lock = threading.Lock()

    def one() -> None:
        with pool.connection() as c:
            n = len(feed(c, business_date=DAY, cap=250, default_campaign="c").picks)
        with lock:
            totals.append(n)

    threads = [threading.Thread(target=one) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(totals) == 250
    with psycopg.connect(fresh_database_url) as conn:
        assert conn.execute("select count(*) from leads where fed_on is not null").fetchone() == (
            250,
        )
        assert conn.execute(
            "select count(distinct feed_batch_id) from leads where feed_batch_id is not null"
        ).fetchone() == (sum(1 for t in totals if t),)


def test_a_held_lock_records_skipped(pool: ConnectionPool[Conn], fresh_database_url: str) -> None:
    holder = connect(fresh_database_url)
    holder.execute("select pg_advisory_xact_lock(%s)", [int(LockKey.FEED_DAILY)])
    try:
        outcome = run_locked(pool, "feed_daily", DAY, LockKey.FEED_DAILY, lambda c: {"n": 1})
    finally:
        holder.rollback()
        holder.close()
    assert outcome == SKIPPED_LOCKED
    assert run_locked(pool, "feed_daily", DAY, LockKey.FEED_DAILY, lambda c: {"n": 1}) == "ok"
    with psycopg.connect(fresh_database_url) as conn:
        assert conn.execute("select outcome from job_runs order by id").fetchall() == [
            (SKIPPED_LOCKED,),
            ("ok",),
        ]
        assert conn.execute(
            # this test's own database: other test processes share the server
            "select count(*) from pg_locks where locktype = 'advisory' "
            "and database = (select oid from pg_database where datname = current_database())"
        ).fetchone() == (0,)


def test_run_locked_runs_in_business_time_zone(pool: ConnectionPool[Conn]) -> None:
    seen: list[str] = []
    run_locked(
        pool,
        "tz",
        DAY,
        LockKey.FEED_DAILY,
        lambda c: {"tz": seen.append(str(c.execute("show timezone").fetchone()["TimeZone"])) or 1},
    )  # type: ignore[index, func-returns-value]
    assert seen == ["America/Los_Angeles"]


def test_refresh_queues_contactable_new_leads(conn: Conn) -> None:
    contactable = make_lead(conn, email_verified=True)
    not_yet = make_lead(conn)
    queued = refresh_contactable(conn)
    assert queued == 1
    statuses = dict(
        conn.execute("select id, campaign_status from leads").fetchall()
        and [
            (r["id"], r["campaign_status"])
            for r in conn.execute("select id, campaign_status from leads")
        ]
    )
    assert statuses == {contactable: "queued", not_yet: "new"}


def test_two_schedulers_enqueue_each_run_once(fresh_database_url: str) -> None:
    settings = Settings()
    monday_0601 = datetime(2026, 11, 30, 14, 1, tzinfo=UTC)
    with connect(fresh_database_url) as a, connect(fresh_database_url) as b:
        first = enqueue_due(a, settings, monday_0601)
        a.commit()
        second = enqueue_due(b, settings, monday_0601)
        b.commit()
        rows = a.execute("select task, idempotency_key from jobs order by task").fetchall()
    assert len(first) == 2 and second == []
    assert [(r["task"], r["idempotency_key"]) for r in rows] == [
        ("campaign.feed_daily", "2026-11-30"),
        ("campaign.refresh_contactable", "2026-11-30"),
    ]
