"""``equity-connect demo``: the main job a newcomer runs with ``make run``.

For now it prepares everything the pipeline stands on: local development
keys, the embedded database, the schema, and shows the schema's state. Later
stages (ingest, enrichment, feed, replies, dashboard) extend it.
"""

from __future__ import annotations

import os

from rich.console import Console

from equity_connect.config import get_settings
from equity_connect.db import migrate
from equity_connect.db.commands import print_status
from equity_connect.db.url import resolve_database_url
from equity_connect.security.crypto import PiiCipher
from equity_connect.security.keys import ensure_dev_keys, load_keyring

_console = Console()


def run_demo() -> None:
    """Prepare keys, database and schema, then report the schema status."""
    settings = get_settings()
    if not (settings.encryption_keys or settings.encryption_keys_file):
        enc, idx = ensure_dev_keys(settings.data_dir)
        os.environ.setdefault("EC_ENCRYPTION_KEYS_FILE", str(enc))
        os.environ.setdefault("EC_INDEX_KEY_FILE", str(idx))
        get_settings.cache_clear()
        settings = get_settings()
        _console.print(
            f"[yellow]using local development keys in {enc.parent} "
            "(demo only: set EC_ENCRYPTION_KEYS / EC_INDEX_KEY in production)[/yellow]"
        )
    keyring = load_keyring(settings)
    PiiCipher(keyring)  # fail now, not mid-pipeline, if the keys are unusable
    url = resolve_database_url(settings)
    where = "DATABASE_URL" if settings.database_url else f"embedded at {settings.embedded_pgdata}"
    _console.print(f"database: {where}")
    applied = migrate.migrate(url)
    _console.print(f"migrations applied this run: {len(applied)}")
    print_status(url)
