"""One handler renders every domain and signature error as JSON."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from equity_connect.errors import DomainError
from equity_connect.security.signatures import SignatureError

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

    app.add_exception_handler(DomainError, on_domain_error)
    app.add_exception_handler(SignatureError, on_signature_error)
