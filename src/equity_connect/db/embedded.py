"""The embedded PostgreSQL a newcomer gets when no ``DATABASE_URL`` is set.

pgserver ships PostgreSQL binaries in a wheel, so nothing needs installing.
The cluster lives in a data folder and keeps running after the command that
started it exits (``cleanup_mode=None``): later commands, the test suite and
the API reuse it instead of paying a start-up each time.
"""

from __future__ import annotations

import importlib
import logging
import os
import subprocess
import warnings
from pathlib import Path
from typing import Any

_log = logging.getLogger(__name__)


def _import(module: str) -> Any:
    """Import pgserver on demand: a deployment with DATABASE_URL never needs it."""
    with warnings.catch_warnings():
        # pgserver's lock-file location asks platformdirs for XDG_RUNTIME_DIR,
        # unset in containers and CI; the /tmp fallback it warns about is fine.
        warnings.simplefilter("ignore")
        return importlib.import_module(module)


def start(pgdata: Path) -> str:
    """Start (or attach to) the embedded cluster in ``pgdata`` and return its URL."""
    pgserver = _import("pgserver")

    pgdata.mkdir(parents=True, exist_ok=True)
    server: Any = pgserver.get_server(pgdata.resolve(), cleanup_mode=None)
    return str(server.get_uri())


def stop(pgdata: Path) -> bool:
    """Stop the embedded cluster if it runs. Returns whether one was running."""
    # pgserver has no public stop API; pg_ctl is its thin binary wrapper.
    pg_ctl = _import("pgserver._commands").pg_ctl

    if not (pgdata / "postmaster.pid").exists():
        return False
    # As root, pgserver runs the postmaster as an unprivileged user (PostgreSQL
    # refuses root), and pg_ctl must signal it as that same user.
    user = "pgserver" if os.geteuid() == 0 else None
    try:
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata.resolve(), user=user)
    except subprocess.CalledProcessError as exc:
        _log.warning("pg_ctl stop failed: %s", exc)
        return False
    return True
