"""Resolve which PostgreSQL to talk to, and as whom.

Two logins: the schema's owner runs ``db migrate``; the API, the workers and
the CLI run as the application's login, which owns nothing and is no
superuser (``ec_app``, created by migration 0012), so an injected statement
cannot ``SET ROLE`` its way to the owner. With ``DATABASE_URL`` set it is the
application's login and ``EC_MIGRATE_DATABASE_URL`` the owner's (unset: the
same URL, as before). The embedded cluster needs neither: migrations run as
its superuser and everything else as ``ec_app``, which local trust lets in.
"""

from __future__ import annotations

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from equity_connect.config import Settings
from equity_connect.db import embedded

APP_ROLE = "ec_app"
"""The application's login role on the embedded cluster (see migration 0012)."""


class DatabaseUrlError(ValueError):
    """``DATABASE_URL`` is not something libpq can connect with."""


def resolve_database_url(settings: Settings) -> str:
    """The application's URL: ``DATABASE_URL``, or the embedded cluster as ``ec_app``."""
    if settings.database_url:
        check_database_url(settings.database_url)
        return settings.database_url
    return make_conninfo(embedded.start(settings.embedded_pgdata), user=APP_ROLE, password="")


def resolve_owner_url(settings: Settings) -> str:
    """The schema owner's URL, for migrations and test set-up.

    ``EC_MIGRATE_DATABASE_URL``, else ``DATABASE_URL``, else the embedded
    cluster's superuser (started on demand).
    """
    if settings.migrate_database_url:
        return settings.migrate_database_url
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
