"""One handler renders every domain and signature error as JSON."""

from __future__ import annotations

from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from equity_connect.db.faults import is_connection_lost
from equity_connect.errors import DomainError
from equity_connect.security.kek import KeyServiceError
from equity_connect.security.signatures import SignatureError
from equity_connect.web.timeouts import BodyTimeout

__all__ = ["DomainError", "error_body", "install_error_handlers"]


def error_body(code: str, detail: str, **extra: Any) -> dict[str, Any]:
    """The one JSON shape of every error response."""
    return {"error": code, "detail": detail, **extra}


def install_error_handlers(app: FastAPI) -> None:
    """Render domain and signature errors; no expected error becomes a 500."""

    async def on_domain_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, DomainError)  # registered for this type only
        return JSONResponse(error_body(exc.code, exc.detail, **exc.extra), status_code=exc.status)

    async def on_signature_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, SignatureError)  # registered for this type only
        return JSONResponse(error_body(exc.code, exc.reason), status_code=exc.status)

    async def on_database_error(_: Request, exc: Exception) -> JSONResponse:
        # The database is away (failover, pooler restart) or too slow: the
        # request can be retried shortly, so say so instead of a 500.
        if is_connection_lost(exc):
            code, detail = "database_unavailable", "the database is unreachable; retry shortly"
        else:
            code, detail = "database_busy", "the database did not answer in time; retry shortly"
        return JSONResponse(error_body(code, detail), status_code=503, headers={"Retry-After": "5"})

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
    app.add_exception_handler(BodyTimeout, on_body_timeout)
    app.add_exception_handler(KeyServiceError, on_key_service_error)
