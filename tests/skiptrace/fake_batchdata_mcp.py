"""A BatchData-like MCP server on 127.0.0.1, built with the official SDK (``FastMCP``).

Its ``skip-trace`` tool takes the REST body's ``requests`` and ``options`` as
arguments and answers with the next scripted reply, exactly like
``tests/outbound/fakeserver.FakeServer`` does over plain HTTP, so the REST
adapter's tests run unchanged against it:

* ``Reply(body=…)``: the tool returns that BatchData body;
* ``Reply(status=4xx/5xx)``: a tool error (``isError``) naming the status, the way an
  MCP wrapper relays BatchData's HTTP error;
* ``Reply(delay=…)``: the tool answers that late (timeouts);
* ``ToolFails(text)``: a tool error with that text;
* ``Disconnect()``: the connection is cut mid-call (a loopback proxy sits in front).

Each call is recorded as a ``Recorded`` whose ``json()`` is the REST body the
arguments carry, and whose headers are the HTTP request's (the bearer token).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import anyio
import uvicorn
from mcp.server.fastmcp import Context, FastMCP
from mcp.server.fastmcp.exceptions import ToolError

from tests.faults.proxy import SimulatedNetworkCut
from tests.outbound.fakeserver import Recorded, Reply, Responder

TOOL = "skip-trace"


@dataclass
class ToolFails:
    """The tool answers ``isError`` with this text."""

    text: str


@dataclass
class Disconnect:
    """The server's connection drops while the call is in flight."""


Scripted = Reply | ToolFails | Disconnect | Responder


class FakeBatchDataMcp:
    """The server, its transport and the proxy in front of it; scripted like FakeServer."""

    def __init__(self, transport: Literal["streamable-http", "sse"]) -> None:
        self.transport = transport
        self.requests: list[Recorded] = []
        self.replies: deque[Scripted] = deque()
        self.respond: Responder | None = None
        self._lock = threading.Lock()
        server = FastMCP("batchdata-fake", log_level="WARNING")

        @server.tool(name=TOOL, description="BatchData property skip trace.")
        async def skip_trace(
            requests: list[dict[str, Any]], ctx: Context, options: dict[str, Any] | None = None
        ) -> dict[str, Any]:
            return await self._answer(requests, options, ctx)

        self._mcp = server
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self._port = int(s.getsockname()[1])
        app = server.sse_app() if transport == "sse" else server.streamable_http_app()
        self._server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self._port, log_level="critical")
        )
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self.proxy = SimulatedNetworkCut(f"host=127.0.0.1 port={self._port}")

    @property
    def url(self) -> str:
        """The MCP endpoint, through the proxy."""
        path = "/sse" if self.transport == "sse" else "/mcp"
        return f"http://127.0.0.1:{self.proxy.port}{path}"

    def queue(self, *replies: Scripted) -> None:
        self.replies.extend(replies)

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.replies.clear()
            self.respond = None
        self.proxy.restore()

    async def _answer(
        self, requests: list[dict[str, Any]], options: dict[str, Any] | None, ctx: Context
    ) -> dict[str, Any]:
        http = ctx.request_context.request
        headers = {k.lower(): v for k, v in http.headers.items()} if http is not None else {}
        body: dict[str, Any] = {"requests": requests}
        if options is not None:
            body["options"] = options
        recorded = Recorded("tools/call", TOOL, headers, json.dumps(body).encode())
        with self._lock:
            self.requests.append(recorded)
            reply = self.replies.popleft() if self.replies else self.respond
        if reply is None:
            raise ToolError("no reply queued")
        if isinstance(reply, Disconnect):
            self.proxy.cut()
            await anyio.sleep(30)  # cancelled when the session goes
            raise ToolError("unreachable")
        if isinstance(reply, ToolFails):
            raise ToolError(reply.text)
        if not isinstance(reply, Reply):
            reply = reply(recorded)
        if reply.delay:
            await anyio.sleep(reply.delay)
        if reply.status >= 400:
            raise ToolError(f"BatchData API error: HTTP {reply.status}")
        if not isinstance(reply.body, dict):
            raise ToolError("the fake only answers JSON objects")
        return reply.body

    def start(self) -> None:
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started and time.monotonic() < deadline:
            time.sleep(0.02)

    def stop(self) -> None:
        self._server.should_exit = True
        self.proxy.close()
        self._thread.join(10)


@contextmanager
def running_mcp_server(transport: Literal["streamable-http", "sse"]) -> Iterator[FakeBatchDataMcp]:
    server = FakeBatchDataMcp(transport)
    server.start()
    try:
        yield server
    finally:
        server.stop()
