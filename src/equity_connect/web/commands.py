"""``equity-connect serve``: run the API."""

from __future__ import annotations

from typing import Annotated

import typer
import uvicorn

from equity_connect.cli_support import keyring_or_exit, migrated_database_url, warn_brand
from equity_connect.config import get_settings
from equity_connect.observability.logs import configure_logging
from equity_connect.web.app import create_app


def serve(
    host: Annotated[str | None, typer.Option(envvar="EC_HOST")] = None,
    port: Annotated[int | None, typer.Option(envvar="EC_PORT")] = None,
) -> None:
    """Serve the API (uploads, webhooks, broker API, dashboard)."""
    settings = get_settings()
    keyring_or_exit(settings)  # a clear message instead of a traceback from start-up
    # A dead database or an old schema is said at start-up, in one sentence;
    # once up, the API answers 503 while the database is away and recovers.
    url = migrated_database_url(settings)
    warn_brand(settings)
    configure_logging(settings.log_level)
    uvicorn.run(
        create_app(settings, conninfo=url),
        host=host or settings.host,
        port=port or settings.port,
        log_config=None,  # ours: JSON, and no raw-path access log (paths can hold tokens)
        access_log=False,
    )
