"""`calcom setup` against a fake Cal.com API v2 (real HTTP on loopback), through the real CLI.

The signed test delivery goes from the fake to our real API (uvicorn on
loopback) and verifies with the secret the set-up stored, encrypted.
"""

from __future__ import annotations

import json
import socket
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from typer.testing import CliRunner

from equity_connect.cli import app
from equity_connect.config import Settings, get_settings
from equity_connect.db.pool import connect
from equity_connect.security.crypto import Keyring, PiiCipher, aad_for, generate_key
from equity_connect.web.app import create_app
from tests.fixtures.providers.calcom.fake_api import FakeCalcom

runner = CliRunner()
KEYS, INDEX = f"k1:{generate_key()}", generate_key()
SLUGS = {"equity-call", "follow-up", "doc-review"}


@pytest.fixture
def fake() -> Iterator[FakeCalcom]:
    server = FakeCalcom()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def brokers(fresh_database_url: str, fake: FakeCalcom) -> dict[str, uuid.UUID]:
    """Two brokers with Cal.com accounts, one without."""
    ids = {}
    with connect(fresh_database_url) as conn:
        for name in ("ada", "bo", "cy"):
            ids[name] = conn.execute(
                "insert into brokers (name, email) values (%s, %s) returning id",
                [name.title(), f"{name}@brokers.example.test"],
            ).fetchone()["id"]
        conn.commit()
    fake.add_user("cal_live_ada", "ada-loans", "ada@brokers.example.test")
    fake.add_user("cal_live_bo", "bo-equity", "bo@brokers.example.test")
    return ids


@pytest.fixture
def cal_env(
    monkeypatch: pytest.MonkeyPatch, fresh_database_url: str, fake: FakeCalcom
) -> Iterator[pytest.MonkeyPatch]:
    env = {
        "DATABASE_URL": fresh_database_url,
        "EC_ENCRYPTION_KEYS": KEYS,
        "EC_INDEX_KEY": INDEX,
        "EC_CALCOM_API_BASE_URL": fake.url,
        "EC_CALCOM_API_KEYS": json.dumps(
            {"ADA@brokers.example.test": "cal_live_ada", "bo@brokers.example.test": "cal_live_bo"}
        ),
        "EC_PUBLIC_BASE_URL": "https://ec.example.test",
        "EC_CALCOM_BOOKING_BASE_URL": "https://book.example.test",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


def run_setup(*args: str) -> list[dict[str, Any]]:
    get_settings.cache_clear()
    done = runner.invoke(app, ["calcom", "setup", "--json", *args])
    assert done.exit_code == 0, done.output
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


def actions(report: list[dict[str, Any]]) -> dict[tuple[str, str], str]:
    return {(r["broker"], r["item"]): r["action"] for r in report}


def test_first_run_creates_second_changes_nothing(
    cal_env: pytest.MonkeyPatch,
    brokers: dict[str, uuid.UUID],
    fake: FakeCalcom,
    fresh_database_url: str,
) -> None:
    first = run_setup()
    got = actions(first)
    for who in ("ada", "bo"):
        email = f"{who}@brokers.example.test"
        assert {got[email, f"event type {s}"] for s in SLUGS} == {"create"}
        assert got[email, "webhook https://ec.example.test/v1/webhooks/calcom"] == "create"
        assert got[email, "booking link"] == "update"
    assert got["cy@brokers.example.test", "broker"] == "skip"
    assert len(fake.event_types) == 6 and len(fake.webhooks) == 2
    for hook in fake.webhooks.values():
        assert hook["subscriberUrl"] == "https://ec.example.test/v1/webhooks/calcom"
        assert sorted(hook["triggers"]) == [
            "BOOKING_CANCELLED",
            "BOOKING_CREATED",
            "BOOKING_RESCHEDULED",
        ]
        assert hook["active"] is True and len(hook["secret"]) >= 32
    lengths = {e["slug"]: e["lengthInMinutes"] for e in fake.event_types.values()}
    assert lengths == {"equity-call": 30, "follow-up": 15, "doc-review": 45}
    # Every event-type request carried the version header; every request the key.
    for method, path, headers, _ in fake.requests:
        assert headers["authorization"].startswith("Bearer cal_live_")
        if path.startswith("/v2/event-types"):
            assert headers["cal-api-version"] == "2024-06-14", (method, path)

    with connect(fresh_database_url) as conn:
        rows = conn.execute("select name, calcom_event_url from brokers").fetchall()
        links = {r["name"]: r["calcom_event_url"] for r in rows}
        stored = conn.execute("select count(*) as n from calcom_event_types").fetchone()["n"]
    # The consent page's booking link now comes from the created event type.
    assert links == {
        "Ada": "https://book.example.test/ada-loans/equity-call",
        "Bo": "https://book.example.test/bo-equity/equity-call",
        "Cy": None,
    }
    assert stored == 6

    writes = len(fake.writes())
    second = run_setup()
    assert {r["action"] for r in second} == {"unchanged", "skip"}
    assert len(fake.writes()) == writes  # only GETs the second time


def test_dry_run_shows_the_plan_and_changes_nothing(
    cal_env: pytest.MonkeyPatch,
    brokers: dict[str, uuid.UUID],
    fake: FakeCalcom,
    fresh_database_url: str,
) -> None:
    plan = run_setup("--dry-run")
    assert {r["dry_run"] for r in plan} == {True}
    assert actions(plan)["ada@brokers.example.test", "event type equity-call"] == "create"
    assert fake.writes() == [] and fake.event_types == {} and fake.webhooks == {}
    with connect(fresh_database_url) as conn:
        assert conn.execute("select count(*) as n from calcom_webhooks").fetchone()["n"] == 0
        assert (
            conn.execute(
                "select count(*) as n from brokers where calcom_event_url is not null"
            ).fetchone()["n"]
            == 0
        )
    table = runner.invoke(app, ["calcom", "setup", "--dry-run"])
    assert table.exit_code == 0 and "would create" in table.stdout


def test_a_changed_duration_updates_in_place(
    cal_env: pytest.MonkeyPatch,
    brokers: dict[str, uuid.UUID],
    fake: FakeCalcom,
    fresh_database_url: str,
) -> None:
    run_setup()
    ids = {(e["ownerId"], e["slug"]): e["id"] for e in fake.event_types.values()}
    cal_env.setenv("EC_CALCOM_EVENT_DURATIONS", "equity-call=30,follow-up=20,doc-review=45")
    before = len(fake.writes())
    report = run_setup()
    changed = [(r["broker"], r["item"], r["detail"]) for r in report if r["action"] != "unchanged"]
    assert sorted(changed) == [
        ("ada@brokers.example.test", "event type follow-up", "15 -> 20 min"),
        ("bo@brokers.example.test", "event type follow-up", "15 -> 20 min"),
        ("cy@brokers.example.test", "broker", "no API key"),
    ]
    new_writes = fake.writes()[before:]
    assert len(new_writes) == 2 and all(m == "PATCH" for m, _ in new_writes)
    assert {(e["ownerId"], e["slug"]): e["id"] for e in fake.event_types.values()} == ids
    assert {
        e["lengthInMinutes"] for e in fake.event_types.values() if e["slug"] == "follow-up"
    } == {20}
    with connect(fresh_database_url) as conn:
        minutes = conn.execute(
            "select length_minutes from calcom_event_types where slug = 'follow-up'"
        ).fetchall()
    assert [r["length_minutes"] for r in minutes] == [20, 20]


def test_bad_settings_and_a_refused_key_are_one_sentence(
    cal_env: pytest.MonkeyPatch,
    brokers: dict[str, uuid.UUID],
    fake: FakeCalcom,
    fresh_database_url: str,
) -> None:
    cal_env.setenv("EC_CALCOM_API_KEYS", "cal_live_ada")
    get_settings.cache_clear()
    bad = runner.invoke(app, ["calcom", "setup"])
    assert bad.exit_code == 2 and "EC_CALCOM_API_KEYS must be a JSON object" in bad.output
    cal_env.setenv("EC_CALCOM_EVENT_DURATIONS", "equity-call=30,follow-up=0,doc-review=45")
    cal_env.setenv("EC_CALCOM_API_KEYS", json.dumps({"ada@brokers.example.test": "cal_live_ada"}))
    get_settings.cache_clear()
    bad = runner.invoke(app, ["calcom", "setup"])
    assert bad.exit_code == 2 and "follow-up minutes must be 1-720" in bad.output
    cal_env.setenv("EC_CALCOM_EVENT_DURATIONS", "equity-call=30,follow-up=15,doc-review=45")
    cal_env.setenv("EC_CALCOM_API_KEYS", json.dumps({"ada@brokers.example.test": "cal_live_wrong"}))
    get_settings.cache_clear()
    refused = runner.invoke(app, ["calcom", "setup"])
    assert refused.exit_code == 2
    [line] = [ln for ln in refused.output.splitlines() if ln.strip()]
    assert "ada@brokers.example.test: Cal.com GET /v2/me answered 401" in line
    assert "cal_live_wrong" not in line
    assert fake.writes() == []


@pytest.fixture
def served(fresh_database_url: str, fake: FakeCalcom) -> Iterator[Settings]:
    """Our API on a loopback port; EC_PUBLIC_BASE_URL is its address."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    settings = Settings(
        encryption_keys=KEYS, index_key=INDEX, public_base_url=f"http://127.0.0.1:{port}"
    )
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings, conninfo=fresh_database_url), log_level="warning")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        threading.Event().wait(0.02)
    yield settings
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()


def test_the_stored_secret_verifies_the_fakes_signed_test_delivery(
    cal_env: pytest.MonkeyPatch,
    brokers: dict[str, uuid.UUID],
    fake: FakeCalcom,
    served: Settings,
    fresh_database_url: str,
) -> None:
    cal_env.setenv("EC_PUBLIC_BASE_URL", served.public_base_url)
    run_setup()
    [hook_id] = [
        h for h, w in fake.webhooks.items() if w["userId"] == fake.users["cal_live_ada"].id
    ]
    ping = fake.ping(hook_id)
    assert ping.status_code == 200, ping.text
    assert ping.json()["event_type"] == "PING"

    # Stored encrypted, bound to the broker: no plaintext secret in the database.
    secret = fake.webhooks[hook_id]["secret"]
    with connect(fresh_database_url) as conn:
        row = conn.execute(
            "select secret_ciphertext from calcom_webhooks where broker_id = %s", [brokers["ada"]]
        ).fetchone()
        assert row is not None and secret.encode() not in bytes(row["secret_ciphertext"])
        cipher = PiiCipher(Keyring.from_values(KEYS, INDEX))
        assert (
            cipher.decrypt(
                row["secret_ciphertext"], aad_for("calcom_webhooks", "secret", brokers["ada"])
            )
            == secret
        )
        events = conn.execute(
            "select count(*) as n from inbound_events where provider = 'calcom'"
        ).fetchone()["n"]
    assert events == 1

    # The protection: a delivery signed with any other secret is refused.
    fake.webhooks[hook_id]["secret"] = "not-the-stored-secret-" + "x" * 20
    forged = fake.ping(hook_id)
    assert forged.status_code == 401 and forged.json()["error"] == "bad_signature"


def test_a_lost_or_changed_secret_is_set_again(
    cal_env: pytest.MonkeyPatch,
    brokers: dict[str, uuid.UUID],
    fake: FakeCalcom,
    fresh_database_url: str,
) -> None:
    run_setup()
    ada = fake.users["cal_live_ada"].id
    [hook] = [w for w in fake.webhooks.values() if w["userId"] == ada]
    hook["secret"] = "changed-in-the-cal-com-ui"
    report = actions(run_setup())
    key = ("ada@brokers.example.test", "webhook https://ec.example.test/v1/webhooks/calcom")
    assert report[key] == "update"
    with connect(fresh_database_url) as conn:
        cipher = PiiCipher(Keyring.from_values(KEYS, INDEX))
        row = conn.execute(
            "select secret_ciphertext from calcom_webhooks where broker_id = %s", [brokers["ada"]]
        ).fetchone()
        stored = cipher.decrypt(
            row["secret_ciphertext"], aad_for("calcom_webhooks", "secret", brokers["ada"])
        )
        assert hook["secret"] == stored  # ours again, the same webhook
        conn.execute("delete from calcom_webhooks where broker_id = %s", [brokers["ada"]])
        conn.commit()
    report = actions(run_setup())  # our copy lost: a new secret, set on the same webhook
    assert report[key] == "update"
    assert len([w for w in fake.webhooks.values() if w["userId"] == ada]) == 1
    assert hook["secret"] != stored


def test_the_demo_simulator_sets_every_broker_up_idempotently(
    cal_env: pytest.MonkeyPatch,
    brokers: dict[str, uuid.UUID],
    fake: FakeCalcom,
    fresh_database_url: str,
) -> None:
    cal_env.delenv("EC_CALCOM_API_KEYS")
    first = run_setup("--simulate")
    assert {r["action"] for r in first} == {"create", "update"}  # all three brokers, no skip
    again = run_setup("--simulate")
    assert {r["action"] for r in again} == {"unchanged"}
    assert fake.requests == []  # no network
    with connect(fresh_database_url) as conn:
        links = [
            r["calcom_event_url"] for r in conn.execute("select calcom_event_url from brokers")
        ]
    assert len(links) == 3 and all(
        u.startswith("https://book.example.test/sim-") and u.endswith("/equity-call") for u in links
    )
