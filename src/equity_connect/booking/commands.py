"""``equity-connect calcom setup [--dry-run]``: event types and webhooks through Cal.com API v2."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from equity_connect.booking.client import CalcomApi, CalcomApiError
from equity_connect.booking.setup import CalcomAccount, Q, SetupConfigError, setup
from equity_connect.booking.simulated import SimulatedCalcom
from equity_connect.cli_support import fail, keyring_or_exit, migrated_database_url
from equity_connect.config import get_settings
from equity_connect.db.pool import connect
from equity_connect.security.crypto import PiiCipher

app = typer.Typer(help="Cal.com set-up through its API v2.", no_args_is_help=True)
_console = Console()


@app.command("setup")
def calcom_setup(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would change; change nothing")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="The report as JSON lines")] = False,
    simulate: Annotated[
        bool,
        typer.Option(
            "--simulate", help="Demo only: every broker gets a SimulatedCalcom account, no network"
        ),
    ] = False,
) -> None:
    """Create or update each broker's event types (equity-call, follow-up, doc-review),
    booking link and booking webhook; report what was created, changed or left alone.

    Idempotent: a second run changes nothing. Each broker needs its Cal.com API key
    in EC_CALCOM_API_KEYS; durations come from EC_CALCOM_EVENT_DURATIONS.
    """
    settings = get_settings()
    cipher = PiiCipher(keyring_or_exit(settings))

    def api_for(key: str) -> CalcomAccount:
        if simulate:
            return SimulatedCalcom(key)
        return CalcomApi(settings.calcom_api_base_url, key, timeout=settings.calcom_timeout_seconds)

    with connect(migrated_database_url(settings)) as conn:
        keys = None
        if simulate:  # one deterministic account per broker, keyed by its e-mail
            emails = [str(r["email"]).lower() for r in conn.execute(Q["setup_brokers"])]
            keys = {e: f"simulated:{e}" for e in emails}
        try:
            changes = setup(
                conn, cipher, settings, api_for, dry_run=dry_run, commit=conn.commit, keys=keys
            )
        except (SetupConfigError, CalcomApiError) as exc:
            conn.rollback()
            raise fail(str(exc)) from None
        if dry_run:
            conn.rollback()
    if as_json:
        for change in changes:
            typer.echo(json.dumps({**asdict(change), "dry_run": dry_run}))
        return
    verb = {"create": "would create", "update": "would update"} if dry_run else {}
    table = Table("broker", "what", "action", "detail", title="dry run" if dry_run else None)
    for c in changes:
        table.add_row(c.broker, c.item, verb.get(c.action, c.action), c.detail)
    _console.print(table)
    counts = {
        a: sum(c.action == a for c in changes) for a in ("create", "update", "unchanged", "skip")
    }
    prefix = "would change" if dry_run else "changed"
    _console.print(
        f"{prefix}: {counts['create']} created, {counts['update']} updated; "
        f"{counts['unchanged']} left alone; {counts['skip']} brokers skipped"
    )
