"""The MCP server's callers: the bearer token we already know, checked on every request.

A broker's Supabase JWT or an ops API key (``ec_<id>_<secret>``), sent as
``Authorization: Bearer <token>`` (MCP clients send only that header; an ops
key may also come as ``X-API-Key``). Streamable HTTP checks it on every HTTP
request before the SDK sees it, so a tampered, expired or revoked token is
refused at connect with 401 and never reaches a tool.
"""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send

from equity_connect.auth.principal import Principal
from equity_connect.errors import DomainError
from equity_connect.security.apikeys import parse_api_key
from equity_connect.web.auth import principal_from_api_key, principal_from_jwt
from equity_connect.web.errors import error_body
from equity_connect.web.state import AppState

# Where the authenticated caller rides in the ASGI scope, for the tools to read.
PRINCIPAL_KEY = "equity_connect.principal"


def authenticate_token(state: AppState, token: str) -> Principal:
    """The principal a bearer token names; ``DomainError`` 401 (or 503 when the signing
    keys cannot be fetched) otherwise. An API key is told apart by its shape."""
    if not token:
        raise DomainError(
            401, "unauthenticated", "send a broker JWT or an ops API key as a Bearer token"
        )
    if not token:
        raise DomainError(
            401, "unauthenticated", "send a broker JWT or an ops API key as a Bearer token"
        )
    if parse_api_key(token) is not None:
        with state.pool.connection() as conn:
            found = principal_from_api_key(conn, token)
        if found is None:
            raise DomainError(401, "bad_api_key", "the API key is unknown or revoked")
        return found
    return principal_from_jwt(state, token)


def token_from_headers(headers: dict[str, str]) -> str | None:
    """``Authorization: Bearer <token>``, else ``X-API-Key``."""
    auth = headers.get("authorization", "")
    if auth[:7].lower() == "bearer " and auth[7:].strip():
        return auth[7:].strip()
    return headers.get("x-api-key") or None


class AuthenticatedMcp:
    """ASGI app at ``/mcp``: authenticate, then hand the request to the SDK's session manager.

    The app's state (pool, keys) and ``mcp_handler`` (the SDK's
    ``StreamableHTTPSessionManager.handle_request`` of the running lifespan)
    come from the FastAPI app the route lives in.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state: AppState = scope["app"].state.ec
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        token = token_from_headers(headers)
        try:
            principal = await anyio.to_thread.run_sync(authenticate_token, state, token or "")
        except DomainError as exc:
            challenge = 'Bearer error="invalid_token"'
            extra = {"WWW-Authenticate": challenge} if exc.status == 401 else {}
            response = JSONResponse(
                error_body(exc.code, exc.detail), status_code=exc.status, headers=extra
            )
            await response(scope, receive, send)
            return
        handler: Any = scope["app"].state.mcp_handler
        await handler({**scope, PRINCIPAL_KEY: principal}, receive, send)
