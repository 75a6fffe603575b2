"""Ops API for outbound events: ``/v1/ops/events/…``, scope ``events:manage``."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from equity_connect.audit.service import audit
from equity_connect.auth.principal import Principal
from equity_connect.events import service
from equity_connect.events.schemas import (
    DeliveryDetail,
    DeliveryOut,
    DeliveryStatus,
    EndpointCreated,
    EndpointOut,
    SubscribeIn,
)
from equity_connect.security.apikeys import Scope
from equity_connect.security.crypto import PiiCipher
from equity_connect.web.auth import authenticate, require_ops
from equity_connect.web.state import state_of

router = APIRouter(prefix="/v1/ops/events", tags=["outbound events"])
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Not authenticated"},
    403: {"description": "Not an ops key with scope events:manage"},
    404: {"description": "No such endpoint or delivery"},
}


def _ops(caller: Annotated[Principal, Depends(authenticate)]) -> Principal:
    return require_ops(caller, Scope.EVENTS_MANAGE)


Ops = Annotated[Principal, Depends(_ops)]


@router.post("/endpoints", response_model=EndpointCreated, status_code=201, responses=_ERRORS)
def create_endpoint(body: SubscribeIn, request: Request, caller: Ops) -> EndpointCreated:
    """Subscribe an endpoint to event types. Its ``whsec_`` secret is in this answer only.

    An endpoint allowed PII receives decrypted contacts, so subscribing one also needs
    the export scope (``exports:read``), as reading them any other way would."""
    if body.allow_pii:
        require_ops(caller, Scope.EXPORTS_READ)
    state = state_of(request)
    with state.pool.connection() as conn:
        new = service.subscribe(
            conn,
            PiiCipher(state.keyring),
            state.settings,
            body.url,
            body.event_types,
            description=body.description,
            allow_pii=body.allow_pii,
        )
        audit(
            conn,
            caller,
            "events.subscribe",
            "event_endpoints",
            new.endpoint.id,
            after={
                "url": new.endpoint.url,
                "event_types": new.endpoint.event_types,
                "allow_pii": body.allow_pii,
            },
        )
    return EndpointCreated(**new.endpoint.model_dump(), secret=new.secret)


@router.get("/endpoints", response_model=list[EndpointOut], responses=_ERRORS)
def list_endpoints(request: Request, caller: Ops) -> list[EndpointOut]:
    """Every endpoint with its breaker state (never a secret)."""
    with state_of(request).pool.connection() as conn:
        return service.list_endpoints(conn)


@router.post("/endpoints/{endpoint_id}/disable", response_model=EndpointOut, responses=_ERRORS)
def disable_endpoint(endpoint_id: uuid.UUID, request: Request, caller: Ops) -> EndpointOut:
    """Stop sending new events to an endpoint."""
    with state_of(request).pool.connection() as conn:
        out = service.set_enabled(conn, endpoint_id, enabled=False)
        audit(conn, caller, "events.disable", "event_endpoints", endpoint_id)
    return out


@router.post("/endpoints/{endpoint_id}/enable", response_model=EndpointOut, responses=_ERRORS)
def enable_endpoint(endpoint_id: uuid.UUID, request: Request, caller: Ops) -> EndpointOut:
    """Send new events to a disabled endpoint again."""
    with state_of(request).pool.connection() as conn:
        out = service.set_enabled(conn, endpoint_id, enabled=True)
        audit(conn, caller, "events.enable", "event_endpoints", endpoint_id)
    return out


@router.get("/deliveries", response_model=list[DeliveryOut], responses=_ERRORS)
def list_deliveries(
    request: Request,
    caller: Ops,
    endpoint_id: uuid.UUID | None = None,
    status: DeliveryStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[DeliveryOut]:
    """The delivery log, newest first."""
    with state_of(request).pool.connection() as conn:
        return service.deliveries(conn, endpoint_id=endpoint_id, status=status, limit=limit)


@router.get("/deliveries/{delivery_id}", response_model=DeliveryDetail, responses=_ERRORS)
def get_delivery(delivery_id: int, request: Request, caller: Ops) -> DeliveryDetail:
    """One delivery with each attempt: outcome, status code, error, duration."""
    with state_of(request).pool.connection() as conn:
        return service.delivery(conn, delivery_id)


@router.post(
    "/deliveries/{delivery_id}/replay",
    response_model=dict[str, int],
    responses={**_ERRORS, 409: {"description": "The delivery is still being sent"}},
)
def replay_delivery(delivery_id: int, request: Request, caller: Ops) -> dict[str, int]:
    """Send a finished delivery again, with the same ``webhook-id``."""
    with state_of(request).pool.connection() as conn:
        service.replay(conn, delivery_id)
        audit(conn, caller, "events.replay", "event_deliveries", delivery_id)
    return {"replayed": delivery_id}
