"""``equity-connect db …``: the database's life cycle."""

from __future__ import annotations

import psycopg
import typer
from rich.console import Console
from rich.table import Table

from equity_connect.config import get_settings
from equity_connect.db import embedded, migrate
from equity_connect.db.url import resolve_database_url, resolve_owner_url

app = typer.Typer(help="Start, migrate and inspect the database.", no_args_is_help=True)
_console = Console()


@app.command("up")
def up() -> None:
    """Start the embedded database (a no-op with DATABASE_URL) and print its URL."""
    _console.print(resolve_database_url(get_settings()))


@app.command("url")
def url() -> None:
    """Print the URL every command uses (starts the embedded database if needed)."""
    print(resolve_database_url(get_settings()))


@app.command("migrate")
def migrate_cmd() -> None:
    """Apply pending migrations as the owner, then check the client roles' privileges.

    Safe to run any number of times. Connects with ``EC_MIGRATE_DATABASE_URL``
    (else ``DATABASE_URL``; the embedded cluster's superuser by default).
    """
    try:
        applied = migrate.migrate(resolve_owner_url(get_settings()))
    except migrate.MigrationError as exc:
        _console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    if not applied:
        _console.print("schema is up to date")
    for m in applied:
        _console.print(f"applied {m.filename}")


def print_status(conninfo: str) -> bool:
    """Print each migration's state; return whether the schema is current."""
    with psycopg.connect(conninfo) as conn:
        states = migrate.status(conn)
    table = Table(title="schema_migrations")
    for column in ("version", "name", "applied at", "state"):
        table.add_column(column)
    current = True
    for s in states:
        if s.tampered:
            state, current = "[red]changed after apply[/red]", False
        elif s.applied_at is None:
            state, current = "[yellow]pending[/yellow]", False
        else:
            state = "[green]applied[/green]"
        table.add_row(
            f"{s.migration.version:04d}",
            s.migration.name,
            s.applied_at.isoformat(timespec="seconds") if s.applied_at else "-",
            state,
        )
    _console.print(table)
    return current


@app.command("status")
def status() -> None:
    """Show which migrations are applied; exit 1 if any is pending or changed."""
    if not print_status(resolve_owner_url(get_settings())):
        raise typer.Exit(1)


@app.command("down")
def down() -> None:
    """Stop the embedded database (DATABASE_URL databases are left alone)."""
    settings = get_settings()
    if settings.database_url:
        _console.print("DATABASE_URL is set; nothing embedded to stop")
        return
    stopped = embedded.stop(settings.embedded_pgdata)
    _console.print("stopped" if stopped else "embedded database was not running")
