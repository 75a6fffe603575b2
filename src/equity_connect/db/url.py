"""Resolve which PostgreSQL to talk to."""

from __future__ import annotations

from equity_connect.config import Settings
from equity_connect.db import embedded


def resolve_database_url(settings: Settings) -> str:
    """``DATABASE_URL`` when set; otherwise the embedded cluster, started on demand."""
    if settings.database_url:
        return settings.database_url
    return embedded.start(settings.embedded_pgdata)
