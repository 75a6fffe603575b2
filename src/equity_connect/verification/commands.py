"""``equity-connect verification rederive``."""

from __future__ import annotations

from datetime import UTC, datetime

import typer
from rich.console import Console

from equity_connect.cli_support import migrated_database_url
from equity_connect.db.pool import connect
from equity_connect.verification.service import rederive

app = typer.Typer(help="Verification flags and the code map.", no_args_is_help=True)


@app.command("rederive")
def rederive_cmd() -> None:
    """Re-derive every verified flag from stored codes under the newest code map."""
    with connect(migrated_database_url()) as conn:
        changed = rederive(conn, now=datetime.now(UTC))
        conn.commit()
    Console().print(f"{len(changed)} leads changed")
