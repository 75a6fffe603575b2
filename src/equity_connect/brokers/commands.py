"""``equity-connect brokers …``, ``token``, ``apikeys …``, ``export``, ``keys rotate``."""

from __future__ import annotations

import sys
import uuid
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from equity_connect.audit.service import audit
from equity_connect.brokers.export import HEADER, KINDS, export_rows
from equity_connect.cli_support import cli_principal, fail, keyring_or_exit, migrated_database_url
from equity_connect.config import get_settings
from equity_connect.db.pool import act_as_broker, connect
from equity_connect.exports.csv_safe import stream_csv
from equity_connect.security.apikeys import Scope, generate_api_key
from equity_connect.security.crypto import PiiCipher
from equity_connect.security.jwt import issue_jwt
from equity_connect.web.auth import Q as WEB_Q

_console = Console()
brokers_app = typer.Typer(help="Brokers (loan officers).", no_args_is_help=True)
apikeys_app = typer.Typer(
    help="Ops API keys (stored hashed, scoped, revocable).", no_args_is_help=True
)


@brokers_app.command("add")
def brokers_add(
    name: str,
    email: str,
    broker_id: Annotated[str | None, typer.Option("--id", help="Their Supabase user id")] = None,
    capacity: int = 50,
    calcom_url: Annotated[str | None, typer.Option(help="Cal.com event URL")] = None,
) -> None:
    """Add a broker (their id must equal their Supabase auth user id)."""
    with connect(migrated_database_url()) as conn:
        row = conn.execute(
            "insert into brokers (id, name, email, daily_capacity, calcom_event_url) "
            "values (coalesce(%s::uuid, gen_random_uuid()), %s, %s, %s, %s) returning id",
            [broker_id, name, email, capacity, calcom_url],
        ).fetchone()
        assert row is not None
        audit(
            conn,
            cli_principal(),
            "broker.add",
            "brokers",
            row["id"],
            after={"name": name, "capacity": capacity},
        )
        conn.commit()
    assert row is not None
    print(row["id"])


@brokers_app.command("list")
def brokers_list() -> None:
    """Every broker."""
    table = Table("id", "name", "email", "active", "capacity")
    with connect(migrated_database_url()) as conn:
        for r in conn.execute(
            "select id, name, email, active, daily_capacity from brokers order by name"
        ):
            table.add_row(
                str(r["id"]), r["name"], r["email"], str(r["active"]), str(r["daily_capacity"])
            )
    _console.print(table)


@brokers_app.command("disable")
def brokers_disable(broker_id: uuid.UUID) -> None:
    """Stop feeding a broker (their leads stay theirs)."""
    with connect(migrated_database_url()) as conn:
        n = conn.execute("update brokers set active = false where id = %s", [broker_id]).rowcount
        if n:
            audit(
                conn,
                cli_principal(),
                "broker.disable",
                "brokers",
                broker_id,
                after={"active": False},
            )
        conn.commit()
    if not n:
        raise fail(f"no broker {broker_id}", 1)


def token(
    broker: Annotated[uuid.UUID, typer.Option("--broker", help="Broker id")],
    ttl: Annotated[int, typer.Option(help="Seconds")] = 3600,
) -> None:
    """A broker JWT signed with EC_JWT_SECRET (local use and tests)."""
    settings = get_settings()
    if not settings.jwt_secret:
        raise fail("EC_JWT_SECRET is not set")
    print(
        issue_jwt(
            secret=settings.jwt_secret.encode(),
            sub=broker,
            ttl_seconds=ttl,
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
        )
    )


@apikeys_app.command("create")
def apikeys_create(
    name: str,
    scope: Annotated[list[Scope], typer.Option(help="Repeat for several")] = [Scope.ADMIN],  # noqa: B006
) -> None:
    """Create an API key; the secret is printed once and never stored."""
    key = generate_api_key()
    with connect(migrated_database_url()) as conn:
        conn.execute(
            WEB_Q["create_api_key"],
            {
                "key_id": key.key_id,
                "name": name,
                "hash": key.secret_hash,
                "scopes": [str(s) for s in scope],
            },
        )
        audit(
            conn,
            cli_principal(),
            "api_key.create",
            "api_keys",
            key.key_id,
            after={"name": name, "scopes": [str(s) for s in scope]},
        )
        conn.commit()
    print(key.secret)


@apikeys_app.command("revoke")
def apikeys_revoke(key_id: str) -> None:
    """Revoke a key at once."""
    with connect(migrated_database_url()) as conn:
        n = conn.execute(WEB_Q["revoke_api_key"], {"key_id": key_id}).rowcount
        if n:
            audit(conn, cli_principal(), "api_key.revoke", "api_keys", key_id)
        conn.commit()
    if not n:
        raise fail(f"no live key {key_id}", 1)


@apikeys_app.command("list")
def apikeys_list() -> None:
    """Keys (ids, names, scopes; never secrets)."""
    table = Table("key id", "name", "scopes", "created", "last used", "revoked")
    with connect(migrated_database_url()) as conn:
        for r in conn.execute(WEB_Q["list_api_keys"]):
            table.add_row(
                r["key_id"],
                r["name"],
                ",".join(r["scopes"]),
                str(r["created_at"])[:19],
                str(r["last_used_at"] or "")[:19],
                str(r["revoked_at"] or "")[:19],
            )
    _console.print(table)


def export(
    broker: Annotated[
        uuid.UUID | None, typer.Option(help="Only this broker's leads (as that broker, under RLS)")
    ] = None,
) -> None:
    """Stream leads as injection-safe CSV to stdout (memory stays flat)."""
    settings = get_settings()
    cipher = PiiCipher(keyring_or_exit(settings))
    out = sys.stdout.buffer
    with connect(migrated_database_url(settings)) as conn:
        if broker is not None:
            act_as_broker(conn, broker)
        for chunk in stream_csv(HEADER, export_rows(conn, cipher, itersize=5000), kinds=KINDS):
            out.write(chunk)
    out.flush()
