"""``equity-connect keys status|rotate``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from equity_connect.cli_support import fail, keyring_or_exit, migrated_database_url
from equity_connect.config import get_settings
from equity_connect.db.pool import connect, open_pool
from equity_connect.security.crypto import PiiCipher
from equity_connect.keys.reindex import ReindexError, reindex
from equity_connect.keys.rotation import key_usage, rotate

app = typer.Typer(help="PII key rotation.", no_args_is_help=True)
_console = Console()


@app.command("status")
def keys_status(
    removable: Annotated[
        str | None, typer.Option(help="Exit 1 unless this key id is unused")
    ] = None,
) -> None:
    """How many stored ciphertexts each key id wraps."""
    with connect(migrated_database_url()) as conn:
        usage = key_usage(conn)
    table = Table("key id", "ciphertexts")
    for kid, n in sorted(usage.items()):
        table.add_row(kid, f"{n:,}")
    _console.print(table)
    if removable is not None and usage.get(removable, 0):
        raise fail(
            f"key {removable!r} still wraps {usage[removable]:,} values: run `keys rotate`", 1
        )


@app.command("rotate")
def keys_rotate(batch_size: int = 2000) -> None:
    """Re-wrap everything under the active key (the first of EC_ENCRYPTION_KEYS).

    Resumable and online: stop it any time and run it again. When it is done,
    `keys status --removable OLD` confirms the old key can be dropped.
    """
    settings = get_settings()
    cipher = PiiCipher(keyring_or_exit(settings))
    url = migrated_database_url(settings)
    with open_pool(settings, conninfo=url) as pool, Progress(console=_console) as progress:
        task = progress.add_task(f"re-wrapping under {cipher.active_kid}", total=None)
        done = rotate(
            pool, cipher, batch_size=batch_size, on_batch=lambda _, n: progress.advance(task, n)
        )
    _console.print(f"re-wrapped {done:,} ciphertexts under {cipher.active_kid}")


@app.command("reindex")
def keys_reindex(
    yes: Annotated[bool, typer.Option("--yes", help="The API and workers are stopped")] = False,
) -> None:
    """Recompute every blind index under the current EC_INDEX_KEY (index-key rotation).

    One transaction; run it with the API and workers stopped, after setting
    EC_INDEX_KEY to the new key (EC_ENCRYPTION_KEYS unchanged).
    """
    if not yes:
        raise fail("stop the API and workers first, then run again with --yes")
    settings = get_settings()
    cipher = PiiCipher(keyring_or_exit(settings))
    with connect(migrated_database_url(settings)) as conn, Progress(console=_console) as progress:
        task = progress.add_task("re-indexing", total=None)
        try:
            counts = reindex(conn, cipher, on_batch=lambda _, n: progress.advance(task, n))
        except ReindexError as exc:
            raise fail(str(exc)) from exc
        conn.commit()
    _console.print(f"re-indexed: {counts}")
