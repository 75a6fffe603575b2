"""Every response carries the CSP and the other security headers; forms need CSRF."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.web.conftest import login_client


def test_csp_forbids_inline_script_and_framing(client: TestClient) -> None:
    for path in ("/dashboard/login", "/healthz", "/static/app.css", "/dashboard/nowhere"):
        headers = client.get(path).headers
        csp = headers["content-security-policy"]
        directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
        assert directives["script-src"] == "'self'"
        assert "unsafe-inline" not in csp
        assert directives["style-src"] == "'self'"
        assert directives["frame-ancestors"] == "'none'"
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "same-origin"


def test_pages_have_no_inline_script_or_style(client: TestClient, seeded: dict[str, Any]) -> None:
    login_client(client, seeded["admin"])
    page = client.get("/dashboard").text
    assert "<script>" not in page and "<style" not in page and " style=" not in page
    assert '<link rel="stylesheet" href="/static/app.css">' in page


def test_logout_needs_csrf(client: TestClient, seeded: dict[str, Any]) -> None:
    login_client(client, seeded["admin"])
    assert client.post("/dashboard/logout", data={"csrf": "forged"}).status_code == 403
    assert client.get("/dashboard", follow_redirects=False).status_code == 200  # still in


def test_a_browser_gets_a_page_for_a_dashboard_error_and_the_api_keeps_json(
    client: TestClient, seeded: dict[str, Any]
) -> None:
    login_client(client, seeded["admin"])
    page = client.post(
        "/dashboard/logout", data={"csrf": "forged"}, headers={"Accept": "text/html"}
    )
    assert page.status_code == 403
    assert page.headers["content-type"].startswith("text/html")
    assert "<h1>Not allowed</h1>" in page.text and "submit again" in page.text
    api = client.post("/dashboard/logout", data={"csrf": "forged"})
    assert api.status_code == 403 and api.json()["error"] == "bad_csrf"


def test_a_login_posted_from_another_site_is_refused(
    client: TestClient, seeded: dict[str, Any]
) -> None:
    form = {"credential": seeded["admin"]}
    for headers in ({"Sec-Fetch-Site": "cross-site"}, {"Origin": "https://evil.example"}):
        refused = client.post("/dashboard/login", data=form, headers=headers)
        assert refused.status_code == 403, headers
        assert "ec_session" not in refused.headers.get("set-cookie", "")
    same = client.post(
        "/dashboard/login",
        data=form,
        headers={"Sec-Fetch-Site": "same-origin"},
        follow_redirects=False,
    )
    assert same.status_code == 303


def test_login_next_stays_on_the_dashboard(client: TestClient, seeded: dict[str, Any]) -> None:
    for target, lands in (
        ("/dashboard/leads?q=x", "/dashboard/leads?q=x"),
        ("https://evil.example/", "/dashboard"),
        ("//evil.example/dashboard", "/dashboard"),
    ):
        response = client.post(
            "/dashboard/login",
            data={"credential": seeded["admin"], "next": target},
            follow_redirects=False,
        )
        assert response.headers["location"] == lands
