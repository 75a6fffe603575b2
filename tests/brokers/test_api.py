"""The broker workspace over HTTP: isolation by RLS, auth, ops keys, export, audit."""

from __future__ import annotations

import base64
import csv
import hashlib
import hmac
import io
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from equity_connect.config import Settings
from equity_connect.db.pool import connect
from equity_connect.security.apikeys import generate_api_key
from equity_connect.security.crypto import Keyring, PiiCipher, aad_for, generate_key
from equity_connect.security.jwt import issue_jwt
from equity_connect.web.app import create_app
from tests.factories import make_broker, make_lead

JWT_SECRET = "a-supabase-project-jwt-secret-of-32+bytes"


@pytest.fixture
def settings() -> Settings:
    return Settings(
        encryption_keys=f"k1:{generate_key()}", index_key=generate_key(), jwt_secret=JWT_SECRET
    )


@pytest.fixture
def world(settings: Settings, fresh_database_url: str) -> dict[str, Any]:
    cipher = PiiCipher(Keyring.from_values(str(settings.encryption_keys), str(settings.index_key)))
    with connect(fresh_database_url) as conn:
        a, b = make_broker(conn, "A"), make_broker(conn, "B")
        a_leads = [
            make_lead(
                conn,
                a,
                cipher=cipher,
                email=f"a{i}@example.com",
                phone=f"+1213555000{i}",
                lead_score=10 * i,
                owner_first_name="=cmd|' /C calc'!A0",
            )
            for i in range(5)
        ]
        b_leads = [make_lead(conn, b, cipher=cipher, email=f"b{i}@example.com") for i in range(3)]
        ops = generate_api_key()
        reader = generate_api_key()
        for key, scopes in ((ops, ["admin"]), (reader, ["leads:read"])):
            conn.execute(
                "insert into api_keys (key_id, name, secret_hash, scopes) values (%s, 'k', %s, %s)",
                [key.key_id, key.secret_hash, scopes],
            )
        conn.commit()
    return {
        "a": a,
        "b": b,
        "a_leads": a_leads,
        "b_leads": b_leads,
        "ops": ops.secret,
        "reader": reader.secret,
    }


@pytest.fixture
def client(settings: Settings, fresh_database_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(settings, conninfo=fresh_database_url)) as c:
        yield c


def bearer(broker: uuid.UUID, **kw: Any) -> dict[str, str]:
    return {"Authorization": "Bearer " + issue_jwt(secret=JWT_SECRET.encode(), sub=broker, **kw)}


def test_list_pages_only_own_leads(client: TestClient, world: dict[str, Any]) -> None:
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get("/v1/leads", params=params, headers=bearer(world["a"])).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == sorted(str(i) for i in world["a_leads"])
    first = client.get("/v1/leads", headers=bearer(world["a"])).json()["items"]
    assert {item["email"] for item in first} == {f"a{i}@example.com" for i in range(5)}
    filtered = client.get("/v1/leads", params={"min_score": 30}, headers=bearer(world["a"])).json()
    assert len(filtered["items"]) == 2


def test_other_brokers_leads_are_404_everywhere(client: TestClient, world: dict[str, Any]) -> None:
    other = world["b_leads"][0]
    h = bearer(world["a"])
    assert client.get(f"/v1/leads/{other}", headers=h).status_code == 404
    assert (
        client.patch(
            f"/v1/leads/{other}", json={"campaign_status": "paused"}, headers=h
        ).status_code
        == 404
    )
    assert client.post(f"/v1/leads/{other}/notes", json={"body": "x"}, headers=h).status_code == 404
    for sub in ("notes", "consent", "bookings"):
        assert client.get(f"/v1/leads/{other}/{sub}", headers=h).status_code == 404
    # B's lead is untouched
    assert (
        client.get(f"/v1/leads/{other}", headers=bearer(world["b"])).json()["campaign_status"]
        == "new"
    )


def test_export_holds_only_own_leads_and_defuses_formulas(
    client: TestClient, world: dict[str, Any]
) -> None:
    response = client.get("/v1/leads/export.csv", headers=bearer(world["a"]))
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert sorted(r["lead_id"] for r in rows) == sorted(str(i) for i in world["a_leads"])
    assert all(r["first_name"].startswith("'=") for r in rows)
    assert {r["phone"] for r in rows} == {f"+1213555000{i}" for i in range(5)}


def test_status_change_is_audited_and_do_not_contact_suppresses(
    client: TestClient, world: dict[str, Any], fresh_database_url: str
) -> None:
    lead = world["a_leads"][0]
    h = bearer(world["a"])
    assert (
        client.patch(f"/v1/leads/{lead}", json={"campaign_status": "paused"}, headers=h).json()[
            "campaign_status"
        ]
        == "paused"
    )
    assert (
        client.patch(
            f"/v1/leads/{lead}", json={"campaign_status": "do_not_contact"}, headers=h
        ).status_code
        == 200
    )
    assert (
        client.patch(
            f"/v1/leads/{lead}", json={"campaign_status": "unsubscribed"}, headers=h
        ).status_code
        == 422
    )
    note = client.post(
        f"/v1/leads/{lead}/notes", json={"body": "called, left voicemail"}, headers=h
    )
    assert note.status_code == 201
    assert [n["body"] for n in client.get(f"/v1/leads/{lead}/notes", headers=h).json()] == [
        "called, left voicemail"
    ]
    with psycopg.connect(fresh_database_url) as conn:
        audit = conn.execute(
            "select actor_role, actor_id, action, before, after from audit_log order by id"
        ).fetchall()
        suppressed = conn.execute(
            "select count(*) from suppressions where lead_id = %s", [lead]
        ).fetchone()
    assert [a[2] for a in audit] == ["lead.status", "lead.status", "lead.note"]
    assert audit[0][:2] == ("authenticated", str(world["a"]))
    assert audit[0][3] == {"campaign_status": "new"} and audit[0][4] == {
        "campaign_status": "paused"
    }
    assert suppressed == (2,)
    assert "a0@example.com" not in json.dumps([a[3:] for a in audit])


def test_audit_log_cannot_be_changed_by_application_roles(
    world: dict[str, Any], fresh_database_url: str
) -> None:
    with connect(fresh_database_url) as conn:
        conn.execute(
            "insert into audit_log (actor_role, action, table_name) values ('ops', 'x', 't')"
        )
        conn.commit()
        for role in ("pipeline_writer", "service_role", "authenticated"):
            for statement in ("update audit_log set action = 'y'", "delete from audit_log"):
                with conn.transaction(force_rollback=True):
                    conn.execute("select set_config('role', %s, true)", [role])
                    with pytest.raises(psycopg.errors.InsufficientPrivilege):
                        conn.execute(statement)
        # even the owner, past the grants, meets the trigger
        with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
            conn.execute("delete from audit_log")


def _forge(claims: dict[str, Any], alg: str = "HS256", secret: bytes = JWT_SECRET.encode()) -> str:
    def b64(obj: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    head = b64({"alg": alg, "typ": "JWT"}) + "." + b64(claims)
    if alg == "none":
        return head + "."
    sig = hmac.new(secret, head.encode(), hashlib.sha256).digest()
    return head + "." + base64.urlsafe_b64encode(sig).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "token",
    [
        "expired",
        "wrong-secret",
        "alg-none",
        "missing-sub",
        "wrong-role",
        "garbage",
    ],
)
def test_bad_tokens_are_401(client: TestClient, world: dict[str, Any], token: str) -> None:
    now = int(time.time())
    good = {
        "sub": str(world["a"]),
        "role": "authenticated",
        "aud": "authenticated",
        "exp": now + 600,
    }
    value = {
        "expired": _forge({**good, "exp": now - 600}),
        "wrong-secret": _forge(good, secret=b"x" * 40),
        "alg-none": _forge(good, alg="none"),
        "missing-sub": _forge({k: v for k, v in good.items() if k != "sub"}),
        "wrong-role": _forge({**good, "role": "service_role"}),
        "garbage": "not.a.jwt",
    }[token]
    response = client.get("/v1/leads", headers={"Authorization": f"Bearer {value}"})
    assert response.status_code == 401, response.text
    assert response.json()["error"].startswith("jwt_")


def test_no_credentials_is_401(client: TestClient) -> None:
    assert client.get("/v1/leads").status_code == 401


def test_ops_key_scopes_and_reassign(
    client: TestClient, world: dict[str, Any], fresh_database_url: str
) -> None:
    lead = world["a_leads"][1]
    body = {"broker_id": str(world["b"])}
    reader = client.post(
        f"/v1/ops/leads/{lead}/assign", json=body, headers={"X-API-Key": world["reader"]}
    )
    assert reader.status_code == 403
    assert (
        client.post(
            f"/v1/ops/leads/{lead}/assign", json=body, headers={"X-API-Key": "ec_bogus_key"}
        ).status_code
        == 401
    )
    ok = client.post(f"/v1/ops/leads/{lead}/assign", json=body, headers={"X-API-Key": world["ops"]})
    assert ok.status_code == 200
    # now it is B's, and A can no longer see it
    assert client.get(f"/v1/leads/{lead}", headers=bearer(world["a"])).status_code == 404
    assert client.get(f"/v1/leads/{lead}", headers=bearer(world["b"])).status_code == 200
    missing = client.post(
        f"/v1/ops/leads/{lead}/assign",
        json={"broker_id": str(uuid.uuid4())},
        headers={"X-API-Key": world["ops"]},
    )
    assert missing.status_code == 404
    full = client.get("/v1/leads/export.csv", headers={"X-API-Key": world["ops"]})
    assert len(list(csv.DictReader(io.StringIO(full.text)))) == 8
    assert (
        client.get("/v1/leads/export.csv", headers={"X-API-Key": world["reader"]}).status_code
        == 403
    )
    with psycopg.connect(fresh_database_url) as conn:
        conn.execute("update api_keys set revoked_at = now()")
        conn.commit()
    assert (
        client.get("/v1/leads/export.csv", headers={"X-API-Key": world["ops"]}).status_code == 401
    )


def test_broker_endpoints_refuse_ops_keys(client: TestClient, world: dict[str, Any]) -> None:
    assert client.get("/v1/leads", headers={"X-API-Key": world["ops"]}).status_code == 403


def test_openapi_documents_every_route(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    paths = set(spec["paths"])
    assert {
        "/v1/uploads",
        "/v1/leads",
        "/v1/leads/{lead_id}",
        "/v1/leads/export.csv",
        "/v1/webhooks/instantly",
        "/v1/webhooks/vapi",
        "/v1/webhooks/calcom",
        "/v1/consent/{nonce}",
        "/v1/ops/leads/{lead_id}/assign",
        "/healthz",
        "/readyz",
        "/metrics",
    } <= paths
    assert "401" in spec["paths"]["/v1/leads/{lead_id}"]["get"]["responses"]


def test_ops_uploads_and_dlq_endpoints(
    client: TestClient, world: dict[str, Any], fresh_database_url: str
) -> None:
    with psycopg.connect(fresh_database_url) as conn:
        conn.execute(
            "insert into pipeline_dlq (source, payload, reason) values "
            "('skiptrace.enrich_batch', %s, 'boom')",
            [json.dumps({"task": "skiptrace.enrich_batch", "args": {}})],
        )
        conn.commit()
    ops = {"X-API-Key": world["ops"]}
    assert client.get("/v1/ops/uploads", headers=ops).status_code == 200
    [entry] = client.get("/v1/ops/dlq", headers=ops).json()
    assert client.get("/v1/ops/dlq", headers={"X-API-Key": world["reader"]}).status_code == 403
    assert client.post(f"/v1/ops/dlq/{entry['id']}/replay", headers=ops).json() == {
        "replayed": entry["id"]
    }
    assert client.post(f"/v1/ops/dlq/{entry['id']}/replay", headers=ops).status_code == 404
    assert client.get("/v1/ops/dlq", headers=ops).json() == []
    with psycopg.connect(fresh_database_url) as conn:
        assert conn.execute(
            "select count(*) from jobs where task = 'skiptrace.enrich_batch'"
        ).fetchone() == (1,)


def test_call_window_follows_the_strictest_zone() -> None:
    from datetime import UTC, datetime

    from equity_connect.brokers.service import call_window

    # 18:30 Pacific = 21:30 Eastern: a California home with a New York number may not be called.
    evening = datetime(2026, 11, 30, 2, 30, tzinfo=UTC)
    may, opens = call_window("CA", "90001", "+12125550100", dnc=False, now=evening)
    assert may is False and opens is not None
    assert opens.astimezone(UTC).hour == 16  # 08:00 Pacific the next morning
    assert call_window("CA", "90001", "+13105550100", dnc=False, now=evening)[0] is True
    assert call_window("CA", "90001", "+13105550100", dnc=True, now=evening) == (False, None)
    assert call_window("CA", "90001", None, dnc=False, now=evening) == (False, None)


def test_lead_view_says_whether_the_broker_may_call(
    client: TestClient, world: dict[str, Any]
) -> None:
    lead = client.get(f"/v1/leads/{world['a_leads'][0]}", headers=bearer(world["a"])).json()
    assert isinstance(lead["may_call_now"], bool)
    assert lead["may_call_now"] or lead["next_call_window"] is not None


def test_patch_refuses_to_undo_an_opt_out(
    client: TestClient, world: dict[str, Any], fresh_database_url: str
) -> None:
    lead = world["a_leads"][2]
    with psycopg.connect(fresh_database_url) as conn:
        conn.execute("update leads set campaign_status = 'unsubscribed' where id = %s", [lead])
        conn.commit()
    response = client.patch(
        f"/v1/leads/{lead}", json={"campaign_status": "active"}, headers=bearer(world["a"])
    )
    assert response.status_code == 409 and response.json()["error"] == "opted_out"


def test_export_flags_leads_on_the_suppression_list(
    client: TestClient, world: dict[str, Any], fresh_database_url: str
) -> None:
    lead = world["a_leads"][3]
    with psycopg.connect(fresh_database_url) as conn:  # another lead's opt-out, same address
        conn.execute(
            "insert into suppressions (channel, value_index, reason, source) "
            "select 'email', email_index, 'unsubscribed', 'test' from leads where id = %s",
            [lead],
        )
        conn.commit()
    rows = {
        r["lead_id"]: r
        for r in csv.DictReader(
            io.StringIO(client.get("/v1/leads/export.csv", headers=bearer(world["a"])).text)
        )
    }
    assert rows[str(lead)]["suppressed"] == "true"
    assert sum(r["suppressed"] == "true" for r in rows.values()) == 1


def test_brokers_cannot_run_pipeline_helpers(
    world: dict[str, Any], fresh_database_url: str
) -> None:
    from equity_connect.db.pool import act_as_broker

    with connect(fresh_database_url) as conn:
        act_as_broker(conn, world["a"])
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("select ec_internal.pipeline_only('leads')")


def test_vendor_free_text_is_decrypted_for_the_owning_broker_and_ops_only(
    client: TestClient, world: dict[str, Any], settings: Settings, fresh_database_url: str
) -> None:
    cipher = PiiCipher(Keyring.from_values(str(settings.encryption_keys), str(settings.index_key)))
    lead = world["a_leads"][1]
    extras = {"notes": "Cell: 415.867.5309", "memo": "prefers x at y dot com"}
    ciphertext = cipher.encrypt(json.dumps(extras), aad_for("leads", "raw_extra", lead))
    with psycopg.connect(fresh_database_url) as conn:
        conn.execute("update leads set raw_extra_ciphertext = %s where id = %s", [ciphertext, lead])
        conn.commit()
    detail = client.get(f"/v1/leads/{lead}", headers=bearer(world["a"]))
    assert detail.status_code == 200 and detail.json()["extra"] == extras
    assert client.get(f"/v1/leads/{lead}", headers=bearer(world["b"])).status_code == 404
    for headers in (bearer(world["a"]), {"X-API-Key": world["ops"]}):
        rows = {
            r["lead_id"]: r
            for r in csv.DictReader(
                io.StringIO(client.get("/v1/leads/export.csv", headers=headers).text)
            )
        }
        assert json.loads(rows[str(lead)]["extra"]) == extras
        assert rows[str(world["a_leads"][0])]["extra"] == ""
    b_rows = client.get("/v1/leads/export.csv", headers=bearer(world["b"])).text
    assert "8675309" not in b_rows
