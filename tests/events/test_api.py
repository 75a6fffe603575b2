"""The ops API and the CLI over the same endpoints and delivery log."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from psycopg_pool import ConnectionPool
from standardwebhooks import Webhook
from typer.testing import CliRunner

from equity_connect.cli import app as cli
from equity_connect.config import get_settings
from equity_connect.db.pool import Conn
from equity_connect.events.service import secret_aad
from equity_connect.keys.rotation import rotate
from equity_connect.security.apikeys import generate_api_key
from equity_connect.security.crypto import DecryptionError, Keyring, PiiCipher, generate_key
from equity_connect.web.app import create_app
from tests.events.helpers import FAST, add_dead_letter, rows, run_worker
from tests.outbound.fakeserver import Reply, running_server

KEYS = {"encryption_keys": f"k1:{generate_key()}", "index_key": generate_key()}
KEYRING = Keyring.from_values(KEYS["encryption_keys"], KEYS["index_key"])
ONE_TRY = FAST.model_copy(update={"events_max_attempts": 1, **KEYS})


def _key(pool: ConnectionPool[Conn], scopes: list[str]) -> str:
    key = generate_api_key()
    with pool.connection() as conn:
        conn.execute(
            "insert into api_keys (key_id, name, secret_hash, scopes) values (%s, 'k', %s, %s)",
            [key.key_id, key.secret_hash, scopes],
        )
    return key.secret


@pytest.fixture
def client(pool: ConnectionPool[Conn], events_db: str) -> Iterator[TestClient]:
    with TestClient(create_app(ONE_TRY, conninfo=events_db)) as c:
        yield c


def test_ops_api_subscribe_inspect_and_replay(
    client: TestClient, pool: ConnectionPool[Conn]
) -> None:
    manager = {"X-API-Key": _key(pool, ["events:manage"])}
    reader = {"X-API-Key": _key(pool, ["leads:read"])}
    with running_server() as receiver:
        receiver.queue(Reply(500))
        receiver.respond = lambda _r: Reply(200)
        body = {"url": receiver.url + "/n8n", "event_types": ["dlq.added"]}
        assert client.post("/v1/ops/events/endpoints", json=body).status_code == 401
        assert client.post("/v1/ops/events/endpoints", json=body, headers=reader).status_code == 403
        internal = client.post(
            "/v1/ops/events/endpoints",
            json={**body, "url": "https://169.254.169.254/latest"},
            headers=manager,
        )
        assert internal.status_code == 422
        assert "internal" in internal.json()["detail"]
        unknown = client.post(
            "/v1/ops/events/endpoints",
            json={**body, "event_types": ["lead.exploded"]},
            headers=manager,
        )
        assert unknown.status_code == 422
        created = client.post("/v1/ops/events/endpoints", json=body, headers=manager)
        assert created.status_code == 201, created.text
        secret = created.json()["secret"]
        assert secret.startswith("whsec_")
        listed = client.get("/v1/ops/events/endpoints", headers=manager)
        assert listed.status_code == 200 and secret not in listed.text
        assert [e["url"] for e in listed.json()] == [receiver.url + "/n8n"]

        add_dead_letter(pool)
        run_worker(pool, KEYRING, settings=ONE_TRY)
        failed = client.get("/v1/ops/events/deliveries?status=failed", headers=manager).json()
        assert [d["last_status_code"] for d in failed] == [500]
        delivery_id = failed[0]["id"]
        detail = client.get(f"/v1/ops/events/deliveries/{delivery_id}", headers=manager).json()
        assert [(a["outcome"], a["status_code"]) for a in detail["log"]] == [("failed", 500)]
        assert detail["log"][0]["duration_ms"] > 0

        replayed = client.post(f"/v1/ops/events/deliveries/{delivery_id}/replay", headers=manager)
        assert replayed.status_code == 200
        again = client.post(f"/v1/ops/events/deliveries/{delivery_id}/replay", headers=manager)
        assert again.status_code == 409  # still pending: its job is queued
        missing = client.post("/v1/ops/events/deliveries/999999/replay", headers=manager)
        assert missing.status_code == 404
        run_worker(pool, KEYRING, settings=ONE_TRY)
        first, second = receiver.requests
        assert first.headers["webhook-id"] == second.headers["webhook-id"]
        Webhook(secret).verify(second.body, second.headers)
    done = client.get(f"/v1/ops/events/deliveries/{delivery_id}", headers=manager).json()
    assert (done["status"], done["replays"]) == ("delivered", 1)
    actions = rows(
        pool,
        "select action from audit_log where action in ('events.subscribe', 'events.replay') "
        "and actor_role = 'ops' order by id desc limit 2",
    )
    assert sorted(a["action"] for a in actions) == ["events.replay", "events.subscribe"]


def test_the_secret_is_encrypted_at_rest_and_bound_to_its_endpoint(
    client: TestClient, pool: ConnectionPool[Conn]
) -> None:
    manager = {"X-API-Key": _key(pool, ["admin"])}
    made = [
        client.post(
            "/v1/ops/events/endpoints",
            json={"url": f"https://hooks{i}.example.com/x", "event_types": ["lead.booked"]},
            headers=manager,
        ).json()
        for i in range(2)
    ]
    stored = {
        str(r["id"]): bytes(r["secret_ciphertext"])
        for r in rows(pool, "select id, secret_ciphertext from event_endpoints")
    }
    cipher = PiiCipher(KEYRING)
    for e in made:
        blob = stored[e["id"]]
        key_b64 = e["secret"].removeprefix("whsec_")
        assert key_b64.encode() not in blob and e["secret"].encode() not in blob
        assert cipher.decrypt(blob, secret_aad(uuid.UUID(e["id"]))) == e["secret"]
    # a ciphertext copied onto another endpoint's row does not decrypt there
    other = uuid.UUID(made[1]["id"])
    with pytest.raises(DecryptionError):
        cipher.decrypt(stored[made[0]["id"]], secret_aad(other))


runner = CliRunner()


@pytest.fixture
def cli_env(
    monkeypatch: pytest.MonkeyPatch, events_db: str, pool: ConnectionPool[Conn]
) -> Iterator[None]:
    monkeypatch.setenv("DATABASE_URL", events_db)
    monkeypatch.setenv("EC_ENCRYPTION_KEYS", KEYS["encryption_keys"])
    monkeypatch.setenv("EC_INDEX_KEY", KEYS["index_key"])
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_cli_subscribe_list_deliveries_replay_disable(
    cli_env: None, pool: ConnectionPool[Conn]
) -> None:
    with running_server() as receiver:
        receiver.queue(Reply(503))
        receiver.respond = lambda _r: Reply(200)
        made = runner.invoke(
            cli, ["events", "subscribe", receiver.url, "--type", "dlq.added", "-t", "lead.booked"]
        )
        assert made.exit_code == 0, made.output
        secret = made.stdout.strip().splitlines()[-1]
        assert secret.startswith("whsec_")
        [endpoint] = rows(pool, "select id from event_endpoints")
        listed = runner.invoke(cli, ["events", "list"])
        assert listed.exit_code == 0 and secret not in listed.stdout
        assert "dlq.added" in listed.stdout

        add_dead_letter(pool)
        run_worker(pool, KEYRING, settings=ONE_TRY)
        failed = runner.invoke(cli, ["events", "deliveries", "--status", "failed"])
        assert failed.exit_code == 0 and "HTTP 503" in failed.stdout
        [d] = rows(pool, "select id from event_deliveries")
        log = runner.invoke(cli, ["events", "deliveries", "--id", str(d["id"])])
        assert log.exit_code == 0 and "503" in log.stdout
        replay = runner.invoke(cli, ["events", "replay", "--failed"])
        assert replay.exit_code == 0, replay.output
        run_worker(pool, KEYRING, settings=ONE_TRY)
        assert len(receiver.requests) == 2
        Webhook(secret).verify(receiver.requests[1].body, receiver.requests[1].headers)

    refused = runner.invoke(cli, ["events", "subscribe", "http://10.0.0.8/x", "-t", "dlq.added"])
    assert refused.exit_code == 1
    assert "https" in refused.output and "Traceback" not in refused.output
    assert runner.invoke(cli, ["events", "disable", str(endpoint["id"])]).exit_code == 0
    gone = runner.invoke(cli, ["events", "disable", "00000000-0000-0000-0000-000000000000"])
    assert gone.exit_code == 1 and "no event endpoint" in gone.output
    [state] = rows(pool, "select enabled from event_endpoints")
    assert state == {"enabled": False}
    actions = rows(
        pool,
        "select action from audit_log where action like 'events.%%' and actor_id like 'cli:%%' "
        "order by id desc limit 3",
    )
    assert [a["action"] for a in actions] == ["events.disable", "events.replay", "events.subscribe"]


def test_key_rotation_rewraps_endpoint_secrets(
    client: TestClient, pool: ConnectionPool[Conn]
) -> None:
    manager = {"X-API-Key": _key(pool, ["events:manage"])}
    made = client.post(
        "/v1/ops/events/endpoints",
        json={"url": "https://hooks.example.com/r", "event_types": ["dlq.added"]},
        headers=manager,
    ).json()
    new_key = f"k2:{generate_key()}"
    both = Keyring.from_values(f"{new_key},{KEYS['encryption_keys']}", KEYS["index_key"])
    assert rotate(pool, PiiCipher(both)) >= 1
    [row] = rows(pool, "select secret_ciphertext from event_endpoints")
    only_new = PiiCipher(Keyring.from_values(new_key, KEYS["index_key"]))
    blob = bytes(row["secret_ciphertext"])
    assert only_new.key_id_of(blob) == "k2"
    assert only_new.decrypt(blob, secret_aad(uuid.UUID(made["id"]))) == made["secret"]


def test_an_endpoint_allowed_pii_needs_the_export_scope(
    client: TestClient, pool: ConnectionPool[Conn]
) -> None:
    manager = {"X-API-Key": _key(pool, ["events:manage"])}
    exporter = {"X-API-Key": _key(pool, ["events:manage", "exports:read"])}
    body = {"url": "http://127.0.0.1:9/hook", "event_types": ["lead.booked"], "allow_pii": True}
    assert client.post("/v1/ops/events/endpoints", json=body, headers=manager).status_code == 403
    assert client.post("/v1/ops/events/endpoints", json=body, headers=exporter).status_code == 201
