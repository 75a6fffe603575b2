"""One handler renders every domain and signature error: as JSON for the API, and as a
page for a browser on the dashboard (a person reading a sentence, not an object)."""

from __future__ import annotations

import logging
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response

from equity_connect.db.faults import is_connection_lost
from equity_connect.errors import DomainError
from equity_connect.security.kek import KeyServiceError
from equity_connect.security.signatures import SignatureError
from equity_connect.web.render import page_context, templates
from equity_connect.web.timeouts import BodyTimeout

__all__ = ["DomainError", "error_body", "install_error_handlers"]

_log = logging.getLogger(__name__)
DATA_ERROR_DETAIL = (
    "a value in the request cannot be stored (it may contain a NUL character); "
    "remove it and try again"
)
VALIDATION_DETAIL = (
    "the form or link was incomplete or not understood; go back, reload the page and try again"
)


def error_body(code: str, detail: str, **extra: Any) -> dict[str, Any]:
    """The one JSON shape of every error response."""
    return {"error": code, "detail": detail, **extra}


_HEADINGS = {
    400: "That request was not understood",
    401: "Please log in",
    403: "Not allowed",
    404: "Not found",
    408: "The request took too long",
    409: "That was already done",
    422: "That could not be done",
    503: "Temporarily unavailable",
}


def _wants_page(request: Request) -> bool:
    """A browser on the dashboard (the API and its clients keep their JSON)."""
    return request.url.path.startswith("/dashboard") and "text/html" in request.headers.get(
        "accept", ""
    )


def dashboard_error_page(
    request: Request, status: int, detail: str, headers: dict[str, str] | None = None
) -> HTMLResponse:
    """The dashboard's error page. Rendered without the session, so that it still renders
    when the database (which a session check reads) is the thing that failed."""
    html = templates.get_template("error.html").render(
        **page_context(request, None),
        heading=_HEADINGS.get(status, "Something went wrong"),
        message=detail,
    )
    return HTMLResponse(html, status_code=status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    """Render domain and signature errors; no expected error becomes a 500."""

    async def on_domain_error(request: Request, exc: Exception) -> JSONResponse | HTMLResponse:
        assert isinstance(exc, DomainError)  # registered for this type only
        if _wants_page(request):
            return dashboard_error_page(request, exc.status, exc.detail)
        return JSONResponse(error_body(exc.code, exc.detail, **exc.extra), status_code=exc.status)

    async def on_signature_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, SignatureError)  # registered for this type only
        return JSONResponse(error_body(exc.code, exc.reason), status_code=exc.status)

    async def on_database_error(request: Request, exc: Exception) -> JSONResponse | HTMLResponse:
        # The database is away (failover, pooler restart) or too slow: the
        # request can be retried shortly, so say so instead of a 500.
        if is_connection_lost(exc):
            code, detail = "database_unavailable", "the database is unreachable; retry shortly"
        else:
            code, detail = "database_busy", "the database did not answer in time; retry shortly"
        if _wants_page(request):
            return dashboard_error_page(request, 503, detail, {"Retry-After": "5"})
        return JSONResponse(error_body(code, detail), status_code=503, headers={"Retry-After": "5"})

    async def on_data_error(request: Request, exc: Exception) -> JSONResponse | HTMLResponse:
        # A value the database cannot hold (PostgreSQL text cannot contain NUL; a
        # number out of range): the request is at fault, so it is a 422, never a
        # 500. Each known edge refuses such input first with its own sentence; this
        # is the net under every other path. The database's message may quote the
        # value (PII), so only its SQLSTATE is logged.
        assert isinstance(exc, psycopg.DataError)  # registered for this type only
        _log.warning(
            "request refused: a value the database cannot hold",
            extra={"path": request.url.path, "sqlstate": exc.sqlstate},
        )
        detail = DATA_ERROR_DETAIL
        if _wants_page(request):
            return dashboard_error_page(request, 422, detail)
        return JSONResponse(error_body("invalid_value", detail), status_code=422)

    async def on_validation_error(request: Request, exc: Exception) -> Response:
        # A dashboard form or link the route could not read (a field missing or
        # malformed): a person gets a page saying what to do; the API keeps
        # FastAPI's JSON list of what was wrong.
        assert isinstance(exc, RequestValidationError)  # registered for this type only
        if _wants_page(request):
            return dashboard_error_page(request, 422, VALIDATION_DETAIL)
        return await request_validation_exception_handler(request, exc)

    async def on_key_service_error(_: Request, exc: Exception) -> JSONResponse:
        # The KMS is away: nothing is read or written in clear instead (fail closed),
        # and the request can be retried once it is back.
        return JSONResponse(
            error_body("key_service_unavailable", str(exc)),
            status_code=503,
            headers={"Retry-After": "30"},
        )

    async def on_body_timeout(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, BodyTimeout)  # registered for this type only
        return JSONResponse(
            error_body(
                "body_timeout",
                f"the request body stopped arriving ({exc}); send it again in one go",
            ),
            status_code=408,
            headers={"Connection": "close"},  # the rest of the body is not read
        )

    app.add_exception_handler(DomainError, on_domain_error)
    app.add_exception_handler(SignatureError, on_signature_error)
    # PoolTimeout and a terminated backend are both OperationalErrors; a
    # connection that died before a statement was sent is an InterfaceError.
    app.add_exception_handler(psycopg.OperationalError, on_database_error)
    app.add_exception_handler(psycopg.InterfaceError, on_database_error)
    app.add_exception_handler(psycopg.DataError, on_data_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(BodyTimeout, on_body_timeout)
    app.add_exception_handler(KeyServiceError, on_key_service_error)
