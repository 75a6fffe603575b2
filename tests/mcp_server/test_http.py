"""The MCP server over streamable HTTP, with the SDK's own client against a live uvicorn."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio
import httpx
import psycopg
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from equity_connect.db.pool import connect
from equity_connect.ingest.schemas import SignatureScheme
from equity_connect.ingest.service import UploadMeta, ingest
from equity_connect.security.crypto import Keyring, PiiCipher
from tests.ingest.helpers import csv_bytes, row
from tests.mcp_server.conftest import (
    ENCRYPTION_KEYS,
    INDEX_KEY,
    jwt_for,
    serve,
    settings,
)

T = TypeVar("T")


def run(url: str, token: str, work: Callable[[ClientSession], Awaitable[T]]) -> T:
    """Connect with ``token``, initialize, run ``work`` on the session."""

    async def main() -> T:
        with anyio.fail_after(20):
            async with (
                httpx.AsyncClient(headers=auth(token)) as http,
                streamable_http_client(url, http_client=http) as (read, write, _),
                ClientSession(read, write) as session,
            ):
                await session.initialize()
                return await work(session)

    return anyio.run(main)


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def payload(result: Any) -> Any:
    assert not result.isError, result.content
    return result.structuredContent


def error_text(result: Any) -> str:
    assert result.isError
    return " ".join(c.text for c in result.content)


def test_broker_lists_and_reads_only_their_leads(live_url: str, world: dict[str, Any]) -> None:
    a_token = jwt_for(world["a"])

    async def work(s: ClientSession) -> dict[str, Any]:
        listed = payload(await s.call_tool("search_leads", {"limit": 50}))
        own = payload(await s.call_tool("get_lead", {"lead_id": str(world["a_leads"][0])}))
        other = await s.call_tool("get_lead", {"lead_id": str(world["b_leads"][0])})
        window = await s.call_tool("calling_window", {"lead_id": str(world["b_leads"][0])})
        mine = payload(await s.call_tool("search_leads", {"query": "a1@example.com"}))
        theirs = payload(await s.call_tool("search_leads", {"query": "b0@example.com"}))
        return {
            "listed": listed,
            "own": own,
            "other": other,
            "window": window,
            "mine": mine,
            "theirs": theirs,
        }

    out = run(live_url, a_token, work)
    assert sorted(i["id"] for i in out["listed"]["items"]) == sorted(map(str, world["a_leads"]))
    assert {i["email"] for i in out["listed"]["items"]} == {f"a{i}@example.com" for i in range(3)}
    assert out["own"]["lead"]["phone"] == "+12135550000"
    assert set(out["own"]) >= {"notes", "consent", "bookings", "timeline"}
    assert any(e["kind"] == "lead" for e in out["own"]["timeline"])
    assert "not found" in error_text(out["other"]).replace("no such lead", "not found")
    assert "not_found" in error_text(out["window"])
    assert "b0@example.com" not in json.dumps([str(out["other"]), str(out["window"])])
    # the workspace's search, through RLS: an exact e-mail finds one's own lead only
    assert [i["email"] for i in out["mine"]["items"]] == ["a1@example.com"]
    assert out["theirs"]["items"] == []


def test_tools_per_token(live_url: str, world: dict[str, Any]) -> None:
    async def names(s: ClientSession) -> set[str]:
        return {t.name for t in (await s.list_tools()).tools}

    broker = run(live_url, jwt_for(world["a"]), names)
    reader = run(live_url, world["reader"], names)
    admin = run(live_url, world["admin"], names)
    assert {"search_leads", "add_note", "set_status", "mark_do_not_contact"} <= broker
    assert not {"dlq_list", "dlq_replay", "upload_status"} & broker
    assert "search_leads" in reader and not {"dlq_list", "dlq_replay"} & reader
    assert {"dlq_list", "dlq_replay", "upload_status", "upload_rejects"} <= admin

    async def replay(s: ClientSession) -> Any:
        return await s.call_tool("dlq_replay", {"dlq_id": 1})

    assert "not available to this token" in error_text(run(live_url, world["reader"], replay))


def test_ops_reader_gets_no_pii(live_url: str, world: dict[str, Any]) -> None:
    async def work(s: ClientSession) -> Any:
        return payload(await s.call_tool("get_lead", {"lead_id": str(world["a_leads"][1])}))

    assert run(live_url, world["reader"], work)["lead"]["email"] is None
    assert run(live_url, world["admin"], work)["lead"]["email"] == "a1@example.com"


@pytest.mark.parametrize(
    "token",
    [
        pytest.param("tampered", id="tampered"),
        pytest.param("expired", id="expired"),
        pytest.param("revoked-key", id="unknown-key"),
        pytest.param("", id="none"),
    ],
)
def test_bad_token_refused_at_connect_with_401(
    live_url: str, world: dict[str, Any], token: str
) -> None:
    good = jwt_for(world["a"])
    header, body, sig = good.split(".")
    forged = {
        "tampered": f"{header}.{body}.{sig[:-2]}{'A' if sig[-2] != 'A' else 'B'}{sig[-1]}",
        "expired": jwt_for(world["a"], ttl_seconds=60, now=time.time() - 3600),
        "revoked-key": world["admin"][:-4] + "AAAA",
        "": "",
    }[token]
    init = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "t", "version": "1"},
        },
    }
    reply = httpx.post(
        live_url,
        json=init,
        headers={**auth(forged), "Accept": "application/json, text/event-stream"},
    )
    assert reply.status_code == 401
    assert reply.headers["www-authenticate"].startswith("Bearer")

    async def never(s: ClientSession) -> None:
        raise AssertionError("initialized with a bad token")

    with pytest.raises(ExceptionGroup) as caught:  # the SDK's transport task group
        run(live_url, forged, never)
    [error] = caught.value.exceptions
    assert isinstance(error, httpx.HTTPStatusError) and error.response.status_code == 401


def test_writes_follow_the_rules_and_every_call_is_audited(
    live_url: str, world: dict[str, Any], mcp_db: str
) -> None:
    lead = str(world["a_leads"][2])
    b_lead = str(world["b_leads"][1])

    async def work(s: ClientSession) -> list[Any]:
        return [
            await s.call_tool("add_note", {"lead_id": lead, "body": "called back, wants a quote"}),
            await s.call_tool("set_status", {"lead_id": lead, "status": "paused"}),
            await s.call_tool("mark_do_not_contact", {"lead_id": lead}),
            await s.call_tool("set_status", {"lead_id": lead, "status": "active"}),
            await s.call_tool("add_note", {"lead_id": b_lead, "body": "not mine"}),
            await s.call_tool("calling_window", {"lead_id": lead}),
        ]

    broker = world["a"]
    with psycopg.connect(mcp_db) as conn:
        before = conn.execute("select max(id) from audit_log").fetchone()
    note, paused, dnc, undo, foreign, window = run(live_url, jwt_for(broker), work)
    assert payload(note)["body"] == "called back, wants a quote"
    assert payload(paused)["campaign_status"] == "paused"
    assert payload(dnc)["campaign_status"] == "do_not_contact"
    assert "opted_out" in error_text(undo)  # an agent never undoes an opt-out
    assert "not_found" in error_text(foreign)
    assert payload(window)["forbidden"] is True and payload(window)["may_call_now"] is False

    with psycopg.connect(mcp_db) as conn:
        rows = conn.execute(
            "select action, actor_id, row_id, after from audit_log"
            " where table_name = 'mcp' and id > coalesce(%s, 0) order by id",
            [before[0] if before else None],
        ).fetchall()
        status = conn.execute("select campaign_status from leads where id = %s", [lead]).fetchone()
        suppressed = conn.execute(
            "select count(*) from suppressions where lead_id = %s", [lead]
        ).fetchone()
    assert [r[0] for r in rows] == [
        "mcp.add_note",
        "mcp.set_status",
        "mcp.mark_do_not_contact",
        "mcp.set_status",
        "mcp.add_note",
        "mcp.calling_window",
    ]
    assert {r[1] for r in rows} == {str(broker)}
    assert [r[3]["ok"] for r in rows] == [True, True, True, False, False, True]
    assert rows[3][3]["error"] == "opted_out"
    assert status == ("do_not_contact",) and suppressed is not None and suppressed[0] >= 1
    assert uuid.UUID(rows[0][2]) == uuid.UUID(lead)


def test_resources_and_funnel(live_url: str, world: dict[str, Any]) -> None:
    async def work(s: ClientSession) -> tuple[Any, Any, Any]:
        disclosure = await s.read_resource("equity-connect://consent/disclosure")
        schedule = await s.read_resource("equity-connect://campaign/schedule")
        funnel = payload(await s.call_tool("funnel", {}))
        return disclosure, schedule, funnel

    disclosure, schedule, funnel = run(live_url, jwt_for(world["a"]), work)
    assert "Consent is not a condition" in disclosure.contents[0].text
    runs = json.loads(schedule.contents[0].text)
    assert {r["name"] for r in runs} == {"refresh_contactable", "feed_daily"}
    assert [s["stage"] for s in funnel["stages"]][:2] == ["upload", "dedupe"]


def test_each_token_is_rate_limited(mcp_db: str, world: dict[str, Any]) -> None:
    """A second server with a tiny bucket: the burst passes, the next call is refused (and
    audited), and another broker's bucket is untouched."""
    tight = settings().model_copy(update={"mcp_rate_per_sec": 0.01, "mcp_burst": 2.0})
    with psycopg.connect(mcp_db) as conn:
        conn.execute("delete from rate_limits where provider like 'mcp:%%'")
        conn.commit()
    with serve(tight, mcp_db) as url:

        async def three(s: ClientSession) -> list[Any]:
            return [await s.call_tool("funnel", {}) for _ in range(3)]

        async def one(s: ClientSession) -> Any:
            return await s.call_tool("funnel", {})

        first, second, third = run(url, jwt_for(world["a"]), three)
        other = run(url, jwt_for(world["b"]), one)
    assert not first.isError and not second.isError
    assert "rate limited" in error_text(third)
    assert not other.isError
    with psycopg.connect(mcp_db) as conn:
        last = conn.execute(
            "select after from audit_log where actor_id = %s and action = 'mcp.funnel'"
            " order by id desc limit 1",
            [str(world["a"])],
        ).fetchone()
    assert last is not None and last[0] == {"ok": False, "error": "rate_limited"}


def test_ops_uploads_rejects_and_dlq(live_url: str, world: dict[str, Any], mcp_db: str) -> None:
    body = csv_bytes([row(property_address="1 Good St"), row(property_state="ZZ")])
    cipher = PiiCipher(Keyring.from_values(ENCRYPTION_KEYS, INDEX_KEY))
    with connect(mcp_db) as conn:
        meta = UploadMeta(hashlib.sha256(body).digest(), len(body), SignatureScheme.LOCAL)
        upload = str(ingest(conn, cipher, [body], meta).upload_id)
        dlq = conn.execute(
            "insert into pipeline_dlq (source, payload, reason) values "
            "('job', '{\"task\": \"notifications.send\", \"args\": {}}', 'boom') returning id"
        ).fetchone()
        conn.commit()
    assert dlq is not None
    dlq_id = int(dlq["id"])

    async def reports(s: ClientSession) -> list[Any]:
        return [
            await s.call_tool("upload_status", {"upload_id": upload}),
            await s.call_tool("upload_rejects", {"upload_id": upload}),
            await s.call_tool("upload_status", {"upload_id": str(uuid.uuid4())}),
        ]

    status, rejects, missing = run(live_url, world["reader"], reports)
    [report] = payload(status)["result"]
    assert (report["id"], report["rejected_count"]) == (upload, 1)
    [reject] = payload(rejects)["result"]
    assert reject["row_number"] == 2 and reject["reason"] and "cells" not in reject
    assert "no such upload" in error_text(missing)

    async def dead_letters(s: ClientSession) -> list[Any]:
        return [
            await s.call_tool("dlq_list", {}),
            await s.call_tool("dlq_replay", {"dlq_id": dlq_id}),
            await s.call_tool("dlq_replay", {"dlq_id": dlq_id}),
        ]

    listed, replayed, again = run(live_url, world["dlq"], dead_letters)
    assert dlq_id in [d["id"] for d in payload(listed)["result"]]
    assert payload(replayed) == {"replayed": dlq_id}
    assert "not_pending" in error_text(again)  # exactly once
