"""The broker workspace API. Every broker request runs in a transaction *as that broker*
(SET LOCAL ROLE authenticated + JWT claims), so Postgres RLS, not Python, filters rows;
another broker's lead is simply not found (404, never 403)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from equity_connect.audit.service import audit
from equity_connect.auth.principal import Principal
from equity_connect.brokers import service
from equity_connect.brokers.export import HEADER, KINDS, export_rows
from equity_connect.brokers.schemas import (
    BookingOut,
    ConsentOut,
    LeadOut,
    LeadPage,
    NoteIn,
    NoteOut,
    Reassign,
    StatusChange,
)
from equity_connect.brokers.service import found, page_cursor, parse_cursor
from equity_connect.brokers.service import lead_out as _lead
from equity_connect.campaign.schemas import CampaignStatus
from equity_connect.db import queries
from equity_connect.db.pool import Conn, act_as_broker
from equity_connect.errors import DomainError
from equity_connect.exports.csv_safe import stream_csv
from equity_connect.jobs import service as jobs
from equity_connect.observability.metrics import Q as OBS_Q
from equity_connect.security.apikeys import Scope
from equity_connect.security.crypto import PiiCipher
from equity_connect.web.auth import authenticate, require_ops
from equity_connect.web.state import state_of

Q = queries.load("equity_connect.brokers")
router = APIRouter(tags=["broker workspace"])
Caller = Annotated[Principal, Depends(authenticate)]
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Not authenticated (missing, expired or forged credentials)"},
    403: {"description": "Authenticated, but not allowed (wrong role or scope)"},
    404: {"description": "No such lead among yours"},
}


@contextmanager
def broker_tx(request: Request, principal: Principal) -> Iterator[Conn]:
    """A transaction in which the database sees this broker, and only their rows."""
    with state_of(request).pool.connection() as conn:
        act_as_broker(conn, principal.broker_id)
        yield conn


@router.get("/v1/leads/export.csv", responses=_ERRORS, response_class=StreamingResponse)
def export_leads(request: Request, caller: Caller) -> StreamingResponse:
    """Stream the caller's leads as CSV (a broker: their own; ops: all, with ``exports:read``).

    Cells that a spreadsheet would run as formulas are neutralised; E.164
    phones and numbers round-trip unchanged. Memory stays flat: rows stream
    from a server-side cursor.
    """
    state = state_of(request)
    if caller.kind == "ops":
        require_ops(caller, Scope.EXPORTS_READ)
    cipher = PiiCipher(state.keyring)

    def rows() -> Iterator[list[object]]:
        with state.pool.connection() as conn:
            if caller.kind == "broker":
                act_as_broker(conn, caller.broker_id)
            yield from export_rows(conn, cipher)

    return StreamingResponse(
        stream_csv(HEADER, rows(), kinds=KINDS),
        media_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="leads.csv"'},
    )


@router.get("/v1/leads", response_model=LeadPage, responses=_ERRORS)
def list_leads(  # noqa: PLR0917 - FastAPI reads each parameter from the query string
    request: Request,
    caller: Caller,
    status: Annotated[CampaignStatus | None, Query(description="campaign status")] = None,
    min_score: Annotated[int | None, Query(ge=0, le=100)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: str | None = None,
) -> LeadPage:
    """The broker's leads, newest first, keyset-paginated."""
    after = parse_cursor(cursor) if cursor else (None, None)
    cipher = PiiCipher(state_of(request).keyring)
    with broker_tx(request, caller) as conn:
        rows = conn.execute(
            Q["list_leads"],
            {
                "status": status,
                "min_score": min_score,
                "limit": limit + 1,
                "after_created": after[0],
                "after_id": after[1],
            },
        ).fetchall()
    items = [_lead(r, cipher) for r in rows[:limit]]
    return LeadPage(
        items=items, next_cursor=page_cursor(rows[limit - 1]) if len(rows) > limit else None
    )


@router.get("/v1/leads/{lead_id}", response_model=LeadOut, responses=_ERRORS)
def get_lead(lead_id: uuid.UUID, request: Request, caller: Caller) -> LeadOut:
    """One of the broker's leads."""
    with broker_tx(request, caller) as conn:
        row = found(conn.execute(Q["get_lead"], {"id": lead_id}).fetchone())
    return _lead(row, PiiCipher(state_of(request).keyring))


@router.patch("/v1/leads/{lead_id}", response_model=LeadOut, responses=_ERRORS)
def change_status(
    lead_id: uuid.UUID, change: StatusChange, request: Request, caller: Caller
) -> LeadOut:
    """Change a lead's status. ``do_not_contact`` also suppresses its contact details."""
    cipher = PiiCipher(state_of(request).keyring)
    with broker_tx(request, caller) as conn:
        row = service.change_status(conn, cipher, caller, lead_id, change.campaign_status)
    return _lead(row, cipher)


@router.get("/v1/leads/{lead_id}/notes", response_model=list[NoteOut], responses=_ERRORS)
def list_notes(lead_id: uuid.UUID, request: Request, caller: Caller) -> list[NoteOut]:
    """The broker's notes on a lead."""
    with broker_tx(request, caller) as conn:
        found(conn.execute(Q["get_lead"], {"id": lead_id}).fetchone())
        return [NoteOut(**r) for r in conn.execute(Q["notes"], {"lead_id": lead_id})]


@router.post(
    "/v1/leads/{lead_id}/notes", response_model=NoteOut, status_code=201, responses=_ERRORS
)
def add_note(lead_id: uuid.UUID, note: NoteIn, request: Request, caller: Caller) -> NoteOut:
    """Add a note to a lead."""
    with broker_tx(request, caller) as conn:
        row = service.add_note(conn, caller, lead_id, note.body)
    return NoteOut(id=row["id"], body=note.body, created_at=row["created_at"])


@router.get("/v1/leads/{lead_id}/consent", response_model=list[ConsentOut], responses=_ERRORS)
def consent_view(lead_id: uuid.UUID, request: Request, caller: Caller) -> list[ConsentOut]:
    """The lead's consent records."""
    with broker_tx(request, caller) as conn:
        found(conn.execute(Q["get_lead"], {"id": lead_id}).fetchone())
        return [ConsentOut(**r) for r in conn.execute(Q["consent_records"], {"lead_id": lead_id})]


@router.get("/v1/leads/{lead_id}/bookings", response_model=list[BookingOut], responses=_ERRORS)
def booking_view(lead_id: uuid.UUID, request: Request, caller: Caller) -> list[BookingOut]:
    """The lead's bookings."""
    with broker_tx(request, caller) as conn:
        found(conn.execute(Q["get_lead"], {"id": lead_id}).fetchone())
        return [BookingOut(**r) for r in conn.execute(Q["bookings"], {"lead_id": lead_id})]


@router.post("/v1/ops/leads/{lead_id}/assign", response_model=dict[str, str], responses=_ERRORS)
def reassign(
    lead_id: uuid.UUID, body: Reassign, request: Request, caller: Caller
) -> dict[str, str]:
    """Ops: assign a lead to a broker (scope ``leads:write``)."""
    require_ops(caller, Scope.LEADS_WRITE)
    with state_of(request).pool.connection() as conn:
        before = found(conn.execute(Q["get_lead"], {"id": lead_id}).fetchone())
        try:
            with conn.transaction():
                conn.execute(Q["reassign"], {"id": lead_id, "broker_id": body.broker_id})
        except psycopg.errors.ForeignKeyViolation as exc:
            raise DomainError(404, "no_such_broker", "no such broker") from exc
        audit(
            conn,
            caller,
            "lead.assign",
            "leads",
            lead_id,
            before={"assigned_broker_id": str(before["assigned_broker_id"])},
            after={"assigned_broker_id": str(body.broker_id)},
        )
    return {"lead_id": str(lead_id), "assigned_broker_id": str(body.broker_id)}


@router.get("/v1/ops/uploads", response_model=list[dict[str, Any]], responses=_ERRORS)
def ops_uploads(
    request: Request, caller: Caller, limit: Annotated[int, Query(ge=1, le=200)] = 50
) -> list[dict[str, Any]]:
    """Ops: the latest uploads with their reports (scope ``leads:read``)."""
    require_ops(caller, Scope.LEADS_READ)
    with state_of(request).pool.connection() as conn:
        rows = conn.execute(OBS_Q["uploads"], {"limit": limit}).fetchall()
    return [{**r, "id": str(r["id"]), "received_at": r["received_at"].isoformat()} for r in rows]


@router.get("/v1/ops/dlq", response_model=list[dict[str, Any]], responses=_ERRORS)
def ops_dlq(
    request: Request, caller: Caller, limit: Annotated[int, Query(ge=1, le=200)] = 50
) -> list[dict[str, Any]]:
    """Ops: pending dead letters (scope ``dlq:replay``)."""
    require_ops(caller, Scope.DLQ_REPLAY)
    with state_of(request).pool.connection() as conn:
        rows = conn.execute(OBS_Q["dlq_pending"], {"limit": limit}).fetchall()
    return [{**r, "created_at": r["created_at"].isoformat()} for r in rows]


@router.post("/v1/ops/dlq/{dlq_id}/replay", response_model=dict[str, Any], responses=_ERRORS)
def ops_replay(dlq_id: int, request: Request, caller: Caller) -> dict[str, Any]:
    """Ops: replay one dead letter, exactly once (scope ``dlq:replay``)."""
    require_ops(caller, Scope.DLQ_REPLAY)
    with state_of(request).pool.connection() as conn:
        replayed = jobs.replay_dlq(conn, dlq_id)
        if not replayed:
            raise DomainError(404, "not_pending", "no pending dead letter with that id")
        audit(conn, caller, "dlq.replay", "pipeline_dlq", dlq_id, after={"replayed": True})
    return {"replayed": dlq_id}
