"""``equity-connect worker`` and ``equity-connect dlq …``."""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from types import FrameType
from typing import Annotated

import typer
from psycopg_pool import ConnectionPool
from rich.console import Console
from rich.table import Table

from equity_connect.audit.service import audit
from equity_connect.campaign.scheduler import enqueue_due
from equity_connect.campaign.suppression import reconcile_contact_suppressed
from equity_connect.cli_support import (
    cli_principal,
    fail,
    keyring_or_exit,
    migrated_database_url,
)
from equity_connect.config import get_settings
from equity_connect.db.pool import Conn, connect, open_pool
from equity_connect.ingest.uploads import sweep_stale_uploads
from equity_connect.jobs import service
from equity_connect.jobs.catalog import registry
from equity_connect.jobs.worker import Worker, run_pending
from equity_connect.observability.logs import configure_logging
from equity_connect.replies.classify import default_classifier, describe

_console = Console()
# How the worker's backends are named in pg_stat_activity.
WORKER_APPLICATION_NAME = "equity-connect-worker"
# How often a worker repairs leads.contact_suppressed (see reconcile_ticker).
RECONCILE_EVERY_SECONDS = 60.0
_log = logging.getLogger(__name__)


def reconcile_ticker(
    pool: ConnectionPool[Conn],
    *,
    every_seconds: float = RECONCILE_EVERY_SECONDS,
    clock: Callable[[], float] = time.monotonic,
) -> Callable[[], None]:
    """The worker's tick that repairs leads.contact_suppressed, at most once per
    ``every_seconds``.

    The flag can lag the suppression set when a lead and a suppression of its value
    commit concurrently (migration 0023); only the list's callable-now filter reads
    it (calls, texts and badges ask the set). Once a minute bounds that lag and keeps
    the cost negligible (a run joins the small set to leads by index and re-checks
    only flagged leads); the worker ticks far more often than that.
    """
    last = [float("-inf")]

    def tick() -> None:
        now = clock()
        if now - last[0] < every_seconds:
            return
        last[0] = now
        with pool.connection() as conn:
            changed = reconcile_contact_suppressed(conn)
        if changed:
            _log.warning("suppression flags repaired", extra={"count": changed})

    return tick


def _refuse_if_misconfigured(url: str) -> None:
    """Stop before the first claim if queued jobs could only fail (a setting is missing)."""
    settings = get_settings()
    with connect(url) as conn:
        refusals = registry.refusals(conn, settings)
    if refusals:
        raise fail("; ".join(refusals))


def worker(
    concurrency: Annotated[int | None, typer.Option(envvar="EC_WORKER_CONCURRENCY")] = None,
    queue: Annotated[list[str] | None, typer.Option(help="Queues to serve")] = None,
    until_idle: Annotated[bool, typer.Option(help="Exit once no job is left")] = False,
) -> None:
    """Run background jobs until stopped (SIGINT/SIGTERM finish the running jobs first).

    Lost connections are ridden out; the worker exits non-zero (3) only when
    the database stays unreachable past EC_WORKER_MAX_DB_OUTAGE_SECONDS.
    """
    settings = get_settings()
    keyring = keyring_or_exit(settings)
    configure_logging(settings.log_level)
    url = migrated_database_url(settings)
    _refuse_if_misconfigured(url)
    slots = concurrency or settings.worker_concurrency
    pool = open_pool(
        settings.model_copy(update={"pool_max_size": slots + 2}),
        conninfo=url,
        application_name=WORKER_APPLICATION_NAME,
    )
    stop = threading.Event()

    def on_signal(signum: int, _: FrameType | None) -> None:
        _console.print(f"signal {signum}: finishing running jobs")
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    def schedule_tick() -> None:
        # Every worker ticks the scheduler; the queue's unique key makes one run win.
        with pool.connection() as conn:
            enqueue_due(conn, settings, datetime.now(UTC))

    def sweep_tick() -> None:
        # Every worker sweeps: an upload whose processing died (on any machine) is failed.
        with pool.connection() as conn:
            sweep_stale_uploads(conn, stale_seconds=settings.upload_stale_seconds)

    w = Worker(
        pool,
        registry,
        settings=settings,
        keyring=keyring,
        queues=queue or ["default"],
        concurrency=slots,
        lease_seconds=settings.job_lease_seconds,
        periodic=[schedule_tick, sweep_tick, reconcile_ticker(pool)],
        max_db_outage_seconds=settings.worker_max_db_outage_seconds,
        backoff_cap_seconds=settings.worker_backoff_cap_seconds,
    )
    _console.print(f"worker {w.id}: {slots} slots, tasks: {', '.join(registry.names())}")
    # Loaded now, so a model that cannot load is a warning at start-up, not at a reply.
    _console.print(f"reply classifier: {describe(default_classifier())}")
    try:
        w.run(stop, until_idle=until_idle)
    finally:
        pool.close()
    if w.fatal is not None:
        raise fail(w.fatal, code=3)
    _console.print(f"worker stopped after {w.processed} jobs")


def run_jobs() -> None:
    """Run every pending job now and exit (cron-style; the demo uses this)."""
    settings = get_settings()
    keyring = keyring_or_exit(settings)
    url = migrated_database_url(settings)
    _refuse_if_misconfigured(url)
    with open_pool(settings, conninfo=url, application_name=WORKER_APPLICATION_NAME) as pool:
        ran = run_pending(pool, registry, settings=settings, keyring=keyring, concurrency=2)
    _console.print(f"ran {ran} jobs")


dlq_app = typer.Typer(
    help="The dead-letter queue: see and replay failed jobs.", no_args_is_help=True
)


@dlq_app.command("list")
def dlq_list(
    status: Annotated[str | None, typer.Option(help="pending, replayed or discarded")] = "pending",
    limit: int = 50,
) -> None:
    """Dead letters, newest first."""
    with connect(migrated_database_url()) as conn:
        rows = conn.execute(service.Q["dlq_list"], {"status": status, "limit": limit}).fetchall()
    table = Table("id", "source", "attempts", "status", "created", "reason")
    for r in rows:
        table.add_row(
            str(r["id"]),
            r["source"],
            str(r["attempts"]),
            r["status"],
            r["created_at"].isoformat(timespec="seconds"),
            (r["reason"] or "")[:80],
        )
    _console.print(table)


@dlq_app.command("show")
def dlq_show(dlq_id: int) -> None:
    """One dead letter in full (payloads hold ids, never PII)."""
    with connect(migrated_database_url()) as conn:
        row = conn.execute(service.Q["dlq_get"], {"id": dlq_id}).fetchone()
    if row is None:
        raise typer.Exit(1)
    print(json.dumps(row, default=str, indent=2))


@dlq_app.command("replay")
def dlq_replay(
    dlq_id: Annotated[int | None, typer.Option("--id", help="Replay this entry")] = None,
    replay_all: Annotated[bool, typer.Option("--all", help="Replay every pending entry")] = False,
) -> None:
    """Re-enqueue dead letters; each entry is replayed exactly once."""
    if (dlq_id is None) == (not replay_all):
        raise typer.BadParameter("give exactly one of --id N or --all")
    with connect(migrated_database_url()) as conn:
        replayed = service.replay_dlq(conn, dlq_id)
        for entry in replayed:
            audit(conn, cli_principal(), "dlq.replay", "pipeline_dlq", entry)
        conn.commit()
    _console.print(f"replayed {len(replayed)}: {replayed}")
