"""The MCP server over stdio (``equity-connect mcp`` in a subprocess), with the SDK's client."""

from __future__ import annotations

import os
import sys
import tempfile
from typing import Any, TextIO

import anyio
import psycopg
import pytest
from mcp import ClientSession, McpError
from mcp.client.stdio import StdioServerParameters, stdio_client

from tests.mcp_server.conftest import ENCRYPTION_KEYS, INDEX_KEY, JWT_SECRET, jwt_for


def params(db: str, token: str) -> StdioServerParameters:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EC_") and k != "DATABASE_URL"}
    env.update(
        DATABASE_URL=db,
        EC_ENCRYPTION_KEYS=ENCRYPTION_KEYS,
        EC_INDEX_KEY=INDEX_KEY,
        EC_JWT_SECRET=JWT_SECRET,
        EC_MCP_TOKEN=token,
        EC_POOL_MIN_SIZE="1",
        EC_POOL_MAX_SIZE="2",
    )
    return StdioServerParameters(
        command=sys.executable, args=["-m", "equity_connect.cli", "mcp"], env=env
    )


def session_run(db: str, token: str, errlog: TextIO) -> dict[str, Any]:
    async def main() -> dict[str, Any]:
        with anyio.fail_after(30):
            async with (
                stdio_client(params(db, token), errlog=errlog) as (read, write),
                ClientSession(read, write) as session,
            ):
                await session.initialize()
                names = {t.name for t in (await session.list_tools()).tools}
                listed = await session.call_tool("search_leads", {})
                return {"names": names, "listed": listed}

    return anyio.run(main)


def test_broker_over_stdio_sees_only_their_leads_and_is_audited(
    mcp_db: str, world: dict[str, Any]
) -> None:
    with tempfile.TemporaryFile("w+") as errlog:
        out = session_run(mcp_db, jwt_for(world["b"]), errlog)
    assert "search_leads" in out["names"] and "dlq_replay" not in out["names"]
    items = out["listed"].structuredContent["items"]
    assert sorted(i["id"] for i in items) == sorted(map(str, world["b_leads"]))
    with psycopg.connect(mcp_db) as conn:
        row = conn.execute(
            "select action, actor_role from audit_log where actor_id = %s and table_name = 'mcp'"
            " order by id desc limit 1",
            [str(world["b"])],
        ).fetchone()
    assert row == ("mcp.search_leads", "authenticated")


def test_tampered_token_refused_before_the_session_starts(
    mcp_db: str, world: dict[str, Any]
) -> None:
    # (expired tokens take the same path: authenticate_token at start-up; over
    # HTTP both are tested. One subprocess each costs seconds, so one here.)
    good = jwt_for(world["a"])
    header, body, _ = good.split(".")
    forged_body = body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1]
    with tempfile.TemporaryFile("w+") as errlog:
        with pytest.raises(ExceptionGroup) as caught:
            session_run(mcp_db, f"{header}.{forged_body}.{good.split('.')[2]}", errlog)
        errlog.seek(0)
        said = errlog.read()
    assert caught.group_contains(McpError, match="Connection closed", depth=None)
    assert "the MCP token was refused" in said
