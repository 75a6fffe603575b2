"""``equity-connect keys status|rotate|reindex``.

Rotation works across KEK providers: with ``EC_KMS_PROVIDER=aws`` the KMS key
is the active one and the env keys still read what they wrapped, so
``keys rotate`` moves every value from env key ``k1`` onto KMS; afterwards
``keys status --removable k1`` confirms ``EC_ENCRYPTION_KEYS`` can go.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from equity_connect.cli_support import fail, keyring_or_exit, migrated_database_url
from equity_connect.config import get_settings
from equity_connect.db.pool import connect, open_pool
from equity_connect.keys.reindex import ReindexError, reindex
from equity_connect.keys.rotation import key_usage, rotate
from equity_connect.security.crypto import KeyConfigError, Keyring, PiiCipher
from equity_connect.security.keys import load_keyring

app = typer.Typer(help="PII key rotation.", no_args_is_help=True)
_console = Console()


@app.command("status")
def keys_status(
    removable: Annotated[
        str | None, typer.Option(help="Exit 1 unless this key id is unused")
    ] = None,
) -> None:
    """How many stored ciphertexts each key id wraps."""
    settings = get_settings()
    with connect(migrated_database_url(settings)) as conn:
        usage = key_usage(conn)
    try:
        keyring: Keyring | None = load_keyring(settings)
    except KeyConfigError:
        keyring = None  # status still counts; it just cannot say who holds each key
    table = Table("key id", "held by", "ciphertexts")
    for kid, n in sorted(usage.items()):
        table.add_row(kid, _holder(keyring, kid), f"{n:,}")
    _console.print(table)
    if removable is not None and usage.get(removable, 0):
        raise fail(
            f"key {removable!r} still wraps {usage[removable]:,} values: run `keys rotate`", 1
        )


def _holder(keyring: Keyring | None, kid: str) -> str:
    if keyring is None:
        return "?"
    role = " (active)" if kid == keyring.active_kid else ""
    if keyring.kms is not None and keyring.kms.holds(kid):
        return f"{getattr(keyring.kms, 'label', 'aws kms')}{role}"
    return f"env{role}" if kid in keyring.keys else "not configured"


@app.command("rotate")
def keys_rotate(batch_size: int = 2000) -> None:
    """Re-wrap everything under the active key: the KMS key with EC_KMS_PROVIDER=aws|vault,
    else the first of EC_ENCRYPTION_KEYS (keep the old keys set while this runs).

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
    calls = getattr(cipher.keyring.kms, "calls", None)
    via = f" ({calls} KMS calls)" if calls is not None else ""
    _console.print(f"re-wrapped {done:,} ciphertexts under {cipher.active_kid}{via}")


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
