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
