"""Domain errors carry the HTTP status a client gets; services raise them, routes don't map."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """An expected failure with the status and machine code the client gets."""

    def __init__(self, status: int, code: str, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.extra = extra
