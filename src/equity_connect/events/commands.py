"""``equity-connect events …``: endpoints, their delivery log, replay."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from equity_connect.audit.service import audit
from equity_connect.cli_support import cli_principal, fail, keyring_or_exit, migrated_database_url
from equity_connect.config import get_settings
from equity_connect.db.pool import Conn, connect
from equity_connect.errors import DomainError
from equity_connect.events import service
from equity_connect.events.schemas import DeliveryStatus, EventType
from equity_connect.security.crypto import PiiCipher

_console = Console()
app = typer.Typer(
    help="Signed outbound events (Standard Webhooks): endpoints, deliveries, replay.",
    no_args_is_help=True,
)
T = TypeVar("T")


def _in_transaction(work: Callable[[Conn], T]) -> T:
    """Run ``work`` in one committed transaction; a domain error is one sentence, exit 1."""
    with connect(migrated_database_url()) as conn:
        try:
            result = work(conn)
        except DomainError as exc:
            conn.rollback()
            raise fail(exc.detail, 1) from None
        conn.commit()
    return result


def _when(value: object) -> str:
    return "" if value is None else str(value)[:19]


@app.command("subscribe")
def subscribe(
    url: str,
    event_type: Annotated[
        list[EventType], typer.Option("--type", "-t", help="Event type; repeat for several")
    ],
    description: Annotated[str | None, typer.Option(help="What this endpoint is")] = None,
    allow_pii: Annotated[
        bool, typer.Option("--allow-pii", help="Add the lead's decrypted contact to payloads")
    ] = False,
) -> None:
    """Add an endpoint; its whsec_ signing secret is printed once (store it in the receiver)."""
    settings = get_settings()
    cipher = PiiCipher(keyring_or_exit(settings))

    def work(conn: Conn) -> service.NewEndpoint:
        new = service.subscribe(
            conn, cipher, settings, url, event_type, description=description, allow_pii=allow_pii
        )
        audit(
            conn,
            cli_principal(),
            "events.subscribe",
            "event_endpoints",
            new.endpoint.id,
            after={
                "url": new.endpoint.url,
                "event_types": new.endpoint.event_types,
                "allow_pii": allow_pii,
            },
        )
        return new

    new = _in_transaction(work)
    _console.print(
        f"endpoint {new.endpoint.id} subscribed to {', '.join(new.endpoint.event_types)}"
    )
    if allow_pii:
        _console.print("[yellow]this endpoint receives leads' contact details (audited)[/yellow]")
    _console.print("signing secret (shown once):")
    print(new.secret)


@app.command("list")
def list_endpoints() -> None:
    """Endpoints with their breaker state (never their secrets)."""
    with connect(migrated_database_url()) as conn:
        endpoints = service.list_endpoints(conn)
    table = Table("id", "url", "types", "pii", "enabled", "failures", "breaker open until")
    for e in endpoints:
        table.add_row(
            str(e.id),
            e.url,
            ",".join(e.event_types),
            "yes" if e.allow_pii else "no",
            "yes" if e.enabled else "no",
            str(e.consecutive_failures),
            _when(e.breaker_open_until),
        )
    _console.print(table)


def _set_enabled(endpoint_id: uuid.UUID, *, enabled: bool) -> None:
    def work(conn: Conn) -> None:
        service.set_enabled(conn, endpoint_id, enabled=enabled)
        action = "events.enable" if enabled else "events.disable"
        audit(conn, cli_principal(), action, "event_endpoints", endpoint_id)

    _in_transaction(work)
    _console.print(f"endpoint {endpoint_id} {'enabled' if enabled else 'disabled'}")


@app.command("disable")
def disable(endpoint_id: uuid.UUID) -> None:
    """Stop sending new events to an endpoint (its pending deliveries end as failed)."""
    _set_enabled(endpoint_id, enabled=False)


@app.command("enable")
def enable(endpoint_id: uuid.UUID) -> None:
    """Send new events to a disabled endpoint again."""
    _set_enabled(endpoint_id, enabled=True)


@app.command("deliveries")
def deliveries(
    endpoint: Annotated[uuid.UUID | None, typer.Option(help="Only this endpoint's")] = None,
    status: Annotated[
        DeliveryStatus | None, typer.Option(help="pending, delivered, failed")
    ] = None,
    limit: int = 50,
    delivery_id: Annotated[
        int | None, typer.Option("--id", help="One delivery with its attempt log")
    ] = None,
) -> None:
    """The delivery log: newest deliveries, or one delivery's every attempt."""
    with connect(migrated_database_url()) as conn:
        if delivery_id is not None:
            try:
                detail = service.delivery(conn, delivery_id)
            except DomainError as exc:
                raise fail(exc.detail, 1) from None
            table = Table("round", "attempt", "outcome", "status", "error", "ms", "at")
            for a in detail.log:
                table.add_row(
                    str(a.round),
                    str(a.attempt),
                    a.outcome,
                    str(a.status_code or ""),
                    a.error or "",
                    f"{a.duration_ms:.0f}" if a.duration_ms is not None else "",
                    _when(a.attempted_at),
                )
            _console.print(
                f"delivery {detail.id}: {detail.event_type} {detail.webhook_id} → "
                f"{detail.endpoint_id}: {detail.status} after {detail.attempts} attempt(s), "
                f"{detail.replays} replay(s)"
            )
            _console.print(table)
            return
        rows = service.deliveries(conn, endpoint_id=endpoint, status=status, limit=limit)
    table = Table("id", "type", "webhook-id", "endpoint", "status", "attempts", "last", "next")
    for d in rows:
        table.add_row(
            str(d.id),
            d.event_type,
            d.webhook_id,
            str(d.endpoint_id)[:8],
            d.status,
            str(d.attempts),
            d.last_error or str(d.last_status_code or ""),
            _when(d.next_attempt_at),
        )
    _console.print(table)


@app.command("replay")
def replay(
    delivery_id: Annotated[int | None, typer.Option("--id", help="Replay this delivery")] = None,
    failed: Annotated[bool, typer.Option("--failed", help="Replay every failed delivery")] = False,
    endpoint: Annotated[
        uuid.UUID | None, typer.Option(help="With --failed: only this endpoint's")
    ] = None,
) -> None:
    """Send deliveries again, with the same webhook-id (receivers deduplicate on it)."""
    if (delivery_id is None) == (not failed):
        raise typer.BadParameter("give exactly one of --id N or --failed")

    def work(conn: Conn) -> list[int]:
        ids = [service.replay(conn, delivery_id)] if delivery_id is not None else []
        if failed:
            ids = service.replay_failed(conn, endpoint)
        for i in ids:
            audit(conn, cli_principal(), "events.replay", "event_deliveries", i)
        return ids

    ids = _in_transaction(work)
    _console.print(f"replaying {len(ids)}: {ids}")
