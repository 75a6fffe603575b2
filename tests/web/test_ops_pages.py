"""The ops console over HTTP: totals not page sizes, group replay, paging, providers,
the rejects CSV, who may see what, CSRF and the CSP on every page."""

from __future__ import annotations

import csv
import hashlib
import io
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from fastapi.testclient import TestClient
from psycopg.types.json import Jsonb

from equity_connect.config import Settings
from equity_connect.web.app import create_app
from tests.web.conftest import broker_token, login_client

PAGES = ["uploads", "jobs", "dlq", "providers", "campaign"]


def _bury(url: str, source: str, reason: str, n: int) -> None:
    with psycopg.connect(url) as conn:
        for _ in range(n):
            conn.execute(
                "insert into pipeline_dlq (source, payload, reason) values (%s, %s, %s)",
                [source, Jsonb({"task": source, "args": {}}), reason],
            )


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
    assert found is not None
    return found.group(1)


def test_each_page_renders_for_ops_with_as_of_and_csp(
    client: TestClient, seeded: dict[str, Any]
) -> None:
    login_client(client, seeded["admin"])
    for name in PAGES:
        response = client.get(f"/dashboard/ops/{name}?page=1")
        assert response.status_code == 200, response.text
        assert "as of " in response.text
        # the layout's Refresh link keeps the query string
        assert f'href="/dashboard/ops/{name}?page=1"' in response.text
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert "<script>" not in response.text


def test_pages_need_an_ops_session(client: TestClient, seeded: dict[str, Any]) -> None:
    anonymous = client.get("/dashboard/ops/dlq?q=x", follow_redirects=False)
    assert anonymous.status_code == 303
    assert anonymous.headers["location"] == "/dashboard/login?next=%2Fdashboard%2Fops%2Fdlq%3Fq%3Dx"
    login_client(client, broker_token(seeded["broker"]))
    refused = client.get("/dashboard/ops/uploads")
    assert refused.status_code == 403 and "needs an ops key" in refused.text


def test_dlq_heading_is_the_total_not_the_page_size(
    client: TestClient, seeded: dict[str, Any], fresh_database_url: str
) -> None:
    _bury(fresh_database_url, "campaign.push_batch", "instantly: HTTP 500 " + "z" * 900, 44)
    login_client(client, seeded["admin"])
    page = client.get("/dashboard/ops/dlq?per_page=20").text
    assert '<span id="dlq-total">45</span>' in page  # 44 + the seeded one
    assert page.count('name="id"') == 20  # one replay form per row of the page
    assert "z" * 900 in page  # the reason whole, not cut at 90 characters
    assert "45 results · page 1 of 3" in page


def test_replaying_a_group_replays_it_all_and_says_how_many(
    client: TestClient, seeded: dict[str, Any], fresh_database_url: str
) -> None:
    _bury(fresh_database_url, "skiptrace.enrich_batch", "melissa: HTTP 503", 12)
    login_client(client, seeded["admin"])
    page = client.get("/dashboard/ops/dlq").text
    key = hashlib.md5(b"melissa: HTTP 503", usedforsecurity=False).hexdigest()
    assert f'data-group="{key}"' in page
    done = client.post(
        "/dashboard/ops/dlq/replay",
        data={"csrf": _csrf(page), "source": "skiptrace.enrich_batch", "group": key},
        follow_redirects=False,
    )
    assert done.status_code == 303 and "replayed=12" in done.headers["location"]
    after = client.get(done.headers["location"]).text
    assert "Replayed 12 dead letters." in after
    assert '<span id="dlq-total">1</span>' in after
    with psycopg.connect(fresh_database_url) as conn:
        queued = conn.execute(
            "select count(*) from jobs where task = 'skiptrace.enrich_batch' and status = 'queued'"
        ).fetchone()
        logged = conn.execute(
            "select after from audit_log where action = 'dlq.replay' order by id desc limit 1"
        ).fetchone()
    assert queued == (12,)
    assert logged is not None and logged[0]["replayed"] == 12


def test_replay_refuses_a_forged_form_and_a_key_without_the_scope(
    client: TestClient, seeded: dict[str, Any], fresh_database_url: str
) -> None:
    login_client(client, seeded["admin"])
    forged = client.post("/dashboard/ops/dlq/replay", data={"csrf": "0" * 64, "q": "melissa"})
    assert forged.status_code == 403 and forged.json()["error"] == "bad_csrf"
    with psycopg.connect(fresh_database_url) as conn:
        assert conn.execute(
            "select count(*) from pipeline_dlq where status = 'pending'"
        ).fetchone() == (1,)
    login_client(client, seeded["reader"])
    page = client.get("/dashboard/ops/dlq").text
    assert "Replay" not in page.split("<h1>", 1)[1].split("</h1>")[0]
    assert 'action="/dashboard/ops/dlq/replay"' not in page
    refused = client.post("/dashboard/ops/dlq/replay", data={"csrf": _csrf(page), "id": "1"})
    assert refused.status_code == 403


def test_uploads_list_pages_with_a_correct_total(
    client: TestClient, seeded: dict[str, Any], fresh_database_url: str
) -> None:
    with psycopg.connect(fresh_database_url) as conn:
        for i in range(7):
            conn.execute(
                "insert into uploads (sha256, source, filename, byte_size, signature_scheme, "
                "status, error, uploaded_by, received_at) values "
                "(%s, 'vendor-y', %s, 10, 'plan_hmac', 'failed', 'no usable header row', "
                "'api (plan_hmac) from 10.0.0.9', now() - make_interval(mins => %s))",
                [hashlib.sha256(str(i).encode()).digest(), f"list-{i}.csv", i + 1],
            )
    login_client(client, seeded["admin"])
    first = client.get("/dashboard/ops/uploads?source=vendor-y&per_page=3").text
    assert "7 uploads, showing 1–3" in first
    assert "list-0.csv" in first and "list-3.csv" not in first
    assert "no usable header row" in first and "api (plan_hmac) from 10.0.0.9" in first
    third = client.get("/dashboard/ops/uploads?source=vendor-y&per_page=3&page=3").text
    assert "showing 7–7" in third and "list-6.csv" in third
    everything = client.get("/dashboard/ops/uploads").text
    assert "8 uploads" in everything  # with the seeded one
    detail = client.get(f"/dashboard/ops/uploads/{seeded['upload']}").text
    assert "Leads it fed</dt><dd>30" in detail


def test_rejects_csv_has_the_clis_columns_and_the_old_url_redirects(
    client: TestClient, seeded: dict[str, Any]
) -> None:
    login_client(client, seeded["admin"])
    old = client.get(f"/dashboard/uploads/{seeded['upload']}/rejects.csv", follow_redirects=False)
    assert old.status_code == 308
    response = client.get(old.headers["location"])
    reader = csv.DictReader(io.StringIO(response.text))
    [rejected] = list(reader)
    assert reader.fieldnames is not None and reader.fieldnames[:2] == ["_row", "_reason"]
    assert rejected["_row"] == "31" and rejected["property_state"] == "QQ"
    login_client(client, seeded["reader"])
    assert client.get(old.headers["location"]).status_code == 403


def test_providers_page_shows_24h_and_7d_from_the_event_log(
    fresh_database_url: str, seeded: dict[str, Any], settings: Settings
) -> None:
    now = datetime.now(UTC)
    with psycopg.connect(fresh_database_url) as conn:
        for hours, outcome, count, status in (
            (2, "requested", 100, None),
            (3, "rate_limited", 100, 429),
            (72, "requested", 250, None),
            (100, "failed", 50, 502),
        ):
            conn.execute(
                "insert into pipeline_events (occurred_at, stage, outcome, count, provider, "
                "status_code) values (%s, 'skiptrace', %s, %s, 'melissa', %s)",
                [now - timedelta(hours=hours), outcome, count, status],
            )
    priced = settings.model_copy(update={"provider_cost_per_record_usd": {"melissa": 0.02}})
    with TestClient(create_app(priced, conninfo=fresh_database_url)) as client:
        login_client(client, seeded["admin"])
        page = client.get("/dashboard/ops/providers").text
    day = page.split('data-provider="melissa" data-window="24h">', 1)[1].split("</tr>")[0]
    week = page.split('data-provider="melissa" data-window="7d">', 1)[1].split("</tr>")[0]
    cells = lambda row: re.findall(r'class="num">([^<]*)<', row)  # noqa: E731
    assert cells(day) == ["2", "100", "0", "1", "$2.00"]
    assert cells(week) == ["4", "350", "1", "1", "$7.00"]
