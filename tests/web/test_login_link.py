"""The demo's broker login link: its token logs the broker in."""

from __future__ import annotations

import html
import re
import uuid
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from equity_connect.config import Settings
from equity_connect.demo.pipeline import broker_login_link, demo_settings
from equity_connect.security.crypto import generate_key
from tests.web.conftest import JWT_SECRET


def test_demo_settings_set_a_jwt_secret(tmp_path: Path) -> None:
    settings, secret = demo_settings(
        Settings(
            data_dir=tmp_path, encryption_keys=f"k1:{generate_key()}", index_key=generate_key()
        )
    )
    assert settings.jwt_secret == secret["jwt"] and len(secret["jwt"]) >= 32
    again, _ = demo_settings(
        Settings(
            data_dir=tmp_path, encryption_keys=f"k1:{generate_key()}", index_key=generate_key()
        )
    )
    assert again.jwt_secret == settings.jwt_secret  # kept across runs
    mine, _ = demo_settings(
        Settings(
            data_dir=tmp_path,
            jwt_secret="x" * 40,
            encryption_keys=f"k1:{generate_key()}",
            index_key=generate_key(),
        )
    )
    assert mine.jwt_secret == "x" * 40


def test_the_link_logs_the_broker_in(
    client: TestClient, seeded: dict[str, Any], settings: Settings
) -> None:
    assert settings.jwt_secret == JWT_SECRET
    link = broker_login_link(
        settings.model_copy(update={"public_base_url": "http://demo.test"}), seeded["broker"]
    )
    assert link is not None and link.startswith("http://demo.test/dashboard/login?token=")
    page = client.get(link.removeprefix("http://demo.test")).text
    value = re.search(r'name="credential"[^>]*value="([^"]+)"', page)
    assert value is not None
    done = client.post(
        "/dashboard/login",
        data={"credential": html.unescape(value.group(1))},
        follow_redirects=False,
    )
    assert done.status_code == 303
    home = client.get("/dashboard").text
    assert "Dana Broker" in home  # the header names the logged-in broker
    assert broker_login_link(settings.model_copy(update={"jwt_secret": None}), uuid.uuid4()) is None
