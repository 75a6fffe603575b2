"""What every command needs: settings, keys, a migrated database, clear errors."""

from __future__ import annotations

import getpass
from typing import Any

import httpx
import psycopg
import typer
from psycopg_pool import PoolTimeout
from rich.console import Console
from typer._click.core import Context as ClickContext  # typer 0.2x vendors click
from typer.core import TyperGroup

from equity_connect.auth.principal import Principal
from equity_connect.config import Settings, get_settings
from equity_connect.db import migrate
from equity_connect.db.faults import describe_connection_error, is_connection_lost
from equity_connect.db.url import DatabaseUrlError, resolve_database_url
from equity_connect.jobs.worker import WorkerGaveUp
from equity_connect.security.crypto import KeyConfigError, Keyring, KeyServiceError
from equity_connect.security.keys import load_keyring

err_console = Console(stderr=True)

LOCAL_KEYS_HINT = (
    "for the local demo database: export EC_ENCRYPTION_KEYS_FILE=.data/keys/encryption_keys "
    "EC_INDEX_KEY_FILE=.data/keys/index_key"
)


def warn(message: str) -> None:
    """Print ``message`` as a warning on stderr (one line, whatever the terminal's width)."""
    err_console.print(f"[yellow]warning:[/yellow] {message}", soft_wrap=True, markup=True)


def warn_brand(settings: Settings) -> None:
    """At start-up (serve, demo): say which brand setting the homeowner pages lack."""
    if (message := settings.brand_warning()) is not None:
        warn(message)


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``message`` as an error and return the Exit to raise."""
    # soft_wrap: one sentence stays one line in logs, whatever the terminal's width.
    err_console.print(f"[red]error:[/red] {message}", soft_wrap=True)
    return typer.Exit(code)


DATABASE_HINT = "check that PostgreSQL is running and that DATABASE_URL points at it"


def explain(exc: BaseException) -> str | None:
    """One sentence for an expected failure (what failed, what to do), or None for a bug."""
    if isinstance(exc, DatabaseUrlError | WorkerGaveUp | KeyServiceError):
        return str(exc)
    if isinstance(exc, PoolTimeout):
        return f"no database connection could be had in time: {DATABASE_HINT}"
    if isinstance(exc, psycopg.Error) and is_connection_lost(exc):
        return f"cannot reach the database ({describe_connection_error(exc)}): {DATABASE_HINT}"
    if isinstance(exc, httpx.TransportError):
        try:
            target = str(exc.request.url.copy_with(query=None))
        except RuntimeError:  # an error raised before any request was built
            target = "the server"
        return (
            f"cannot reach {target} ({type(exc).__name__}: {exc}): "
            "check the URL and that the server is running"
        )
    return None


class ExplainingGroup(TyperGroup):
    """The root command: expected failures end in one sentence and a non-zero exit."""

    def invoke(self, ctx: ClickContext) -> Any:
        """Run the command; translate an expected failure into ``error: …``."""
        try:
            return super().invoke(ctx)
        except Exception as exc:
            message = explain(exc)
            if message is None:
                raise
            raise fail(message, code=3) from None


def keyring_or_exit(settings: Settings) -> Keyring:
    """The PII keys, or a clear error naming what to set."""
    try:
        return load_keyring(settings)
    except KeyConfigError as exc:
        raise fail(f"{exc} ({LOCAL_KEYS_HINT})") from exc


def migrated_database_url(settings: Settings | None = None) -> str:
    """The database URL, after checking its schema is current."""
    url = resolve_database_url(settings or get_settings())
    try:
        with psycopg.connect(url) as conn:
            states = migrate.status(conn)
    except psycopg.OperationalError as exc:
        # e.g. the embedded cluster's ec_app before the first migrate created it
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise fail(
            f"cannot reach the database ({reason}): {DATABASE_HINT}; if it is, "
            "run `equity-connect db migrate` once (it creates the application's role)"
        ) from exc
    pending = [s.migration.filename for s in states if s.applied_at is None]
    changed = [s.migration.filename for s in states if s.tampered]
    if changed:
        raise fail(f"applied migrations were edited: {', '.join(changed)}")
    if pending:
        raise fail(f"schema not current ({len(pending)} pending): run `equity-connect db migrate`")
    return url


def cli_principal() -> Principal:
    """The operator at this terminal, as the audit log names them."""
    return Principal("ops", f"cli:{getpass.getuser()}", frozenset({"admin"}))
