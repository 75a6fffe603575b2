"""The ``equity-connect`` command. Each domain mounts its own sub-commands."""

from __future__ import annotations

import typer

from equity_connect.booking.commands import app as calcom_app
from equity_connect.brokers.commands import apikeys_app, brokers_app, export, token
from equity_connect.campaign.commands import (
    feed_cmd,
    feed_skipped_cmd,
    reconcile_suppressed_cmd,
    schedule_app,
)
from equity_connect.cli_support import ExplainingGroup
from equity_connect.db.commands import app as db_app
from equity_connect.demo import run_demo
from equity_connect.events.commands import app as events_app
from equity_connect.ingest.commands import ingest_cmd, upload_cmd, uploads_app
from equity_connect.jobs.commands import dlq_app, run_jobs, worker
from equity_connect.keys.commands import app as keys_app
from equity_connect.matching.commands import app as matching_app
from equity_connect.mcp_server.commands import mcp_cmd
from equity_connect.replies.commands import classify_reply_cmd
from equity_connect.verification.commands import app as verification_app
from equity_connect.web.commands import serve

app = typer.Typer(
    cls=ExplainingGroup,  # an unreachable database or server: one sentence, not a traceback
    help="Equity Connect: a home-equity brokerage's lead pipeline on PostgreSQL.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # locals may hold keys or PII
)
app.add_typer(db_app, name="db")
app.add_typer(uploads_app, name="uploads")
app.command("ingest")(ingest_cmd)
app.command("upload")(upload_cmd)
app.command("serve")(serve)
app.command("worker")(worker)
app.command("run-jobs")(run_jobs)
app.add_typer(dlq_app, name="dlq")
app.add_typer(matching_app, name="matching")
app.add_typer(verification_app, name="verification")
app.add_typer(schedule_app, name="schedule")
app.command("feed")(feed_cmd)
app.command("feed-skipped")(feed_skipped_cmd)
app.command("reconcile-suppressed")(reconcile_suppressed_cmd)
app.command("classify-reply")(classify_reply_cmd)
app.add_typer(brokers_app, name="brokers")
app.add_typer(apikeys_app, name="apikeys")
app.command("token")(token)
app.command("export")(export)
app.add_typer(keys_app, name="keys")
app.add_typer(events_app, name="events")
app.add_typer(calcom_app, name="calcom")
app.command("mcp")(mcp_cmd)


@app.command("demo")
def demo(
    rows: int = 2000,
    serve: bool = typer.Option(True, help="Keep serving the dashboard after the pipeline"),
) -> None:
    """Run the demo pipeline end to end on the embedded database (``make run``)."""
    run_demo(rows=rows, serve=serve)


if __name__ == "__main__":
    app()
