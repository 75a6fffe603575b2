"""What each MCP tool does, synchronously, for one authenticated caller.

Every function takes the app state and the caller first, and composes the
broker workspace's services and queries: a broker's reads and writes run in
a transaction *as that broker* (RLS decides the rows, exactly as in the
broker API, so another broker's lead is "not found"); an ops key works as
the pipeline, limited by its scopes (``ACCESS``). Contact details are
decrypted only for whoever could read them through the API: the lead's
broker, or an ops key with ``exports:read``. Nothing here sends a message
or places a call.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

from equity_connect.audit.service import audit
from equity_connect.auth.principal import Principal
from equity_connect.brokers import service as brokers
from equity_connect.brokers.schemas import BookingOut, ConsentOut, LeadOut, LeadPage, NoteOut
from equity_connect.calls.service import CALLS_Q
from equity_connect.campaign.schemas import CampaignStatus
from equity_connect.db.pool import Conn, act_as_broker
from equity_connect.errors import DomainError
from equity_connect.ingest.rejects import rejected_rows
from equity_connect.jobs import service as jobs
from equity_connect.leads import service as leads
from equity_connect.leads.schemas import LeadFilters
from equity_connect.mcp_server.schemas import (
    CallingWindow,
    DeadLetter,
    Funnel,
    FunnelStage,
    LeadTimeline,
    RejectOut,
    Replayed,
    UploadOut,
)
from equity_connect.observability.metrics import Q as OBS_Q
from equity_connect.security.apikeys import Scope, has_scope
from equity_connect.security.crypto import PiiCipher
from equity_connect.web.state import AppState

BQ = brokers.Q

# The statuses an agent may set through set_status: the broker API's targets
# minus do_not_contact, which has its own tool (an opt-out is one deliberate act).
AgentStatus = Literal["paused", "replied", "converted", "active"]


@dataclass(frozen=True)
class Access:
    """Who may list and call a tool: brokers, and/or ops keys holding ``scope``."""

    brokers: bool
    scope: Scope | None  # None: no ops key may

    def allows(self, caller: Principal) -> bool:
        """True if ``caller`` may see and call the tool."""
        if caller.kind == "broker":
            return self.brokers
        return self.scope is not None and has_scope(caller.scopes, self.scope)


ACCESS: dict[str, Access] = {
    "search_leads": Access(brokers=True, scope=Scope.LEADS_READ),
    "get_lead": Access(brokers=True, scope=Scope.LEADS_READ),
    "add_note": Access(brokers=True, scope=None),  # a note is a broker's, by its broker_id
    "set_status": Access(brokers=True, scope=None),
    "mark_do_not_contact": Access(brokers=True, scope=Scope.LEADS_WRITE),
    "calling_window": Access(brokers=True, scope=Scope.LEADS_READ),
    "funnel": Access(brokers=True, scope=Scope.LEADS_READ),
    "upload_status": Access(brokers=False, scope=Scope.LEADS_READ),
    "upload_rejects": Access(brokers=False, scope=Scope.LEADS_READ),
    "dlq_list": Access(brokers=False, scope=Scope.DLQ_REPLAY),
    "dlq_replay": Access(brokers=False, scope=Scope.DLQ_REPLAY),
}


def sees_pii(caller: Principal) -> bool:
    """Could this caller read contact details through the API? A broker (their own
    leads, via RLS) or an ops key that may export them."""
    return caller.kind == "broker" or has_scope(caller.scopes, Scope.EXPORTS_READ)


@contextmanager
def _tx(state: AppState, caller: Principal) -> Iterator[Conn]:
    """One transaction as the caller: a broker under RLS, an ops key as the pipeline."""
    with state.pool.connection() as conn:
        if caller.kind == "broker":
            act_as_broker(conn, caller.broker_id)
        yield conn


def search_leads(
    state: AppState,
    caller: Principal,
    *,
    status: str | None,
    min_score: int | None,
    limit: int,
    cursor: str | None,
    query: str | None = None,
) -> LeadPage:
    """The caller's leads, newest first, keyset-paginated; with ``query``, the workspace's
    search (name, street or city prefix, ZIP, or exact phone or email through the blind
    index: ``leads.search_leads``), best score first, one page of ``limit``."""
    after = brokers.parse_cursor(cursor) if cursor else (None, None)
    cipher = PiiCipher(state.keyring)
    if query:
        return _search(
            state, caller, cipher, query=query, status=status, min_score=min_score, limit=limit
        )
    with _tx(state, caller) as conn:
        rows = conn.execute(
            BQ["list_leads"],
            {
                "status": status,
                "min_score": min_score,
                "limit": limit + 1,
                "after_created": after[0],
                "after_id": after[1],
            },
        ).fetchall()
    pii = sees_pii(caller)
    return LeadPage(
        items=[brokers.lead_out(r, cipher, pii=pii) for r in rows[:limit]],
        next_cursor=brokers.page_cursor(rows[limit - 1]) if len(rows) > limit else None,
    )


def _search(
    state: AppState,
    caller: Principal,
    cipher: PiiCipher,
    *,
    query: str,
    status: str | None,
    min_score: int | None,
    limit: int,
) -> LeadPage:
    filters = LeadFilters(
        q=query,
        status=CampaignStatus(status) if status else None,
        min_score=min_score,
        max_score=None,
        page=1,
        size=limit,
    )
    pii = sees_pii(caller)
    with _tx(state, caller) as conn:
        found = leads.search_leads(conn, cipher, filters, broker=None)
        rows = [conn.execute(BQ["get_lead"], {"id": item.id}).fetchone() for item in found.items]
    # The same rows and the same PII rule as the list without a query.
    return LeadPage(
        items=[brokers.lead_out(r, cipher, pii=pii) for r in rows if r is not None],
        next_cursor=None,
    )


def get_lead(state: AppState, caller: Principal, lead_id: uuid.UUID) -> LeadTimeline:
    """A lead with its notes, consent records, bookings and pipeline events."""
    cipher = PiiCipher(state.keyring)
    with _tx(state, caller) as conn:
        row = brokers.found(conn.execute(BQ["get_lead"], {"id": lead_id}).fetchone())
        notes = [NoteOut(**r) for r in conn.execute(BQ["notes"], {"lead_id": lead_id})]
        consent = [
            ConsentOut(**r) for r in conn.execute(BQ["consent_records"], {"lead_id": lead_id})
        ]
        bookings = [BookingOut(**r) for r in conn.execute(BQ["bookings"], {"lead_id": lead_id})]
        # Everything that happened to it, exactly as the lead page shows it (the broker
        # reads their lead's history through RLS, migration 0020).
        timeline = leads.timeline(conn, cipher, leads.find_lead(conn, lead_id))
    return LeadTimeline(
        lead=brokers.lead_out(row, cipher, pii=sees_pii(caller)),
        notes=notes,
        consent=consent,
        bookings=bookings,
        timeline=timeline,
    )


def add_note(state: AppState, caller: Principal, lead_id: uuid.UUID, body: str) -> NoteOut:
    """Add the broker's note to one of their leads."""
    with _tx(state, caller) as conn:
        row = brokers.add_note(conn, caller, lead_id, body)
    return NoteOut(id=row["id"], body=body, created_at=row["created_at"])


def set_status(state: AppState, caller: Principal, lead_id: uuid.UUID, status: str) -> LeadOut:
    """Change a lead's status within the broker API's transitions (never out of an opt-out)."""
    if status == "do_not_contact":
        raise DomainError(422, "use_mark_do_not_contact", "use the mark_do_not_contact tool")
    cipher = PiiCipher(state.keyring)
    with _tx(state, caller) as conn:
        row = brokers.change_status(conn, cipher, caller, lead_id, status)
    return brokers.lead_out(row, cipher, pii=sees_pii(caller))


def mark_do_not_contact(state: AppState, caller: Principal, lead_id: uuid.UUID) -> LeadOut:
    """Opt the lead out on every channel (always allowed; no tool undoes it)."""
    cipher = PiiCipher(state.keyring)
    with _tx(state, caller) as conn:
        row = conn.execute(BQ["get_lead"], {"id": lead_id}).fetchone()
        if row is not None and row["campaign_status"] == "do_not_contact":
            return brokers.lead_out(row, cipher, pii=sees_pii(caller))  # already: idempotent
        row = brokers.change_status(conn, cipher, caller, lead_id, "do_not_contact")
    return brokers.lead_out(row, cipher, pii=sees_pii(caller))


def calling_window(state: AppState, caller: Principal, lead_id: uuid.UUID) -> CallingWindow:
    """May the lead be called now (federal calling hours in every zone the homeowner may
    be in, and no opt-out, DNC or suppression), and if not, when next."""
    cipher = PiiCipher(state.keyring)
    with _tx(state, caller) as conn:
        row = brokers.found(conn.execute(BQ["get_lead"], {"id": lead_id}).fetchone())
        with leads.as_pipeline(conn):  # the suppression set is the pipeline's
            target = conn.execute(CALLS_Q["call_target"], {"id": lead_id}).fetchone()
    forbidden = target is None or bool(target["forbidden"])
    view = brokers.lead_out(row, cipher, pii=False)
    if forbidden:
        return CallingWindow(
            lead_id=lead_id, may_call_now=False, forbidden=True, next_call_window=None
        )
    return CallingWindow(
        lead_id=lead_id,
        may_call_now=view.may_call_now,
        forbidden=False,
        next_call_window=view.next_call_window,
    )


def funnel(
    state: AppState,
    caller: Principal,
    *,
    upload_id: uuid.UUID | None,
    broker_id: uuid.UUID | None,
    source: str | None,
) -> Funnel:
    """The funnel overall, per broker or per upload (a broker: over their leads only)."""
    with _tx(state, caller) as conn:
        rows = conn.execute(
            OBS_Q["funnel"],
            {"from": None, "to": None, "upload": upload_id, "source": source, "broker": broker_id},
        ).fetchall()
    return Funnel(stages=[FunnelStage(stage=r["stage"], leads=int(r["leads"])) for r in rows])


def upload_status(
    state: AppState, caller: Principal, *, upload_id: uuid.UUID | None, limit: int
) -> list[UploadOut]:
    """One upload's report, or the latest ``limit`` uploads."""
    with _tx(state, caller) as conn:
        if upload_id is None:
            rows = conn.execute(OBS_Q["uploads"], {"limit": limit}).fetchall()
        else:
            rows = conn.execute(OBS_Q["upload"], {"id": upload_id}).fetchall()
            if not rows:
                raise DomainError(404, "not_found", "no such upload")
    return [UploadOut(**r) for r in rows]


def upload_rejects(
    state: AppState, caller: Principal, upload_id: uuid.UUID, limit: int
) -> list[RejectOut]:
    """An upload's rejected rows: row, line, field and reason."""
    with _tx(state, caller) as conn:
        if conn.execute(OBS_Q["upload"], {"id": upload_id}).fetchone() is None:
            raise DomainError(404, "not_found", "no such upload")
        rows = rejected_rows(conn, upload_id)
    return [
        RejectOut(
            row_number=r.row_number, line_number=r.line_number, field=r.field, reason=r.reason
        )
        for r in rows[:limit]
    ]


def dlq_list(state: AppState, caller: Principal, limit: int) -> list[DeadLetter]:
    """Pending dead letters, newest first."""
    with _tx(state, caller) as conn:
        rows = conn.execute(OBS_Q["dlq_pending"], {"limit": limit}).fetchall()
    return [DeadLetter(**r) for r in rows]


def dlq_replay(state: AppState, caller: Principal, dlq_id: int) -> Replayed:
    """Put one pending dead letter back on the queue, exactly once."""
    with _tx(state, caller) as conn:
        if not jobs.replay_dlq(conn, dlq_id):
            raise DomainError(404, "not_pending", "no pending dead letter with that id")
        audit(conn, caller, "dlq.replay", "pipeline_dlq", dlq_id, after={"replayed": True})
    return Replayed(replayed=dlq_id)


def record_call(
    state: AppState, caller: Principal, tool: str, target: object, outcome: dict[str, Any]
) -> None:
    """The audit row of one tool call (allowed or refused), in its own transaction, so a
    failed call is on the record too. ``outcome`` holds codes only, never PII."""
    with state.pool.connection() as conn:
        audit(
            conn,
            caller,
            f"mcp.{tool}",
            "mcp",
            target if target is not None else "-",
            after=outcome,
        )
