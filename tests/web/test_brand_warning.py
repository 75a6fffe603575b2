"""`equity-connect serve` (and the demo, through the same helper) says at start-up, in one
sentence, which brand setting the homeowner pages lack: the NMLS ID, the privacy link."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import httpx
import pytest

from equity_connect.config import Settings
from tests.faults.conftest import Proc, process_env, wait_until
from tests.faults.test_api_faults import free_port


@pytest.mark.parametrize(
    ("nmls", "privacy", "named"),
    [
        (None, None, ["EC_BRAND_NMLS_ID", "EC_PRIVACY_POLICY_URL"]),
        ("123456", None, ["EC_PRIVACY_POLICY_URL"]),
        (None, "https://brand.example/privacy", ["EC_BRAND_NMLS_ID"]),
        ("  ", "https://brand.example/privacy", ["EC_BRAND_NMLS_ID"]),  # blank is unset
    ],
)
def test_the_warning_names_what_to_set(
    nmls: str | None, privacy: str | None, named: list[str]
) -> None:
    warning = Settings(brand_nmls_id=nmls, privacy_policy_url=privacy).brand_warning()
    assert warning is not None
    for env in ["EC_BRAND_NMLS_ID", "EC_PRIVACY_POLICY_URL"]:
        assert (env in warning) == (env in named)
    assert warning.count(". ") == 0 and warning.endswith(".")  # one sentence


def test_no_warning_when_both_are_set() -> None:
    settings = Settings(brand_nmls_id="123456", privacy_policy_url="https://b.example/privacy")
    assert settings.brand_warning() is None


def wait_for(proc: Proc, text: str, seconds: float = 60) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if text in proc.stderr:
            return proc.stderr
        assert proc.alive(), proc.stderr
        time.sleep(0.1)
    raise AssertionError(f"no {text!r} on stderr: {proc.stderr}")


def test_serve_warns_at_start_up(database_url: str, tmp_path: Path) -> None:
    args = [sys.executable, "-m", "equity_connect.cli", "serve"]
    unset = Proc(args, process_env(database_url, EC_PORT=str(free_port())), tmp_path, "unset")
    try:
        err = wait_for(unset, "warning:")
        line = next(x for x in err.splitlines() if "warning:" in x)
        assert "EC_BRAND_NMLS_ID" in line and "EC_PRIVACY_POLICY_URL" in line
    finally:
        unset.stop()
    port = free_port()
    branded = Proc(
        args,
        process_env(
            database_url,
            EC_PORT=str(port),
            EC_BRAND_NMLS_ID="123456",
            EC_PRIVACY_POLICY_URL="https://brand.example/privacy",
        ),
        tmp_path,
        "branded",
    )
    try:
        wait_until(lambda: up(branded, port), 60, "the API to answer /healthz")
        assert "warning:" not in branded.stderr  # serving, and nothing was said
    finally:
        branded.stop()


def up(proc: Proc, port: int) -> bool:
    assert proc.alive(), proc.stderr
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
    except httpx.TransportError:
        return False
