"""Resolve which PostgreSQL to talk to."""

from __future__ import annotations

import psycopg
from psycopg.conninfo import conninfo_to_dict

from equity_connect.config import Settings
from equity_connect.db import embedded


class DatabaseUrlError(ValueError):
    """``DATABASE_URL`` is not something libpq can connect with."""


def resolve_database_url(settings: Settings) -> str:
    """``DATABASE_URL`` when set; otherwise the embedded cluster, started on demand."""
    if settings.database_url:
        check_database_url(settings.database_url)
        return settings.database_url
    return embedded.start(settings.embedded_pgdata)


def check_database_url(url: str) -> None:
    """Refuse a URL libpq cannot parse, with a sentence instead of a driver traceback.

    The driver's message is not repeated: it quotes the URL, password included.
    """
    try:
        conninfo_to_dict(url)
    except psycopg.ProgrammingError as exc:
        raise DatabaseUrlError(
            "DATABASE_URL is not a PostgreSQL connection URL: "
            "set it to postgresql://USER:PASSWORD@HOST:PORT/DBNAME"
        ) from exc
