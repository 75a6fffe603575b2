"""The dashboard in a real browser (the system Chromium, driven by Playwright)."""

from __future__ import annotations

import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import uvicorn

from equity_connect.config import Settings
from equity_connect.web.app import create_app

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def _chromium_or_skip() -> None:
    if shutil.which(CHROMIUM) is None:
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is required in CI (.ci/run installs Debian's chromium)")
        pytest.skip(f"no browser at {CHROMIUM}: install Debian's chromium to run this test")


@pytest.fixture
def live_url(settings: Settings, fresh_database_url: str, seeded: dict[str, Any]) -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, conninfo=fresh_database_url),
            host="127.0.0.1",
            port=port,
            log_level="warning",
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def test_login_see_funnel_replay_dlq_and_screenshot(
    live_url: str, seeded: dict[str, Any], fresh_database_url: str
) -> None:
    _chromium_or_skip()
    from playwright.sync_api import sync_playwright

    with psycopg.connect(fresh_database_url) as conn:
        expected = dict(conn.execute("select stage, leads from funnel()").fetchall())
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking"],
        )
        page = browser.new_page(viewport={"width": 1366, "height": 900})
        page.goto(f"{live_url}/dashboard")
        assert page.url.endswith("/dashboard/login")
        page.fill("input[name=credential]", seeded["admin"])
        page.click("button[type=submit]")
        page.wait_for_url(re.compile(r".*/dashboard$"))
        shown = {
            el.get_attribute("data-stage"): int(el.get_attribute("data-count") or -1)
            for el in page.query_selector_all("#funnel text[data-stage]")
        }
        assert shown == expected
        assert page.locator("#dlq button").count() == 1
        page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
        page.click("#dlq button")
        page.wait_for_url(re.compile(r".*/dashboard#dlq$"))
        assert page.locator("#dlq button").count() == 0
        browser.close()
    with psycopg.connect(fresh_database_url) as conn:
        assert conn.execute("select status from pipeline_dlq").fetchone() == ("replayed",)
    assert (ARTIFACTS / "dashboard.png").stat().st_size > 10_000
