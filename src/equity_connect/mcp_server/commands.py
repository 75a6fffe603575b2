"""``equity-connect mcp``: the MCP server over stdio, for Claude Desktop and other local agents."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from equity_connect.auth.client import jwks_client_for
from equity_connect.cli_support import fail, keyring_or_exit, migrated_database_url
from equity_connect.config import get_settings
from equity_connect.db.pool import open_pool
from equity_connect.errors import DomainError
from equity_connect.mcp_server.auth import authenticate_token
from equity_connect.observability.metrics import Metrics
from equity_connect.web.state import AppState


def mcp_cmd(
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            envvar="EC_MCP_TOKEN",
            help="A broker's JWT or an ops API key (prefer the env var: argv is visible)",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Serve the MCP tools over stdio as the token's broker or ops key."""
    settings = get_settings()
    token = token or settings.mcp_token
    if not token:
        raise fail("set EC_MCP_TOKEN to a broker JWT (`equity-connect token`) or an ops API key")
    keyring = keyring_or_exit(settings)
    url = migrated_database_url(settings)
    # stdout is the protocol: every log line goes to stderr.
    logging.basicConfig(level=settings.log_level, force=True)
    pool = open_pool(settings, conninfo=url, application_name="equity-connect-mcp")
    jwks = jwks_client_for(settings)
    state = AppState(
        settings=settings, pool=pool, keyring=keyring, metrics=Metrics(pool), jwks=jwks
    )
    try:
        try:
            authenticate_token(state, token)  # refused at connect, not at the first call
        except DomainError as exc:
            raise fail(f"the MCP token was refused: {exc.detail} ({exc.code})") from None
        # Imported here: the SDK's server is half a second of import for every CLI command.
        from equity_connect.mcp_server.server import EquityConnectMcp, StdioIdentity  # noqa: PLC0415

        EquityConnectMcp(stdio=StdioIdentity(state, token)).run("stdio")
    finally:
        pool.close()
        if jwks is not None:
            jwks.close()
