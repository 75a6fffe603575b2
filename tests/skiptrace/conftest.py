"""A real local server per test, standing in for the provider: plain HTTP (FakeServer), or
an MCP server built with the official SDK for BatchData's MCP transport."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from equity_connect.skiptrace.batchdata import SKIP_TRACE_PATH, BatchDataSkipTrace
from equity_connect.skiptrace.batchdata_mcp import BatchDataMcpSkipTrace
from tests.outbound.fakeserver import FakeServer, running_server
from tests.skiptrace.fake_batchdata_mcp import TOOL, FakeBatchDataMcp, running_mcp_server

TOKEN = "bd-token-s3cr3t"


@pytest.fixture
def server() -> Iterator[FakeServer]:
    """A started fake provider on 127.0.0.1 (random port), stopped after the test."""
    with running_server() as fake:
        yield fake


@pytest.fixture(scope="session")
def mcp_http_server() -> Iterator[FakeBatchDataMcp]:
    """One BatchData-like MCP server (streamable HTTP) for the session, reset per test."""
    with running_mcp_server("streamable-http") as fake:
        yield fake


@pytest.fixture(scope="session")
def mcp_sse_server() -> Iterator[FakeBatchDataMcp]:
    """The same over the SSE transport."""
    with running_mcp_server("sse") as fake:
        yield fake


@dataclass
class Wire:
    """One transport to BatchData: its fake server, and a client of ours pointed at it."""

    kind: str  # "rest", "mcp" (streamable HTTP) or "mcp-sse"
    server: Any  # FakeServer or FakeBatchDataMcp: the same queue/respond/requests

    @property
    def endpoint(self) -> tuple[str, str]:
        """(method, path) a skip-trace call is recorded under."""
        return ("POST", SKIP_TRACE_PATH) if self.kind == "rest" else ("tools/call", TOOL)

    def client(
        self, token: str = TOKEN, url: str | None = None, **kw: Any
    ) -> BatchDataSkipTrace | BatchDataMcpSkipTrace:
        if self.kind == "rest":
            return BatchDataSkipTrace(token, base_url=url or self.server.url, **kw)
        kw.pop("clock", None)  # Retry-After dates are HTTP's; an MCP result has none
        transport = "sse" if self.kind == "mcp-sse" else "streamable-http"
        return BatchDataMcpSkipTrace(url or self.server.url, transport=transport, token=token, **kw)


def _wire(request: pytest.FixtureRequest, kind: str) -> Iterator[Wire]:
    if kind == "rest":
        with running_server() as fake:
            yield Wire(kind, fake)
        return
    fake_mcp: FakeBatchDataMcp = request.getfixturevalue(
        "mcp_sse_server" if kind == "mcp-sse" else "mcp_http_server"
    )
    fake_mcp.reset()
    yield Wire(kind, fake_mcp)
    fake_mcp.reset()


@pytest.fixture(params=["rest", "mcp"])
def wire(request: pytest.FixtureRequest) -> Iterator[Wire]:
    """The REST adapter's tests, run over REST and over BatchData's MCP transport."""
    yield from _wire(request, request.param)


@pytest.fixture(params=["mcp", "mcp-sse"])
def mcp_wire(request: pytest.FixtureRequest) -> Iterator[Wire]:
    """The MCP transport's own tests, over streamable HTTP and SSE."""
    yield from _wire(request, request.param)
