"""Feeder selection and MV refresh with 1,000,000 leads.

Usage: python bench/feed.py [LEADS]

Prints the feeder's selection time (it runs from the plan's partial index
leads_feed_hot_idx) against the same query with that index dropped (the
baseline, measured in the same run), and the contactable view's refresh
time against a plain CREATE TABLE AS of the same query.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _db import bench_database, median_seconds

from equity_connect.campaign.service import Q

SELECT = Q["feed_candidates"].replace("for update of l skip locked", "")


def main() -> None:
    leads = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    with bench_database() as url, psycopg.connect(url) as conn:
        # 1M leads: 20% contactable and queued with a verified phone, the rest in
        # every other state; emails/phones as random 32-byte indexes.
        conn.execute(
            """
            insert into leads (lead_score, campaign_status, phone_verified, email_verified,
                               email_ciphertext, email_index, phone_index, added_to_campaign_at,
                               phone_ciphertext)
            select (random() * 100)::int,
                   case when g %% 5 = 0 then 'queued' when g %% 7 = 0 then 'active'
                        else 'new' end::campaign_status,
                   g %% 5 = 0 or g %% 3 = 0, g %% 5 = 0 or g %% 4 = 0,
                   '\\x01'::bytea, sha256(('e' || g)::bytea), sha256(('p' || g)::bytea),
                   case when g %% 7 = 0 and g %% 5 <> 0 then now() end, '\\x01'::bytea
            from generate_series(1, %s) g
            """,
            [leads],
        )
        conn.execute(
            "insert into suppressions (channel, value_index, reason, source) "
            "select 'email', sha256(('e' || g)::bytea), 'unsubscribed', 'bench' "
            "from generate_series(1, %s, 97) g",
            [leads],
        )
        conn.commit()
        conn.execute("analyze")
        conn.commit()
        params = {"limit": 250}
        plan = "\n".join(r[0] for r in conn.execute("explain analyze " + SELECT, params))
        feed_s = median_seconds(conn, SELECT, params)
        conn.execute("drop index leads_feed_hot_idx")
        base_s = median_seconds(conn, SELECT, params, runs=3)
        conn.rollback()

        t = time.perf_counter()
        conn.execute("refresh materialized view concurrently mv_contactable_leads")
        conn.commit()
        refresh_s = time.perf_counter() - t
        mv_sql = conn.execute(
            "select definition from pg_matviews where matviewname = 'mv_contactable_leads'"
        ).fetchone()
        assert mv_sql is not None
        t = time.perf_counter()
        conn.execute("create temp table mv_baseline as " + str(mv_sql[0]).rstrip(";"))
        baseline_refresh_s = time.perf_counter() - t
        conn.rollback()
    uses_index = "leads_feed_hot_idx" in plan
    if "--plan" in sys.argv:
        print(plan)
    print(
        f"leads={leads:,} feeder_selection={feed_s * 1000:.1f}ms (partial index used: {uses_index}) "
        f"without_index={base_s * 1000:.1f}ms ratio={base_s / feed_s:.1f}x faster"
    )
    print(
        f"mv_refresh_concurrently={refresh_s:.2f}s create_table_as_baseline={baseline_refresh_s:.2f}s "
        f"ratio={refresh_s / baseline_refresh_s:.1f}x"
    )


if __name__ == "__main__":
    main()
