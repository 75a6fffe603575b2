"""``equity-connect matching reviews|decide``: the ops review of grey-zone matches."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from equity_connect.cli_support import fail, keyring_or_exit, migrated_database_url
from equity_connect.config import get_settings
from equity_connect.db.pool import connect
from equity_connect.matching.reviews import Decision, ReviewError, decide, list_reviews
from equity_connect.security.crypto import PiiCipher

_console = Console()
app = typer.Typer(
    help="Property matches the ingest was not sure of, for an ops decision.",
    no_args_is_help=True,
)


@app.command("reviews")
def reviews_cmd(
    status: Annotated[str, typer.Option(help="pending, apart, merged or all")] = "pending",
    limit: int = 100,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line")] = False,
) -> None:
    """List pairs of leads that may be one property, with the evidence."""
    if status not in {"pending", "apart", "merged", "all"}:
        raise fail(f"--status must be pending, apart, merged or all, not {status!r}")
    with connect(migrated_database_url()) as conn:
        rows = list_reviews(conn, status=None if status == "all" else status, limit=limit)
    if as_json:
        for r in rows:
            typer.echo(json.dumps(r, default=str))
        return
    table = Table("id", "score", "lead", "may be", "agreed", "differed", "status")
    for r in rows:
        evidence = r["evidence"]
        table.add_row(
            str(r["id"]),
            f"{r['score']:.1f}",
            f"{r['first'] or ''} {r['last'] or ''}, {r['address'] or ''} {r['city'] or ''}",
            f"{r['other_first'] or ''} {r['other_last'] or ''}, "
            f"{r['other_address'] or ''} {r['other_city'] or ''}",
            ", ".join(evidence.get("agreed", [])),
            ", ".join(evidence.get("differed", [])),
            r["status"],
        )
    _console.print(table)


@app.command("decide")
def decide_cmd(
    review_id: int,
    decision: Annotated[str, typer.Argument(help="apart (two properties) or merge (one)")],
    who: Annotated[str, typer.Option(help="Who decides, for the record")] = "ops",
) -> None:
    """Keep a reviewed pair apart for good, or merge the row's lead into the other."""
    if decision not in {"apart", "merge"}:
        raise fail(f"decision must be apart or merge, not {decision!r}")
    chosen: Decision = "apart" if decision == "apart" else "merge"
    cipher = PiiCipher(keyring_or_exit(get_settings()))
    with connect(migrated_database_url()) as conn:
        try:
            done = decide(conn, cipher, review_id, chosen, who=who)
        except ReviewError as exc:
            conn.rollback()
            raise fail(exc.detail, 1) from exc
        conn.commit()
    if done.removed is None:
        typer.echo(f"review {done.review_id}: kept apart; later uploads will not ask again")
    else:
        typer.echo(f"review {done.review_id}: lead {done.removed} merged into {done.kept}")
