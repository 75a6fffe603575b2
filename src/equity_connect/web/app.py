"""The API application: one factory, state opened in the lifespan."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import psycopg
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.routing import Route

from equity_connect.auth.client import jwks_client_for
from equity_connect.brokers.routes import router as brokers_router
from equity_connect.calls.credentials import vapi_credentials
from equity_connect.config import Settings, get_settings
from equity_connect.consent.routes import router as consent_router
from equity_connect.db.pool import open_pool
from equity_connect.events.routes import router as events_router
from equity_connect.inbound.routes import router as inbound_router
from equity_connect.ingest.routes import router as ingest_router
from equity_connect.mcp_server.auth import AuthenticatedMcp
from equity_connect.observability.health import readiness
from equity_connect.observability.logs import request_context
from equity_connect.observability.metrics import Metrics
from equity_connect.security.keys import load_keyring
from equity_connect.sms.routes import router as sms_router
from equity_connect.web.api_docs import install_api_docs
from equity_connect.web.dashboard import router as dashboard_router
from equity_connect.web.errors import install_error_handlers
from equity_connect.web.guards import write_rejections
from equity_connect.web.lead_pages import router as lead_pages_router
from equity_connect.web.ops_pages import router as ops_pages_router
from equity_connect.web.security_headers import SecurityHeadersMiddleware
from equity_connect.web.state import AppState, state_of
from equity_connect.web.timeouts import BodyTimeoutMiddleware

# How the API's backends are named in pg_stat_activity.
API_APPLICATION_NAME = "equity-connect-api"

_log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, *, conninfo: str | None = None) -> FastAPI:
    """Build the API. Keys are loaded at start-up, so a missing key fails fast."""
    settings = settings or get_settings()
    keyring = load_keyring(settings)
    vapi_credentials(settings)  # a malformed VAPI credential fails start-up, not each call

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = open_pool(settings, conninfo=conninfo, application_name=API_APPLICATION_NAME)
        jwks = jwks_client_for(settings)
        app.state.ec = AppState(
            settings=settings, pool=pool, keyring=keyring, metrics=Metrics(pool), jwks=jwks
        )
        # The MCP server at /mcp: one per lifespan, as the SDK's session manager runs
        # only once per instance (and an app may be started more than once, as tests do).
        # Imported here: the SDK's server costs half a second to import, which every CLI
        # command that merely imports this module would otherwise pay.
        from equity_connect.mcp_server.server import EquityConnectMcp  # noqa: PLC0415

        mcp = EquityConnectMcp()
        mcp.streamable_http_app()  # creates mcp.session_manager (the SDK makes it lazily)
        app.state.mcp_handler = mcp.session_manager.handle_request
        try:
            async with mcp.session_manager.run():
                yield
        finally:
            # counts of refused requests not yet written go out before the pool closes
            try:
                write_rejections(
                    pool, app.state.ec.rejections.drain(), settings.security_event_retention_days
                )
            except psycopg.Error as exc:  # a database gone at shutdown loses only counts
                _log.warning("security event counts not written at shutdown: %s", exc)
            pool.close()
            if jwks is not None:
                jwks.close()

    app = FastAPI(
        title="Equity Connect",
        version="0.1.0",
        summary="A home-equity brokerage's lead pipeline on PostgreSQL.",
        lifespan=lifespan,
        # /docs is served offline by web/api_docs.py; ReDoc needs a CDN and inline script
        docs_url=None,
        redoc_url=None,
    )
    install_error_handlers(app)
    app.include_router(ingest_router)
    app.include_router(inbound_router)
    app.include_router(sms_router)
    app.include_router(consent_router)
    app.include_router(brokers_router)
    app.include_router(dashboard_router)
    app.include_router(events_router)
    app.include_router(ops_pages_router)
    install_api_docs(app)
    app.include_router(lead_pages_router)
    # the dashboard's one stylesheet (and any script): the CSP allows only 'self'
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")
    # A plain Starlette route whose endpoint is an ASGI app: every method, no redirect
    # from /mcp to /mcp/ (a Mount would add one, and MCP clients do not all follow it).
    app.router.routes.append(Route("/mcp", AuthenticatedMcp(), include_in_schema=False))

    # Added before the http middlewares, so it sits inside them, next to the
    # routes: its BodyTimeout reaches the route (and the 408 handler) as
    # itself, not wrapped in the ExceptionGroup of their anyio task groups.
    app.add_middleware(BodyTimeoutMiddleware, seconds=settings.request_body_timeout_seconds)

    @app.middleware("http")
    async def count_requests(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        return await state_of(request).metrics.middleware(request, call_next)

    app.middleware("http")(request_context)
    # outermost, so error responses and streamed downloads carry the headers too
    app.add_middleware(SecurityHeadersMiddleware)

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"], responses={503: {"description": "Not ready: see checks"}})
    def readyz(request: Request) -> JSONResponse:
        """Ready when the database answers, migrations are current and a worker is alive."""
        state = state_of(request)
        ready, checks = readiness(
            state.pool, max_heartbeat_age=state.settings.ready_worker_max_age_seconds
        )
        return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)

    @app.get("/metrics", tags=["health"], response_class=PlainTextResponse)
    def metrics(request: Request) -> Response:
        """Prometheus text format: HTTP, jobs, queue lag, DLQ, providers, schedules."""
        return Response(state_of(request).metrics.render(), media_type=CONTENT_TYPE_LATEST)

    return app
