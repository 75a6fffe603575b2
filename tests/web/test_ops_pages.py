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
import pytest
from fastapi.testclient import TestClient
from psycopg.types.json import Jsonb

from equity_connect.config import Settings
from tests.web.conftest import broker_token, login_client, make_settings

PAGES = ["uploads", "jobs", "dlq", "providers", "campaign"]


@pytest.fixture
def settings() -> Settings:
    """The dashboard's settings, with a price per record for the providers page."""
    return make_settings().model_copy(update={"provider_cost_per_record_usd": {"melissa": 0.02}})


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
    anonymous = client.get("/dashboard/ops/dlq?q=x", follow_redirects=False)
    assert anonymous.status_code == 303
    assert anonymous.headers["location"] == "/dashboard/login?next=%2Fdashboard%2Fops%2Fdlq%3Fq%3Dx"
    login_client(client, broker_token(seeded["broker"]))
    refused = client.get("/dashboard/ops/uploads")
    assert refused.status_code == 403 and "needs an ops key" in refused.text
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


def test_jobs_page_shows_depth_heartbeats_and_a_jobs_attempts(
    client: TestClient, seeded: dict[str, Any], fresh_database_url: str
) -> None:
    error = "melissa: HTTP 503 after 8 tries; " + "context " * 200
    with psycopg.connect(fresh_database_url) as conn:
        row = conn.execute(
            "insert into jobs (task, status, attempts, max_attempts, last_error) "
            "values ('skiptrace.enrich_batch', 'dead', 8, 8, %s) returning id",
            [error],
        ).fetchone()
        conn.execute(
            "insert into workers (id, hostname, pid, state, slots, slots_alive) "
            "values ('w-bench-1', 'host-a', 4242, 'working', 4, 3)"
        )
    assert row is not None
    login_client(client, seeded["admin"])
    jobs = client.get("/dashboard/ops/jobs?status=dead").text
    assert "w-bench-1" in jobs and "3 / 4" in jobs  # the heartbeat and its live slots
    assert f'href="/dashboard/ops/jobs/{row[0]}"' in jobs
    detail = client.get(f"/dashboard/ops/jobs/{row[0]}")
    assert detail.status_code == 200 and "8 of 8" in detail.text
    assert error.strip() in detail.text  # the last error whole
    assert client.get("/dashboard/ops/jobs/999999999").status_code == 404


def test_dead_letters_total_group_replay_csrf_and_scope(
    client: TestClient, seeded: dict[str, Any], fresh_database_url: str
) -> None:
    login_client(client, seeded["admin"])
    # a forged form replays nothing
    forged = client.post("/dashboard/ops/dlq/replay", data={"csrf": "0" * 64, "q": "melissa"})
    assert forged.status_code == 403 and forged.json()["error"] == "bad_csrf"
    with psycopg.connect(fresh_database_url) as conn:
        pending = conn.execute("select count(*) from pipeline_dlq where status = 'pending'")
        assert pending.fetchone() == (1,)

    # the heading is the total, not the page size; reasons are whole
    _bury(fresh_database_url, "campaign.push_batch", "instantly: HTTP 500 " + "z" * 900, 44)
    _bury(fresh_database_url, "skiptrace.enrich_batch", "melissa: HTTP 503", 12)
    page = client.get("/dashboard/ops/dlq?per_page=20").text
    assert '<span id="dlq-total">57</span>' in page  # 44 + 12 + the seeded one
    assert page.count('name="id"') == 20  # one replay form per row of the page
    assert "z" * 900 in page  # not cut at 90 characters
    assert "57 results · page 1 of 3" in page
    filtered = client.get("/dashboard/ops/dlq?q=HTTP+5").text
    assert '<span id="dlq-matching">56</span>' in filtered

    # a group is replayed whole, in one go, and the page says how many
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
    assert '<span id="dlq-total">45</span>' in after
    with psycopg.connect(fresh_database_url) as conn:
        queued = conn.execute(
            "select count(*) from jobs where task = 'skiptrace.enrich_batch' and status = 'queued'"
        ).fetchone()
        logged = conn.execute(
            "select after from audit_log where action = 'dlq.replay' order by id desc limit 1"
        ).fetchone()
    assert queued == (12,)
    assert logged is not None and logged[0]["replayed"] == 12

    # a key without dlq:replay sees no replay button and is refused
    login_client(client, seeded["reader"])
    page = client.get("/dashboard/ops/dlq").text
    assert 'action="/dashboard/ops/dlq/replay"' not in page
    refused = client.post("/dashboard/ops/dlq/replay", data={"csrf": _csrf(page), "id": "1"})
    assert refused.status_code == 403


def test_uploads_page_with_a_correct_total_and_the_rejects_csv(
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

    # the rejects: the CLI's columns, at the new URL and through the old one
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
    client: TestClient, seeded: dict[str, Any], fresh_database_url: str
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
    login_client(client, seeded["admin"])
    page = client.get("/dashboard/ops/providers").text
    day = page.split('data-provider="melissa" data-window="24h">', 1)[1].split("</tr>")[0]
    week = page.split('data-provider="melissa" data-window="7d">', 1)[1].split("</tr>")[0]
    cells = lambda row: re.findall(r'class="num">([^<]*)<', row)  # noqa: E731
    assert cells(day) == ["2", "100", "0", "1", "$2.00"]
    assert cells(week) == ["4", "350", "1", "1", "$7.00"]


@pytest.mark.parametrize(
    "url",
    ["/dashboard/ops/dlq?q=%00", "/dashboard/ops/dlq?source=%00", "/dashboard/ops/jobs?task=%00"],
)
def test_a_nul_in_a_filter_is_dropped(
    client: TestClient, seeded: dict[str, Any], fresh_database_url: str, url: str
) -> None:
    _bury(fresh_database_url, "enrich", "provider said no", 2)
    login_client(client, seeded["admin"])
    bare = url.partition("?")[0]
    unfiltered = client.get(bare, headers={"accept": "text/html"})
    answer = client.get(url, headers={"accept": "text/html"})
    assert answer.status_code == 200, answer.text
    # the filter is dropped: the page is the unfiltered one (but for its own links)
    as_of = re.compile(r"as of [^<]*")
    assert as_of.sub("", answer.text.replace(url, bare)) == as_of.sub("", unfiltered.text)


def test_bad_upload_filters_are_dropped_and_the_page_shows(
    client: TestClient, seeded: dict[str, Any]
) -> None:
    login_client(client, seeded["admin"])
    for query in ("status=zz&page=-3", "page=abc&per_page=-1", "page=99999999999999999999"):
        answer = client.get(f"/dashboard/ops/uploads?{query}", headers={"accept": "text/html"})
        assert answer.status_code == 200, (query, answer.text)
        assert "1 upload" in answer.text  # the seeded one: the bad filter was dropped
        assert "vendor-x" in answer.text
    dlq = client.get("/dashboard/ops/dlq?page=-1&replayed=x&q=" + "y" * 600)
    assert dlq.status_code == 200 and "Replayed" not in dlq.text


def test_a_dashboard_form_that_cannot_be_read_is_an_html_page(
    client: TestClient, seeded: dict[str, Any]
) -> None:
    login_client(client, seeded["admin"])
    csrf = _csrf(client.get("/dashboard/ops/dlq").text)
    answer = client.post(
        "/dashboard/ops/dlq/replay",
        data={"csrf": csrf, "id": "not-a-number"},
        headers={"accept": "text/html"},
    )
    assert answer.status_code == 422
    assert answer.headers["content-type"].startswith("text/html")
    assert "reload the page and try again" in answer.text
    # The API keeps its JSON list of what was wrong.
    api = client.post("/dashboard/ops/dlq/replay", data={"csrf": csrf, "id": "x"})
    assert api.status_code == 422 and isinstance(api.json()["detail"], list)
