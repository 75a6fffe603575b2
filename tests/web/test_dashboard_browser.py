"""The ops home in a real browser (the system Chromium, driven by Playwright)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import psycopg

from tests.web.conftest import login_page, screenshot

if TYPE_CHECKING:
    from playwright.sync_api import Browser


def test_ops_login_sees_the_funnel_and_screenshot(
    browser: Browser, live_url: str, seeded: dict[str, Any], fresh_database_url: str
) -> None:
    with psycopg.connect(fresh_database_url) as conn:
        expected = dict(conn.execute("select stage, leads from funnel()").fetchall())
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(f"{live_url}/dashboard")
    assert page.url.endswith("/dashboard/login")
    login_page(page, live_url, seeded["admin"])
    shown = {
        el.get_attribute("data-stage"): int(el.get_attribute("data-count") or -1)
        for el in page.query_selector_all("#funnel text[data-stage]")
    }
    assert shown == expected
    # the stylesheet loaded under the CSP (an inline style would be refused and logged)
    assert page.eval_on_selector("header.top", "e => getComputedStyle(e).display") == "flex"
    assert errors == []
    assert page.locator("nav a[href='/dashboard/ops/dlq']").count() == 1
    path = screenshot(page, "ops-home")
    page.close()
    assert path.stat().st_size > 10_000
