"""The ops console's list pages over large tables: uploads and dead letters.

Usage: python bench/ops_pages.py [LEADS] [DEAD_LETTERS]    (default 1,000,000 and 50,000)

Seeds LEADS leads fed by 200 uploads through lineage (one upload row per
lead), 20,000 more (failed, empty) uploads, and DEAD_LETTERS dead letters (95%
pending, over 5 jobs × 40 reasons; the issue saw 1,800). Then, per page, times:

- page: the whole page served over HTTP (login cookie, route, every query,
  the template), median of 5, as the server spends it;
- db: the same statements under EXPLAIN ANALYZE in the same run (planning +
  execution as PostgreSQL reports them): the baseline, what the database
  itself needs for the page's queries.

It prints each page's time, its baseline and the ratio, and fails (exit 1)
if a page takes 200 ms or more.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path
from typing import Any, LiteralString

import psycopg
from fastapi.testclient import TestClient
from psycopg.rows import dict_row

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _db import bench_database

from equity_connect.config import Settings
from equity_connect.observability.console import DlqFilter, Paging, Q
from equity_connect.security.apikeys import generate_api_key
from equity_connect.security.crypto import generate_key
from equity_connect.web.app import create_app

BUDGET_MS = 200.0
UPLOADS_WITH_ROWS = 200
EMPTY_UPLOADS = 20_000


def seed(conn: psycopg.Connection[Any], leads: int, dead_letters: int) -> None:
    """The tables, filled in bulk by the database itself."""
    conn.execute(
        "insert into uploads (sha256, byte_size, signature_scheme, status, row_count, "
        "inserted_count, source, filename, uploaded_by, received_at) "
        "select sha256(('u' || g)::bytea), 1000, 'plan_hmac', 'completed', %(per)s, %(per)s, "
        "'vendor-' || (g %% 3), 'list-' || g || '.csv', 'api (plan_hmac) from 10.0.0.1', "
        "now() - make_interval(hours => g) from generate_series(1, %(n)s) g",
        {"n": UPLOADS_WITH_ROWS, "per": leads // UPLOADS_WITH_ROWS},
    )
    conn.execute(
        "insert into uploads (sha256, byte_size, signature_scheme, status, error, source, "
        "filename, received_at) "
        "select sha256(('f' || g)::bytea), 10, 'plan_hmac', 'failed', 'no usable header row', "
        "'vendor-x', 'bad-' || g || '.csv', now() - make_interval(mins => g) "
        "from generate_series(1, %(n)s) g",
        {"n": EMPTY_UPLOADS},
    )
    conn.execute(
        """
        with u as (select array_agg(id order by received_at desc) as ids from uploads
                   where status = 'completed')
        insert into leads (first_upload_id, email_verified, phone_verified,
                           added_to_campaign_at, last_reply_at)
        select u.ids[1 + g %% %(n)s], g %% 3 = 0, g %% 4 = 0,
               case when g %% 40 = 0 then now() end, case when g %% 400 = 0 then now() end
        from generate_series(1, %(leads)s) g, u
        """,
        {"n": UPLOADS_WITH_ROWS, "leads": leads},
    )
    conn.execute(
        "insert into upload_rows (upload_id, row_number, lead_id, status) "
        "select first_upload_id, row_number() over (partition by first_upload_id), id, "
        "'inserted' from leads"
    )
    conn.execute(
        "insert into bookings (lead_id, calcom_uid, status) "
        "select id, id::text, 'accepted' from leads where last_reply_at is not null "
        "and random() < 0.3"
    )
    conn.execute(
        """
        insert into pipeline_dlq (source, payload, reason, attempts, status, created_at)
        select 'task_' || (g %% 5) || '.run_batch',
               jsonb_build_object('task', 'task_' || (g %% 5) || '.run_batch', 'args', '{}'::jsonb),
               'provider ' || (g %% 40) || ': HTTP 503 ' || repeat('detail ', 30),
               8, case when g %% 20 = 0 then 'replayed' else 'pending' end::dlq_status,
               now() - make_interval(secs => g)
        from generate_series(1, %(n)s) g
        """,
        {"n": dead_letters},
    )
    conn.commit()
    conn.autocommit = True  # VACUUM runs outside a transaction
    conn.execute("vacuum analyze")
    conn.autocommit = False


def db_ms(conn: psycopg.Connection[Any], statements: list[tuple[LiteralString, Any]]) -> float:
    """Planning + execution time PostgreSQL reports for the statements, summed (median of 5)."""
    samples = []
    for _ in range(5):
        total = 0.0
        for query, params in statements:
            plan = conn.execute("explain (analyze, format json) " + query, params).fetchone()
            assert plan is not None
            top = plan["QUERY PLAN"][0]
            total += top["Planning Time"] + top["Execution Time"]
        samples.append(total)
    return statistics.median(samples)


def page_ms(client: TestClient, path: str) -> float:
    """Median wall time of serving ``path`` (the first, cold request is not counted)."""
    assert client.get(path).status_code == 200
    samples = []
    for _ in range(5):
        started = time.perf_counter()
        response = client.get(path)
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
    return statistics.median(samples)


def main() -> int:
    leads = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    dead_letters = int(sys.argv[2]) if len(sys.argv) > 2 else 50_000
    settings = Settings(encryption_keys=f"k1:{generate_key()}", index_key=generate_key())
    key = generate_api_key()
    with bench_database() as url, psycopg.connect(url, row_factory=dict_row) as conn:
        started = time.perf_counter()
        seed(conn, leads, dead_letters)
        conn.execute(
            "insert into api_keys (key_id, name, secret_hash, scopes) values (%s, 'b', %s, %s)",
            [key.key_id, key.secret_hash, ["admin"]],
        )
        conn.commit()
        print(f"seeded in {time.perf_counter() - started:.0f}s", flush=True)

        paging = Paging()
        first = conn.execute(
            Q["console_uploads_page"],
            {"status": None, "source": None, "limit": paging.per_page, "offset": 0},
        ).fetchall()
        uploads_sql: list[tuple[LiteralString, Any]] = [
            (
                Q["console_uploads_page"],
                {"status": None, "source": None, "limit": paging.per_page, "offset": 0},
            ),
            (Q["console_upload_funnels"], {"ids": [r["id"] for r in first]}),
            (Q["console_uploads_total"], {"status": None, "source": None}),
        ]
        everything = DlqFilter().params()
        filtered = DlqFilter(contains="provider 7:").params()
        page_args = {"limit": paging.per_page, "offset": 0}
        dlq_sql: list[tuple[LiteralString, Any]] = [
            (Q["console_dlq_page"], {**everything, **page_args}),
            (Q["console_dlq_groups"], {**everything, "limit": 50}),
        ]
        dlq_filtered_sql: list[tuple[LiteralString, Any]] = [
            (Q["console_dlq_page"], {**filtered, **page_args}),
            (Q["console_dlq_groups"], {**filtered, "limit": 50}),
        ]
        baselines = {
            "uploads": db_ms(conn, uploads_sql),
            "dlq": db_ms(conn, dlq_sql),
            "dlq?q=": db_ms(conn, dlq_filtered_sql),
        }
        with TestClient(create_app(settings, conninfo=url)) as client:
            login = client.post(
                "/dashboard/login", data={"credential": key.secret}, follow_redirects=False
            )
            assert login.status_code == 303
            pages = {
                "uploads": page_ms(client, "/dashboard/ops/uploads"),
                "dlq": page_ms(client, "/dashboard/ops/dlq"),
                "dlq?q=": page_ms(client, "/dashboard/ops/dlq?q=provider+7%3A"),
            }
    failed = 0
    for name, ms in pages.items():
        base = baselines[name]
        ok = ms < BUDGET_MS
        failed += not ok
        print(
            f"leads={leads:,} dlq={dead_letters:,} page={name:<8} served={ms:6.1f}ms  explain_analyze={base:6.1f}ms  "
            f"ratio={ms / base:4.2f}x  budget={BUDGET_MS:.0f}ms {'ok' if ok else 'OVER'}"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
