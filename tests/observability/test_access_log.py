"""Every request gets an access line, including one that ends in an unhandled 500."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from equity_connect.config import Settings
from equity_connect.security.crypto import generate_key
from equity_connect.web.app import create_app


def test_unhandled_errors_and_refusals_are_in_the_access_log(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(
        Settings(encryption_keys=f"k1:{generate_key()}", index_key=generate_key()),
        conninfo=database_url,
    )

    @app.get("/test-only/boom")
    def boom() -> None:  # a bug, simulated: nothing handles this error
        raise RuntimeError("simulated bug")

    caplog.set_level(logging.INFO, logger="equity_connect.access")
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/test-only/boom").status_code == 500
        assert client.post("/v1/webhooks/calcom", content=b"{}").status_code in (400, 401)
        assert client.get("/healthz").status_code == 200
    lines = [r for r in caplog.records if r.name == "equity_connect.access"]
    seen = [(r.__dict__["route"], r.__dict__["status"], r.levelname) for r in lines]
    assert seen[0] == ("/test-only/boom", 500, "ERROR")
    assert lines[0].__dict__["error"] == "RuntimeError"
    assert seen[1][0] == "/v1/webhooks/calcom" and seen[1][2] == "INFO"
    assert seen[2] == ("/healthz", 200, "INFO")
