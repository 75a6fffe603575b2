"""The demo end to end (what `make run` does), and that its logs hold no PII."""

from __future__ import annotations

import csv
import io
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from equity_connect.config import get_settings
from equity_connect.db.url import APP_ROLE
from equity_connect.demo import run_demo
from equity_connect.demo.data import generate
from equity_connect.normalize.phone import to_e164


@pytest.fixture
def demo_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fresh_database_url: str
) -> Iterator[Path]:
    monkeypatch.setenv("DATABASE_URL", fresh_database_url)
    monkeypatch.setenv("EC_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("EC_PORT", "0")
    for name in ("EC_ENCRYPTION_KEYS", "EC_INDEX_KEY", "EC_UPLOAD_SECRETS"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    yield tmp_path
    for handler in root.handlers:
        if handler not in saved[0]:
            handler.close()
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])
    get_settings.cache_clear()


@pytest.mark.slow
def test_demo_runs_every_stage_and_logs_no_pii(demo_env: Path, fresh_database_url: str) -> None:
    funnel = {r["stage"]: r["leads"] for r in run_demo(rows=400, serve=False)}
    assert list(funnel) == ["upload", "dedupe", "verified", "fed", "replied", "booked"]
    assert all(n > 0 for n in funnel.values()), funnel
    # The simulated calls come back in VAPI's shape and record voice consent.
    with psycopg.connect(fresh_database_url) as conn:
        voice = conn.execute(
            "select count(*) from consent_records where method = 'voice_call'"
        ).fetchone()
    assert voice is not None and voice[0] > 0
    # Texts went out through the simulated SignalWire, inside calling hours only.
    with psycopg.connect(fresh_database_url) as conn:
        sent = conn.execute("select count(*) from sms_messages where status = 'sent'").fetchone()
    assert sent is not None and sent[0] > 0
    assert list((demo_env / "outbox" / "sms").glob("*.json"))
    # Re-running is safe: the same bytes and deliveries change nothing.
    again = {r["stage"]: r["leads"] for r in run_demo(rows=400, serve=False)}
    assert again == funnel

    log = (demo_env / "logs" / "demo.log").read_text()
    assert '"route": "/v1/uploads"' in log and '"route": "/v1/webhooks/instantly"' in log
    rows = list(csv.DictReader(io.StringIO(generate(400).decode())))
    emails = {r["Email Address"].lower() for r in rows if r["Email Address"]}
    phones = {to_e164(r["Phone Number"]) for r in rows if r["Phone Number"]}
    assert emails and phones
    lowered = log.lower()
    leaked = [e for e in emails if e in lowered] + [p for p in phones if p and p in log]
    assert leaked == []
    assert not re.search(r"/v1/consent/[A-Za-z0-9_-]{20,}", log)  # consent nonces stay out


@pytest.mark.slow
def test_demo_runs_as_the_application_login(
    demo_env: Path,
    fresh_database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The deployment the README describes: migrate as the owner, everything
    # else (API, jobs, schedule, feed) as ec_app, which owns nothing.
    monkeypatch.setenv("EC_MIGRATE_DATABASE_URL", fresh_database_url)
    monkeypatch.setenv(
        "DATABASE_URL", make_conninfo(fresh_database_url, user=APP_ROLE, password="")
    )
    get_settings.cache_clear()
    for name in ("EC_BRAND_NMLS_ID", "EC_PRIVACY_POLICY_URL"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    funnel = {r["stage"]: r["leads"] for r in run_demo(rows=200, serve=False)}
    assert all(n > 0 for n in funnel.values()), funnel
    # The brand the homeowner pages lack is said at start-up, with what to set.
    warned = [x for x in capsys.readouterr().err.splitlines() if x.startswith("warning:")]
    assert len(warned) == 1
    assert "EC_BRAND_NMLS_ID" in warned[0] and "EC_PRIVACY_POLICY_URL" in warned[0]
