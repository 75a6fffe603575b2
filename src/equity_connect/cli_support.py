"""What every command needs: settings, keys, a migrated database, clear errors."""

from __future__ import annotations

import getpass

import psycopg
import typer
from rich.console import Console

from equity_connect.config import Settings, get_settings
from equity_connect.db import migrate
from equity_connect.db.url import resolve_database_url
from equity_connect.security.crypto import KeyConfigError, Keyring
from equity_connect.security.keys import load_keyring
from equity_connect.web.auth import Principal

err_console = Console(stderr=True)

LOCAL_KEYS_HINT = (
    "for the local demo database: export EC_ENCRYPTION_KEYS_FILE=.data/keys/encryption_keys "
    "EC_INDEX_KEY_FILE=.data/keys/index_key"
)


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``message`` as an error and return the Exit to raise."""
    err_console.print(f"[red]error:[/red] {message}")
    return typer.Exit(code)


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
            f"cannot connect to the database ({reason}): check DATABASE_URL, "
            "and run `equity-connect db migrate` once (it creates the application's role)"
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
