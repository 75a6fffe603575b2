"""The API application: one factory, state opened in the lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from equity_connect.config import Settings, get_settings
from equity_connect.consent.routes import router as consent_router
from equity_connect.db.pool import open_pool
from equity_connect.inbound.routes import router as inbound_router
from equity_connect.ingest.routes import router as ingest_router
from equity_connect.security.keys import load_keyring
from equity_connect.web.errors import install_error_handlers
from equity_connect.web.state import AppState


def create_app(settings: Settings | None = None, *, conninfo: str | None = None) -> FastAPI:
    """Build the API. Keys are loaded at start-up, so a missing key fails fast."""
    settings = settings or get_settings()
    keyring = load_keyring(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = open_pool(settings, conninfo=conninfo)
        app.state.ec = AppState(settings=settings, pool=pool, keyring=keyring)
        try:
            yield
        finally:
            pool.close()

    app = FastAPI(
        title="Equity Connect",
        version="0.1.0",
        summary="A home-equity brokerage's lead pipeline on PostgreSQL.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.include_router(ingest_router)
    app.include_router(inbound_router)
    app.include_router(consent_router)

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    return app
