"""The ops console, the consent page and /docs in a real browser (Debian's Chromium).

One browser for the module; each test has its own seeded database and
server. Screenshots go to test-artifacts/screenshots/ for a reviewer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import psycopg
from psycopg.types.json import Jsonb

from equity_connect.consent import service
from equity_connect.db.pool import connect
from tests.factories import make_lead
from tests.web.conftest import login_page, screenshot

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Route

PHONE = {"width": 390, "height": 844}


def _no_sideways_scroll(page: Page) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def test_ops_replays_a_dlq_group_and_sees_the_count_drop(
    browser: Browser, live_url: str, seeded: dict[str, Any], fresh_database_url: str
) -> None:
    with psycopg.connect(fresh_database_url) as conn:
        for _ in range(5):
            conn.execute(
                "insert into pipeline_dlq (source, payload, reason) values "
                "('campaign.push_batch', %s, 'instantly: HTTP 503 Service Unavailable')",
                [Jsonb({"task": "campaign.push_batch", "args": {"batch_id": 1}})],
            )
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    login_page(page, live_url, seeded["admin"], "/dashboard/ops/dlq")
    assert page.text_content("#dlq-total") == "6"
    screenshot(page, "ops-dlq")
    group = page.locator("#dlq-groups tr", has_text="instantly: HTTP 503")
    group.get_by_role("button", name="Replay these 5").click()
    page.wait_for_selector("p.flash")
    assert page.text_content("p.flash") == "Replayed 5 dead letters."
    assert page.text_content("#dlq-total") == "1"
    screenshot(page, "ops-dlq-replayed")
    for name in ("uploads", "jobs", "providers", "campaign"):
        page.goto(f"{live_url}/dashboard/ops/{name}")
        assert page.locator("h1").count() == 1
        screenshot(page, f"ops-{name}")
    page.goto(f"{live_url}/dashboard/ops/uploads")
    assert page.text_content("#uploads-total") == "1 upload, showing 1–1"
    page.click(f"a[href='/dashboard/ops/uploads/{seeded['upload']}']")
    assert "rejects" in page.text_content("#upload-funnel")
    screenshot(page, "ops-upload")
    assert errors == []  # nothing refused by the CSP
    page.set_viewport_size(PHONE)
    for name in ("uploads", "jobs", "dlq", "providers", "campaign"):
        page.goto(f"{live_url}/dashboard/ops/{name}")
        assert _no_sideways_scroll(page), name
    screenshot(page, "ops-campaign-phone")
    page.close()


def test_the_consent_page_fits_a_phone_and_shows_focus(
    browser: Browser, live_url: str, seeded: dict[str, Any], fresh_database_url: str
) -> None:
    with connect(fresh_database_url) as conn:
        lead = make_lead(conn, seeded["broker"])
        nonce = service.issue(conn, lead, seeded["broker"], ttl_hours=24).nonce
        conn.commit()
    page = browser.new_page(viewport=PHONE)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(f"{live_url}/v1/consent/{nonce}")
    assert "Dana Broker" in page.text_content("main")  # the lead's loan officer
    assert _no_sideways_scroll(page)
    for _ in range(10):  # keyboard only: Tab to the button, which shows a focus ring
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent") == "I agree":
            break
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("", "none")
    screenshot(page, "consent-phone")
    page.keyboard.press("Enter")
    page.wait_for_selector("text=Your consent is recorded.")
    screenshot(page, "consent-thanks-phone")
    page.goto(f"{live_url}/v1/consent/{nonce}")
    assert "This link was already used" in page.text_content("h1")
    assert _no_sideways_scroll(page)
    screenshot(page, "consent-used-phone")
    assert errors == [] or all("409" in e for e in errors)  # the used page's own status
    page.close()


def test_docs_render_with_the_network_off(browser: Browser, live_url: str) -> None:
    host = urlparse(live_url).hostname
    blocked: list[str] = []

    def only_loopback(route: Route) -> None:
        if urlparse(route.request.url).hostname == host:
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.route("**/*", only_loopback)
    page.goto(f"{live_url}/docs")
    page.wait_for_selector(".opblock", timeout=20_000)
    spec = page.evaluate("fetch('/openapi.json').then(r => r.json())")
    operations = sum(len(methods) for methods in spec["paths"].values())
    assert page.locator(".opblock").count() == operations
    assert page.locator(".opblock-summary-path", has_text="/v1/uploads").count() >= 1
    assert blocked == []  # it asked for nothing off this machine
    assert not [e for e in errors if "Content Security Policy" in e]
    screenshot(page, "docs-offline")
    page.close()
