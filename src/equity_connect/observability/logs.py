"""Structured JSON logs with a request id. Messages carry ids and codes, never PII.

uvicorn's access log is replaced by ours because it prints raw paths, and a
path can hold a secret (the consent link's nonce); ours logs the route template.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
_VALID_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}
_access = logging.getLogger("equity_connect.access")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id, extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        """Render the record."""
        out: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        rid = request_id.get()
        if rid:
            out["request_id"] = rid
        out.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD})
        if record.exc_info and record.exc_info[0] is not None:
            # The exception type only: messages and tracebacks can quote data.
            out["error"] = record.exc_info[0].__name__
        return json.dumps(out, default=str)


def configure_logging(level: str = "INFO", *, path: Path | None = None) -> None:
    """JSON to stderr (or to ``path``) for our loggers and uvicorn's.

    uvicorn's access log is silenced: see the module docstring.
    """
    handler: logging.Handler
    if path is None:
        handler = logging.StreamHandler(sys.stderr)
    else:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(JsonFormatter())
    handler.set_name("equity-connect")
    JsonFormatter.converter = time.gmtime  # UTC timestamps (the "Z")
    root = logging.getLogger()
    for old in root.handlers:
        if old.get_name() == "equity-connect":  # ours from an earlier call: release its file
            old.close()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True
    logging.getLogger("httpx").setLevel(logging.WARNING)  # it logs full URLs


async def request_context(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    """Give every request an id (the caller's X-Request-ID if sane) and log one access line."""
    incoming = request.headers.get("x-request-id", "")
    rid = incoming if _VALID_ID.match(incoming) else uuid.uuid4().hex
    token = request_id.set(rid)
    started = time.perf_counter()

    def access(status: int, level: int = logging.INFO, **extra: Any) -> None:
        route = getattr(request.scope.get("route"), "path", "unmatched")
        ms = round((time.perf_counter() - started) * 1000, 1)
        fields = {"method": request.method, "route": route, "status": status, "ms": ms}
        _access.log(level, "request", extra=fields | extra)

    try:
        try:
            response = await call_next(request)
        except Exception as exc:
            # Unhandled: the server-error middleware outside us answers 500,
            # and without this line the request would be missing from the log.
            # Logged as an error (the type only: messages can quote data).
            access(500, logging.ERROR, error=type(exc).__name__)
            raise
        response.headers["X-Request-ID"] = rid
        access(response.status_code)
        return response
    finally:
        request_id.reset(token)
