"""The dashboard over HTTP: login, numbers equal the database's, replay, rejects, broker view."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

import psycopg
from fastapi.testclient import TestClient

from equity_connect.security.jwt import issue_jwt
from tests.web.conftest import JWT_SECRET


def login(client: TestClient, credential: str) -> Any:
    return client.post("/dashboard/login", data={"credential": credential}, follow_redirects=False)


def csrf_from(page: str) -> str:
    """The CSRF token a page's forms carry (the layout's forms all carry it)."""
    found = re.search(r'name="csrf" value="(\w+)"', page)
    assert found, "no CSRF token on the page"
    return found.group(1)


def funnel_in_db(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        return dict(conn.execute("select stage, leads from funnel()").fetchall())


def test_unauthenticated_goes_to_login(client: TestClient) -> None:
    response = client.get("/dashboard", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/dashboard/login"
    bad = login(client, "ec_nope_nope")
    assert "unknown or revoked" in bad.text


def test_ops_dashboard_shows_the_databases_numbers(
    client: TestClient, seeded: dict[str, Any], fresh_database_url: str
) -> None:
    assert login(client, seeded["admin"]).status_code == 303
    page = client.get("/dashboard").text
    shown = {m[0]: int(m[1]) for m in re.findall(r'data-stage="(\w+)" data-count="(\d+)"', page)}
    assert shown == funnel_in_db(fresh_database_url)
    assert shown["upload"] == 31 and shown["dedupe"] == 30 and shown["fed"] == 10
    assert 'id="funnel"' in page and "cap 250" in page
    for link in ("uploads", "jobs", "dlq", "providers", "campaign"):
        assert f'href="/dashboard/ops/{link}"' in page
    assert '<span id="dlq-count">1</span>' in page


def test_replay_button_needs_csrf_and_scope(
    client: TestClient, seeded: dict[str, Any], fresh_database_url: str
) -> None:
    login(client, seeded["admin"])
    page = client.get("/dashboard").text
    token = csrf_from(page)
    with psycopg.connect(fresh_database_url) as conn:
        [dlq_id] = conn.execute("select id from pipeline_dlq").fetchone()  # type: ignore[misc]
    assert (
        client.post(f"/dashboard/dlq/{dlq_id}/replay", data={"csrf": "forged"}).status_code == 403
    )
    done = client.post(
        f"/dashboard/dlq/{dlq_id}/replay", data={"csrf": token}, follow_redirects=False
    )
    assert done.status_code == 303
    with psycopg.connect(fresh_database_url) as conn:
        assert conn.execute("select status from pipeline_dlq").fetchone() == ("replayed",)
        assert conn.execute(
            "select count(*) from jobs where task = 'skiptrace.enrich_batch'"
        ).fetchone() == (1,)
        assert conn.execute("select action from audit_log").fetchone() == ("dlq.replay",)


def test_rejected_rows_download(client: TestClient, seeded: dict[str, Any]) -> None:
    login(client, seeded["admin"])
    response = client.get(f"/dashboard/uploads/{seeded['upload']}/rejects.csv")
    [rejected] = list(csv.DictReader(io.StringIO(response.text)))
    assert rejected["_row"] == "31" and rejected["_reason"]  # the CLI's columns (ops console)
    assert rejected["property_state"] == "QQ"


def test_broker_view_is_their_leads_only(client: TestClient, seeded: dict[str, Any]) -> None:
    token = issue_jwt(secret=JWT_SECRET.encode(), sub=seeded["broker"])
    assert login(client, token).status_code == 303
    page = client.get("/dashboard").text
    shown = {m[0]: int(m[1]) for m in re.findall(r'data-stage="(\w+)" data-count="(\d+)"', page)}
    assert "upload" not in shown and "dedupe" not in shown  # nothing a broker acts on
    assert shown["fed"] == 10  # the ten fed to this broker, of thirty
    assert client.get(f"/dashboard/uploads/{seeded['upload']}/rejects.csv").status_code == 403


def test_metrics_and_health(client: TestClient) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    client.get("/healthz")
    text = client.get("/metrics").text
    names = {f.name for f in text_string_to_metric_families(text)}
    assert {
        "ec_http_requests",
        "ec_http_request_seconds",
        "ec_jobs",
        "ec_queue_lag_seconds",
        "ec_dlq_depth",
        "ec_provider_errors_24h",
        "ec_schedule_last_success_timestamp_seconds",
        "ec_job_duration_seconds",
    } <= names
    assert "ec_dlq_depth 1.0" in text
    assert 'route="/healthz"' in text
    ready = client.get("/readyz")
    assert ready.status_code == 503  # no worker has reported yet
    assert ready.json()["checks"] == {
        "database": "ok",
        "migrations": "current",
        "worker": "no worker has reported",
    }
    assert client.get("/healthz").headers["x-request-id"]


def test_revoking_a_key_ends_its_sessions(
    client: TestClient, seeded: dict[str, Any], fresh_database_url: str
) -> None:
    login(client, seeded["admin"])
    assert client.get("/dashboard", follow_redirects=False).status_code == 200
    assert client.get("/v1/ops/uploads").status_code == 200  # the cookie works on the API too
    with psycopg.connect(fresh_database_url) as conn:
        conn.execute("update api_keys set revoked_at = now()")
        conn.commit()
    assert client.get("/dashboard", follow_redirects=False).status_code == 303
    assert client.get("/v1/ops/uploads").status_code == 401


def test_rejected_rows_need_the_export_scope(client: TestClient, seeded: dict[str, Any]) -> None:
    login(client, seeded["reader"])
    assert client.get(f"/dashboard/uploads/{seeded['upload']}/rejects.csv").status_code == 403
