"""The funnel function against hand-counted numbers: per day, per upload, per broker, per source."""

from __future__ import annotations

import uuid
from datetime import date

from equity_connect.db.pool import Conn, act_as_broker
from tests.factories import make_broker, make_lead


def upload(conn: Conn, source: str, rows: int, received: str) -> uuid.UUID:
    row = conn.execute(
        "insert into uploads (sha256, byte_size, signature_scheme, status, row_count, source, "
        "received_at) values (sha256(%s::bytea), 1, 'local', 'completed', %s, %s, %s) returning id",
        [uuid.uuid4().bytes, rows, source, received],
    ).fetchone()
    assert row is not None
    return row["id"]


def funnel(conn: Conn, **kw: object) -> dict[str, int]:
    args = {"from": None, "to": None, "upload": None, "source": None, "broker": None, **kw}
    rows = conn.execute(
        "select stage, leads from funnel(%(from)s, %(to)s, %(upload)s, %(source)s, "
        "%(broker)s) order by stage_order",
        args,
    ).fetchall()
    return {r["stage"]: r["leads"] for r in rows}


def test_funnel_matches_hand_counts(conn: Conn) -> None:
    a, b = make_broker(conn, "A"), make_broker(conn, "B")
    # Monday's file from vendor-1: 10 rows → 8 leads. Tuesday's from vendor-2: 5 rows → 4 leads.
    # (received_at in UTC; 18:00Z is 10:00 PT the same day)
    mon = upload(conn, "vendor-1", 10, "2026-11-30T18:00:00Z")
    tue = upload(conn, "vendor-2", 5, "2026-12-01T18:00:00Z")
    leads = {}
    for i in range(8):  # Monday: 6 verified, 4 fed, 3 replied, 1 booked; A has 0-3, B has 4-7
        leads[i] = make_lead(
            conn,
            a if i < 4 else b,
            first_upload_id=mon,
            email_verified=i < 6,
            added_to_campaign_at="2026-11-30T20:00:00Z" if i < 4 else None,
            last_reply_at="2026-12-01T20:00:00Z" if i < 3 else None,
        )
    for i in range(8, 12):  # Tuesday: 2 verified, 1 fed, 1 replied, 1 booked, all B's
        leads[i] = make_lead(
            conn,
            b,
            first_upload_id=tue,
            phone_verified=i < 10,
            added_to_campaign_at="2026-12-01T20:00:00Z" if i == 8 else None,
            last_reply_at="2026-12-02T20:00:00Z" if i == 8 else None,
        )
    for i, uid in ((0, "bk-a"), (8, "bk-b")):
        conn.execute(
            "insert into bookings (lead_id, calcom_uid, status) values (%s, %s, 'accepted')",
            [leads[i], uid],
        )
    # a cancelled-then-rebooked lead counts once
    conn.execute(
        "insert into bookings (lead_id, calcom_uid, status) values (%s, 'bk-a2', 'cancelled')",
        [leads[0]],
    )

    assert funnel(conn) == {
        "upload": 15,
        "dedupe": 12,
        "verified": 8,
        "fed": 5,
        "replied": 4,
        "booked": 2,
    }
    assert funnel(conn, upload=mon) == {
        "upload": 10,
        "dedupe": 8,
        "verified": 6,
        "fed": 4,
        "replied": 3,
        "booked": 1,
    }
    assert funnel(conn, source="vendor-2") == {
        "upload": 5,
        "dedupe": 4,
        "verified": 2,
        "fed": 1,
        "replied": 1,
        "booked": 1,
    }
    day = date(2026, 12, 1)
    assert funnel(conn, **{"from": day, "to": day}) == funnel(conn, upload=tue)
    assert funnel(conn, broker=a) == {
        "upload": 4,
        "dedupe": 4,
        "verified": 4,
        "fed": 4,
        "replied": 3,
        "booked": 1,
    }
    assert funnel(conn, broker=b) == {
        "upload": 8,
        "dedupe": 8,
        "verified": 4,
        "fed": 1,
        "replied": 1,
        "booked": 1,
    }
    # as broker A, under RLS, the unfiltered funnel is A's own
    act_as_broker(conn, a)
    assert funnel(conn)["dedupe"] == 4
