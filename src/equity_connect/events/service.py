"""Endpoints and the delivery log: subscribe, list, disable, inspect, replay.

The CLI and the ops API both call these; the caller owns the transaction
and writes the audit row.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from equity_connect.config import Settings
from equity_connect.db import queries
from equity_connect.db.pool import Conn
from equity_connect.errors import DomainError
from equity_connect.events.schemas import (
    AttemptOut,
    DeliveryDetail,
    DeliveryOut,
    DeliveryStatus,
    EndpointOut,
    EventType,
    webhook_id,
)
from equity_connect.events.signer import generate_secret
from equity_connect.events.targets import TargetPolicy, check_url
from equity_connect.jobs import service as jobs
from equity_connect.security.crypto import PiiCipher, aad_for

Q = queries.load("equity_connect.events")
DELIVER_TASK = "events.deliver_event"


def secret_aad(endpoint_id: uuid.UUID) -> bytes:
    """The secret's ciphertext is bound to its endpoint row (moved elsewhere, it fails)."""
    return aad_for("event_endpoints", "secret", endpoint_id)


def policy_of(settings: Settings) -> TargetPolicy:
    """The SSRF guard's allowances, from the settings."""
    return TargetPolicy(
        allow_http=settings.events_allow_http,
        allow_private=settings.events_allow_private_targets,
    )


@dataclass(frozen=True)
class NewEndpoint:
    """A subscribed endpoint and its secret (the only time it is shown)."""

    endpoint: EndpointOut
    secret: str


def subscribe(
    conn: Conn,
    cipher: PiiCipher,
    settings: Settings,
    url: str,
    event_types: list[EventType],
    *,
    description: str | None = None,
    allow_pii: bool = False,
) -> NewEndpoint:
    """Add an endpoint for ``event_types``; its ``whsec_`` secret is stored encrypted."""
    if not event_types:
        raise DomainError(422, "no_event_types", "name at least one event type to subscribe to")
    # A name is not resolved here (the receiver may not be deployed yet): the
    # sender checks every address it resolves to on each connection.
    check_url(url.strip(), policy_of(settings), resolve=False)
    endpoint_id = uuid.uuid4()
    secret = generate_secret()
    row = conn.execute(
        Q["insert_endpoint"],
        {
            "id": endpoint_id,
            "url": url.strip(),
            "description": description,
            "event_types": sorted({str(t) for t in event_types}),
            "secret_ciphertext": cipher.encrypt(secret, secret_aad(endpoint_id)),
            "allow_pii": allow_pii,
        },
    ).fetchone()
    assert row is not None  # INSERT … RETURNING
    return NewEndpoint(EndpointOut(**row), secret)


def endpoint_secret(cipher: PiiCipher, endpoint_id: uuid.UUID, ciphertext: bytes) -> str:
    """The endpoint's ``whsec_`` secret in clear, for signing."""
    return cipher.decrypt(ciphertext, secret_aad(endpoint_id))


def list_endpoints(conn: Conn, *, include_disabled: bool = True) -> list[EndpointOut]:
    """Every endpoint, oldest first."""
    rows = conn.execute(Q["list_endpoints"], {"include_disabled": include_disabled}).fetchall()
    return [EndpointOut(**r) for r in rows]


def set_enabled(conn: Conn, endpoint_id: uuid.UUID, *, enabled: bool) -> EndpointOut:
    """Enable or disable an endpoint; a disabled one gets no new events."""
    row = conn.execute(
        Q["set_endpoint_enabled"], {"id": endpoint_id, "enabled": enabled}
    ).fetchone()
    if row is None:
        raise DomainError(404, "no_such_endpoint", f"no event endpoint {endpoint_id}")
    return EndpointOut(**row)


def _delivery(row: dict[str, Any]) -> DeliveryOut:
    return DeliveryOut(**row, webhook_id=webhook_id(row["event_id"]))


def deliveries(
    conn: Conn,
    *,
    endpoint_id: uuid.UUID | None = None,
    status: DeliveryStatus | None = None,
    limit: int = 50,
) -> list[DeliveryOut]:
    """The newest deliveries, optionally of one endpoint or in one state."""
    rows = conn.execute(
        Q["list_deliveries"],
        {"endpoint_id": endpoint_id, "status": status, "limit": limit},
    ).fetchall()
    return [_delivery(r) for r in rows]


def delivery(conn: Conn, delivery_id: int) -> DeliveryDetail:
    """One delivery with every attempt of its log."""
    row = conn.execute(Q["get_delivery"], {"id": delivery_id}).fetchone()
    if row is None:
        raise DomainError(404, "no_such_delivery", f"no event delivery {delivery_id}")
    log = [AttemptOut(**a) for a in conn.execute(Q["delivery_log"], {"id": delivery_id})]
    return DeliveryDetail(**_delivery(row).model_dump(), log=log)


def replay(conn: Conn, delivery_id: int) -> int:
    """Send a finished delivery again (same event, same ``webhook-id``); its id."""
    row = conn.execute(Q["replay_delivery"], {"id": delivery_id}).fetchone()
    if row is None:
        if conn.execute(Q["get_delivery"], {"id": delivery_id}).fetchone() is None:
            raise DomainError(404, "no_such_delivery", f"no event delivery {delivery_id}")
        raise DomainError(
            409, "delivery_pending", f"delivery {delivery_id} is still being sent: wait for it"
        )
    jobs.enqueue(conn, DELIVER_TASK, {"delivery_id": delivery_id})
    return delivery_id


def replay_failed(conn: Conn, endpoint_id: uuid.UUID | None = None) -> list[int]:
    """Send every failed delivery (of one endpoint, or all) again; their ids."""
    ids = [int(r["id"]) for r in conn.execute(Q["replay_failed"], {"endpoint_id": endpoint_id})]
    for delivery_id in ids:
        jobs.enqueue(conn, DELIVER_TASK, {"delivery_id": delivery_id})
    return ids
