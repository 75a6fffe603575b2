"""The funnel over 1,000,000 leads, per upload, per broker and overall.

Usage: python bench/funnel.py [LEADS]

Baseline, in the same run: a plain count(*) over leads (one sequential scan).
"""

from __future__ import annotations

import sys
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _db import bench_database, median_seconds


def main() -> None:
    leads = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    with bench_database() as url, psycopg.connect(url) as conn:
        conn.execute(
            "insert into uploads (sha256, byte_size, signature_scheme, status, row_count, source) "
            "select sha256(('u' || g)::bytea), 1, 'local', 'completed', %s / 20, 'vendor-' || (g %% 3) "
            "from generate_series(1, 20) g",
            [leads],
        )
        conn.execute(
            "insert into brokers (name, email) select 'b' || g, 'b' || g || '@x.test' "
            "from generate_series(1, 10) g"
        )
        conn.execute(
            """
            insert into leads (first_upload_id, assigned_broker_id, email_verified, phone_verified,
                               added_to_campaign_at, last_reply_at)
            select (select array_agg(id order by id) from uploads)[1 + g %% 20],
                   (select array_agg(id order by id) from brokers)[1 + g %% 10],
                   g %% 3 = 0, g %% 4 = 0,
                   case when g %% 40 = 0 then now() end, case when g %% 400 = 0 then now() end
            from generate_series(1, %s) g
            """,
            [leads],
        )
        conn.execute(
            "insert into bookings (lead_id, calcom_uid, status) "
            "select id, id::text, 'accepted' from leads where last_reply_at is not null "
            "and random() < 0.3"
        )
        conn.commit()
        conn.execute("analyze")
        conn.commit()
        upload = conn.execute("select id from uploads limit 1").fetchone()[0]  # type: ignore[index]
        broker = conn.execute("select id from brokers limit 1").fetchone()[0]  # type: ignore[index]
        base = median_seconds(conn, "select count(*) from leads", [])
        overall = median_seconds(conn, "select * from funnel()", [])
        per_upload = median_seconds(conn, "select * from funnel(p_upload => %s)", [upload])
        per_broker = median_seconds(conn, "select * from funnel(p_broker => %s)", [broker])
        per_source = median_seconds(conn, "select * from funnel(p_source => 'vendor-1')", [])
    print(
        f"leads={leads:,} count(*)_baseline={base * 1000:.0f}ms funnel_all={overall * 1000:.0f}ms "
        f"({overall / base:.1f}x) per_upload={per_upload * 1000:.0f}ms ({per_upload / base:.2f}x) "
        f"per_broker={per_broker * 1000:.0f}ms ({per_broker / base:.2f}x) "
        f"per_source={per_source * 1000:.0f}ms ({per_source / base:.2f}x)"
    )


if __name__ == "__main__":
    main()
