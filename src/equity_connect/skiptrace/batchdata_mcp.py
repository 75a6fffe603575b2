"""BatchData skip trace through an MCP server (the owner's plan deploys BatchData's MCP server).

The same exchange as the REST adapter (``batchdata.py``), carried by the official
MCP SDK's client instead of a POST: the REST body (``build_request_body``) is
mapped onto the tool's arguments (``arguments``: tool argument → body key), the
configured tool is called, and its result is read by the REST adapter's own
``parse_response`` into the same :class:`SkipTraceResult`. The provider's name
stays ``batchdata``: the shared rate bucket, the verification code map, the
idempotency key and the request log are BatchData's, whichever transport carried
the call (switching transport never pays for a lookup twice).

Failures become the same typed errors: a tool error (``isError``) whose text or
body names an HTTP status is typed by that status (429 → ``RateLimited``),
otherwise ``ProviderUnavailable`` (retryable: a wrapper's failure is usually its
upstream's); a timeout, a refused or dropped connection → ``ProviderUnavailable``;
the server answering 401/403 → ``ProviderAuthError``; an unknown tool or
arguments it refuses → ``ProviderRejected``; a result that is not BatchData's
body → ``MalformedResponse``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any, Final, Literal, Self

import anyio
import httpx
from mcp import ClientSession, McpError
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult, TextContent

from equity_connect.outbound.retry import (
    MalformedResponse,
    ProviderError,
    ProviderRejected,
    ProviderUnavailable,
    classify_transport_error,
    error_for_status,
)
from equity_connect.skiptrace.batchdata import (
    DEFAULT_MAX_BATCH,
    PROVIDER,
    build_request_body,
    parse_response,
)
from equity_connect.skiptrace.schemas import SkipTraceRequest, SkipTraceResult, split_batches

__all__ = ["DEFAULT_ARGUMENTS", "BatchDataMcpSkipTrace", "McpTransport", "parse_arguments"]

McpTransport = Literal["streamable-http", "sse"]
# The REST body as the tool's arguments, key for key.
DEFAULT_ARGUMENTS: Final[Mapping[str, str]] = {"requests": "requests", "options": "options"}
_BODY_KEYS: Final = frozenset({"requests", "options"})
# An HTTP status named in a tool error's text ("BatchData API error 429: ...").
_STATUS_IN_TEXT: Final = re.compile(r"\b([45]\d\d)\b")
# JSON-RPC errors that mean our call was wrong, not that the server is down.
_REQUEST_ERRORS: Final = frozenset({-32600, -32601, -32602})


def parse_arguments(text: str) -> dict[str, str]:
    """``EC_BATCHDATA_MCP_ARGUMENTS``: a JSON object, tool argument name → REST body key."""
    try:
        mapping = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"EC_BATCHDATA_MCP_ARGUMENTS is not JSON: {exc}") from None
    if (
        not isinstance(mapping, dict)
        or not mapping
        or not all(isinstance(k, str) and v in _BODY_KEYS for k, v in mapping.items())
        or "requests" not in mapping.values()
    ):
        raise ValueError(
            'EC_BATCHDATA_MCP_ARGUMENTS must map argument names to "requests" or "options",'
            ' e.g. {"requests": "requests", "options": "options"}'
        )
    return mapping


def _leaf(exc: BaseException) -> BaseException:
    """The first real error inside the SDK's (nested) task-group exception groups."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def _error_of(exc: BaseException) -> ProviderError:
    """The typed error for a failed MCP exchange (never carrying headers or PII)."""
    exc = _leaf(exc)
    if isinstance(exc, ProviderError):
        return exc
    if isinstance(exc, TimeoutError):
        return ProviderUnavailable(PROVIDER, "timeout (MCP call)")
    if isinstance(exc, httpx.HTTPStatusError):
        status = exc.response.status_code
        return error_for_status(PROVIDER, status) or ProviderUnavailable(
            PROVIDER, "unexpected HTTP status", status_code=status
        )
    if isinstance(exc, httpx.RequestError):
        return classify_transport_error(PROVIDER, exc)
    if isinstance(exc, McpError):
        if exc.error.code in _REQUEST_ERRORS:
            return ProviderRejected(PROVIDER, f"MCP request refused ({exc.error.code})")
        return ProviderUnavailable(PROVIDER, f"MCP session failed ({exc.error.code})")
    return ProviderUnavailable(PROVIDER, f"MCP transport error ({type(exc).__name__})")


def _text(result: CallToolResult) -> str:
    return "".join(c.text for c in result.content if isinstance(c, TextContent))


def _tool_error(result: CallToolResult) -> ProviderError:
    """A tool's ``isError`` result, typed by the HTTP status it names when it names one."""
    status: int | None = None
    body = result.structuredContent
    code = body.get("status", {}).get("code") if isinstance(body, dict) else None
    if isinstance(code, int) and not isinstance(code, bool):
        status = code
    else:
        found = _STATUS_IN_TEXT.search(_text(result))
        status = int(found.group(1)) if found else None
    typed = error_for_status(PROVIDER, status) if status is not None else None
    return typed or ProviderUnavailable(PROVIDER, "MCP tool error", status_code=status)


def _payload(result: CallToolResult) -> Any:
    """The BatchData body a tool returned: its structured content, else its JSON text."""
    if isinstance(result.structuredContent, dict):
        return result.structuredContent
    text = _text(result)
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        raise MalformedResponse(PROVIDER, "MCP tool result is not JSON") from None


class BatchDataMcpSkipTrace:
    """Skip trace through a BatchData MCP server's skip-trace tool.

    Args:
        url: the MCP endpoint (streamable HTTP: e.g. ``…/mcp``; SSE: ``…/sse``).
        transport: ``streamable-http`` or ``sse``.
        tool: the tool's name, as the server lists it.
        arguments: tool argument name → REST body key (``requests``, ``options``).
        token: sent as ``Authorization: Bearer``; never logged.
        max_batch: requests per call.
        timeout: seconds for one whole call (connect, initialize, tool call).
        include_tcpa_blacklisted: as the REST adapter's option.
    """

    def __init__(
        self,
        url: str,
        *,
        transport: McpTransport = "streamable-http",
        tool: str = "skip-trace",
        arguments: Mapping[str, str] = DEFAULT_ARGUMENTS,
        token: str | None = None,
        max_batch: int = DEFAULT_MAX_BATCH,
        timeout: float = 30.0,
        include_tcpa_blacklisted: bool = False,
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be >= 1")
        self.name: str = PROVIDER
        self.max_batch: int = max_batch
        self._url = url
        self._transport = transport
        self._tool = tool
        self._arguments = dict(arguments)
        self._token = token
        self._timeout = timeout
        self._include_tcpa_blacklisted = include_tcpa_blacklisted

    def __repr__(self) -> str:
        return (
            f"BatchDataMcpSkipTrace(url={self._url!r}, transport={self._transport!r}, "
            f"tool={self._tool!r}, max_batch={self.max_batch})"
        )

    def close(self) -> None:
        """Nothing to close: each call opens and closes its own session."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def lookup(self, requests: Sequence[SkipTraceRequest]) -> list[SkipTraceResult]:
        """One result per request, in order; one tool call per ``max_batch`` requests.

        Raises:
            ProviderError: the first failing call's typed error.
            ValueError: two requests share a lead id.
        """
        results: list[SkipTraceResult] = []
        for batch in split_batches(requests, self.max_batch):
            results.extend(self._lookup_batch(batch))
        return results

    def _lookup_batch(self, batch: Sequence[SkipTraceRequest]) -> list[SkipTraceResult]:
        body = build_request_body(batch, include_tcpa_blacklisted=self._include_tcpa_blacklisted)
        arguments = {name: body[key] for name, key in self._arguments.items()}
        failure: ProviderError | None = None
        try:
            result = anyio.run(self._call, arguments)
        except Exception as exc:
            failure = _error_of(exc)
        # Raised outside the except block: the SDK's exception (and the httpx request
        # inside it, Authorization header included) must not ride along as __context__.
        if failure is not None:
            raise failure
        if result.isError:
            raise _tool_error(result)
        return parse_response(batch, _payload(result))

    async def _call(self, arguments: dict[str, Any]) -> CallToolResult:
        headers = {"Authorization": f"Bearer {self._token}"} if self._token else {}
        wait = timedelta(seconds=self._timeout)
        with anyio.fail_after(self._timeout):
            if self._transport == "sse":
                async with (
                    sse_client(
                        self._url,
                        headers=headers,
                        timeout=self._timeout,
                        sse_read_timeout=self._timeout,
                    ) as (read, write),
                    ClientSession(read, write, read_timeout_seconds=wait) as session,
                ):
                    await session.initialize()
                    return await session.call_tool(self._tool, arguments)
            async with (
                httpx.AsyncClient(headers=headers, timeout=self._timeout) as http,
                streamable_http_client(self._url, http_client=http) as (read, write, _),
                ClientSession(read, write, read_timeout_seconds=wait) as session,
            ):
                await session.initialize()
                return await session.call_tool(self._tool, arguments)
