"""The broker workspace in a real browser (Debian's Chromium, driven by Playwright): one
browser and one seeded server for the module. Screenshots go to test-artifacts/screenshots/."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from equity_connect.config import Settings
from equity_connect.db.pool import connect
from equity_connect.notifications.service import Q as NOTIFY_Q
from equity_connect.notifications.service import compose, queue
from equity_connect.web.app import create_app
from tests.web.conftest import broker_token, live_server, login_page, make_settings, screenshot
from tests.web.workspace_seed import (
    GARBLED_FILENAME,
    OPS_KEY_NAME,
    Workspace,
    seed_workspace,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page


@pytest.fixture(scope="module")
def module_settings() -> Settings:
    return make_settings()


@pytest.fixture(scope="module")
def ws(module_database_url: str, module_settings: Settings) -> Workspace:
    return seed_workspace(module_database_url, module_settings)


@pytest.fixture(scope="module")
def base_url(module_settings: Settings, module_database_url: str, ws: Workspace) -> Iterator[str]:
    with live_server(create_app(module_settings, conninfo=module_database_url)) as url:
        yield url


def watch_console(page: Page) -> list[str]:
    """Errors the page logs (a CSP refusal of an inline script or style is one)."""
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    return errors


def no_sideways_scroll(page: Page) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def test_broker_day_from_the_email_link_to_a_note(
    browser: Browser,
    base_url: str,
    ws: Workspace,
    module_settings: Settings,
    module_database_url: str,
) -> None:
    # the link in the broker's notification email, as the mailer writes it
    with connect(module_database_url) as conn:
        nid = queue(conn, ws.broker_a, ws.leads_a[2], "reply_question", "browser-test")
        n = conn.execute(NOTIFY_Q["load_notification"], {"id": nid}).fetchone()
        conn.commit()
    assert n is not None
    email = compose(n, module_settings.model_copy(update={"public_base_url": base_url}))
    link = re.search(r"Open the lead: (\S+)", email.get_content())
    assert link is not None

    page = browser.new_page(viewport={"width": 1366, "height": 900})
    errors = watch_console(page)
    page.goto(link.group(1))
    assert "/dashboard/login?next=" in page.url  # not logged in yet: log in, come back
    page.fill("input[name=credential]", broker_token(ws.broker_a))
    page.click("form button[type=submit]")
    page.wait_for_url(f"{base_url}/dashboard/leads/{ws.leads_a[2]}")
    assert page.locator("h1").inner_text().startswith("Rosa Chen")
    screenshot(page, "lead-from-email")

    page.goto(f"{base_url}/dashboard")
    assert "Replies waiting (2)" in page.inner_text("#replies")
    screenshot(page, "broker-home")

    # search by phone, in another format than the upload's, and open the lead from the list
    page.goto(f"{base_url}/dashboard/leads")
    page.fill("input[name=q]", "626.555.0107")
    page.click("form.filters button[type=submit]")
    page.wait_for_url(re.compile(r".*/dashboard/leads\?.*q=626"))
    rows = page.locator("#leads tbody tr")
    assert rows.count() == 1 and "1 result" in page.inner_text(".pager")
    screenshot(page, "leads-search-phone")
    rows.locator("a").first.click()
    page.wait_for_url(f"{base_url}/dashboard/leads/{ws.leads_a[6]}")

    # add a note; it shows on the timeline after the redirect
    page.fill("textarea[name=body]", "Spoke with Ivy: call back Friday 10am.")
    page.click("#actions form[action$='/notes'] button[type=submit]")
    page.wait_for_url(re.compile(r".*\?done=note_added$"))
    first = page.locator("#timeline li").first
    assert "Note by Ana Alvarez" in first.inner_text()
    assert "call back Friday 10am" in first.inner_text()
    screenshot(page, "lead-with-note")
    assert errors == []  # no CSP refusal (the 404 below is logged as a failed load)

    # another broker's lead: a 404 page
    response = page.goto(f"{base_url}/dashboard/leads/{ws.leads_b[0]}")
    assert response is not None and response.status == 404
    assert "Lead not found" in page.inner_text("h1")
    screenshot(page, "lead-404")
    page.close()


def test_lead_list_and_page_on_a_phone(browser: Browser, base_url: str, ws: Workspace) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2)
    page = context.new_page()
    errors = watch_console(page)
    login_page(page, base_url, broker_token(ws.broker_a), "/dashboard/leads")
    assert page.locator("#leads tbody tr").count() == 8
    assert no_sideways_scroll(page)
    screenshot(page, "leads-390")
    page.goto(f"{base_url}/dashboard/leads/{ws.leads_a[0]}")
    assert no_sideways_scroll(page)
    screenshot(page, "lead-390")
    page.goto(f"{base_url}/dashboard")
    assert no_sideways_scroll(page)
    screenshot(page, "broker-home-390")
    assert errors == []
    context.close()


def test_ops_note_and_why_rows_are_one_lead(browser: Browser, base_url: str, ws: Workspace) -> None:
    tom = ws.leads_a[7]  # his garbled January row joined him by match weights
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    errors = watch_console(page)
    login_page(page, base_url, ws.admin_key, f"/dashboard/leads/{tom}")
    page.wait_for_url(f"{base_url}/dashboard/leads/{tom}")
    matching = page.locator("#matching tr[data-key='probabilistic']")
    assert matching.count() == 1
    text = matching.inner_text()
    assert GARBLED_FILENAME in text and "probabilistic match" in text and "owner" in text
    made = page.locator("#matching tr[data-key='none']").inner_text()
    assert "row 8 (inserted)" in made and "this row made the lead" in made
    screenshot(page, "lead-why-one-lead")

    # ops writes a note on a broker's lead; it is signed with the ops key's name
    page.fill("textarea[name=body]", "Vendor file had the house number transposed.")
    page.click("#actions form[action$='/notes'] button[type=submit]")
    page.wait_for_url(re.compile(r".*\?done=note_added$"))
    first = page.locator("#timeline li").first
    assert f"Note by ops ({OPS_KEY_NAME})" in first.inner_text()
    screenshot(page, "lead-ops-note")
    assert errors == []
    page.close()

    # the lead's broker sees the ops note on their own timeline
    broker = browser.new_page(viewport={"width": 1366, "height": 900})
    login_page(broker, base_url, broker_token(ws.broker_a), f"/dashboard/leads/{tom}")
    broker.wait_for_url(f"{base_url}/dashboard/leads/{tom}")
    assert f"Note by ops ({OPS_KEY_NAME})" in broker.inner_text("#timeline")
    broker.close()
