"""The MCP server: tools and resources of the lead pipeline, built on the official SDK.

One ``EquityConnectMcp`` per process (the HTTP session manager runs once).
Each tool call: who is calling (the HTTP request's principal, or the stdio
token checked again, so an expired or revoked one stops working) → may this
caller use this tool (``tools.ACCESS``; hidden tools are not listed either)
→ the caller's rate limit (a shared Postgres token bucket per principal,
``jobs/ratelimit.py``) → the tool, in a worker thread (database calls must
not block the event loop) → one audit row, whatever the outcome.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

import anyio.to_thread
import psycopg
from mcp.server.fastmcp import FastMCP
from mcp.server.fastmcp.exceptions import ToolError
from mcp.server.transport_security import TransportSecuritySettings
from mcp.types import Tool as McpTool
from psycopg_pool import PoolTimeout
from pydantic import Field

from equity_connect.auth.principal import Principal
from equity_connect.brokers.schemas import LeadOut, LeadPage, NoteOut
from equity_connect.campaign.schedule import BUSINESS_TZ, next_runs
from equity_connect.campaign.scheduler import calendar_from
from equity_connect.campaign.schemas import CampaignStatus
from equity_connect.consent.service import DISCLOSURE
from equity_connect.errors import DomainError
from equity_connect.jobs.ratelimit import SharedTokenBucket
from equity_connect.mcp_server import tools
from equity_connect.mcp_server.auth import PRINCIPAL_KEY, authenticate_token
from equity_connect.mcp_server.schemas import (
    CallingWindow,
    DeadLetter,
    Funnel,
    LeadTimeline,
    RejectOut,
    Replayed,
    UploadOut,
)
from equity_connect.web.state import AppState

T = TypeVar("T")
LeadId = Annotated[uuid.UUID, Field(description="the lead's id")]
INSTRUCTIONS = (
    "Equity Connect's lead pipeline. A broker's token sees only that broker's leads. "
    "No tool sends a message or places a call; an opt-out (mark_do_not_contact) is final."
)


@dataclass(frozen=True)
class StdioIdentity:
    """The stdio server's state and token (one caller per process)."""

    state: AppState
    token: str


class EquityConnectMcp(FastMCP[Any]):
    """FastMCP with per-caller tool lists, scope checks, rate limits and an audit row per call."""

    def __init__(self, stdio: StdioIdentity | None = None) -> None:
        super().__init__(
            name="equity-connect",
            instructions=INSTRUCTIONS,
            # Stateless: any API process answers any request (they scale out behind a
            # load balancer), and each request carries and proves its own token.
            stateless_http=True,
            json_response=True,
            # DNS-rebinding protection guards unauthenticated local servers; ours
            # refuses every request without a valid bearer token, which a rebinding
            # page does not have, and must answer on whatever host it is deployed at.
            transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
            log_level="WARNING",
        )
        self.stdio = stdio
        self._buckets: dict[str, SharedTokenBucket] = {}
        _register(self)

    # --- who is calling -----------------------------------------------------------------

    async def caller(self) -> tuple[AppState, Principal]:
        """The state and principal of the request being handled."""
        try:
            request = self._mcp_server.request_context.request
        except LookupError:
            request = None
        if request is not None:
            scope = getattr(request, "scope", {})
            principal = scope.get(PRINCIPAL_KEY)
            if isinstance(principal, Principal):
                return scope["app"].state.ec, principal
        if self.stdio is not None:
            stdio = self.stdio
            try:
                found = await anyio.to_thread.run_sync(authenticate_token, stdio.state, stdio.token)
            except DomainError as exc:
                raise ToolError(f"{exc.detail} ({exc.code})") from None
            return stdio.state, found
        raise ToolError("not authenticated: send a broker JWT or an ops API key")

    async def list_tools(self) -> list[McpTool]:
        """Only the tools this caller may use."""
        _, principal = await self.caller()
        return [t for t in await super().list_tools() if tools.ACCESS[t.name].allows(principal)]

    # --- one call -----------------------------------------------------------------------

    def _bucket(self, state: AppState, principal: Principal) -> SharedTokenBucket:
        key = f"mcp:{principal.kind}:{principal.id}"
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = SharedTokenBucket(
                state.pool,
                key,
                rate_per_sec=state.settings.mcp_rate_per_sec,
                burst=state.settings.mcp_burst,
            )
            self._buckets[key] = bucket
        return bucket

    def _take(self, state: AppState, principal: Principal) -> float:
        """One token from the caller's bucket: 0, or the seconds to wait."""
        try:
            return self._bucket(state, principal).try_take()
        except RuntimeError:  # its row was removed (a cleanup): make it again, once
            self._buckets.pop(f"mcp:{principal.kind}:{principal.id}", None)
            return self._bucket(state, principal).try_take()

    async def dispatch(
        self, name: str, target: object, work: Callable[[AppState, Principal], T]
    ) -> T:
        """Check, rate-limit, run and audit one tool call."""
        state, principal = await self.caller()

        def call() -> tuple[T | None, str | None]:
            if not tools.ACCESS[name].allows(principal):
                tools.record_call(
                    state, principal, name, target, {"ok": False, "error": "forbidden"}
                )
                return None, f"{name} is not available to this token"
            wait = self._take(state, principal)
            if wait > 0:
                tools.record_call(
                    state, principal, name, target, {"ok": False, "error": "rate_limited"}
                )
                return None, f"rate limited: retry in {wait:.1f} s"
            try:
                result = work(state, principal)
            except DomainError as exc:
                tools.record_call(state, principal, name, target, {"ok": False, "error": exc.code})
                return None, f"{exc.detail} ({exc.code})"
            except (psycopg.OperationalError, PoolTimeout):
                # as the API's 503: the database is away (so is the audit log); retry later
                return None, "the database is unavailable; retry shortly (database_unavailable)"
            tools.record_call(state, principal, name, target, {"ok": True})
            return result, None

        result, error = await anyio.to_thread.run_sync(call)
        if error is not None:
            raise ToolError(error)
        assert result is not None
        return result


def _register(server: EquityConnectMcp) -> None:
    """The tools and resources."""

    @server.tool(
        description=(
            "Search your leads: by name, street or city prefix, ZIP, or exact phone or "
            "email (query), and by status and minimum score; newest first without a query."
        )
    )
    async def search_leads(
        query: Annotated[
            str | None,
            Field(max_length=200, description="name, street, city, ZIP, phone or email"),
        ] = None,
        status: Annotated[CampaignStatus | None, Field(description="campaign status")] = None,
        min_score: Annotated[int | None, Field(ge=0, le=100)] = None,
        limit: Annotated[int, Field(ge=1, le=200)] = 50,
        cursor: Annotated[str | None, Field(description="next_cursor of the last page")] = None,
    ) -> LeadPage:
        return await server.dispatch(
            "search_leads",
            None,
            lambda st, p: tools.search_leads(
                st, p, status=status, min_score=min_score, limit=limit, cursor=cursor, query=query
            ),
        )

    @server.tool(
        description=(
            "One lead with its timeline: upload rows, skip-trace, campaign, replies, calls, "
            "consent, bookings, notes, suppressions, audit."
        )
    )
    async def get_lead(lead_id: LeadId) -> LeadTimeline:
        return await server.dispatch(
            "get_lead", lead_id, lambda st, p: tools.get_lead(st, p, lead_id)
        )

    @server.tool(description="Add a note to one of your leads.")
    async def add_note(
        lead_id: LeadId, body: Annotated[str, Field(min_length=1, max_length=10_000)]
    ) -> NoteOut:
        return await server.dispatch(
            "add_note", lead_id, lambda st, p: tools.add_note(st, p, lead_id, body)
        )

    @server.tool(
        description="Set a lead's status (paused, replied, converted, active); "
        "an opted-out lead cannot be changed."
    )
    async def set_status(lead_id: LeadId, status: tools.AgentStatus) -> LeadOut:
        return await server.dispatch(
            "set_status", lead_id, lambda st, p: tools.set_status(st, p, lead_id, status)
        )

    @server.tool(
        description="Opt a lead out of all contact on every channel (final: no tool undoes it)."
    )
    async def mark_do_not_contact(lead_id: LeadId) -> LeadOut:
        return await server.dispatch(
            "mark_do_not_contact", lead_id, lambda st, p: tools.mark_do_not_contact(st, p, lead_id)
        )

    @server.tool(
        description="May this lead be called now (calling hours, opt-outs, DNC), "
        "and if not, when next."
    )
    async def calling_window(lead_id: LeadId) -> CallingWindow:
        return await server.dispatch(
            "calling_window", lead_id, lambda st, p: tools.calling_window(st, p, lead_id)
        )

    @server.tool(
        description="The funnel upload→dedupe→verified→fed→replied→booked, "
        "overall or per broker/upload/source."
    )
    async def funnel(
        upload_id: uuid.UUID | None = None,
        broker_id: uuid.UUID | None = None,
        source: Annotated[str | None, Field(max_length=200)] = None,
    ) -> Funnel:
        return await server.dispatch(
            "funnel",
            upload_id or broker_id,
            lambda st, p: tools.funnel(
                st, p, upload_id=upload_id, broker_id=broker_id, source=source
            ),
        )

    @server.tool(description="An upload's report (status, counts), or the latest uploads.")
    async def upload_status(
        upload_id: uuid.UUID | None = None, limit: Annotated[int, Field(ge=1, le=200)] = 20
    ) -> list[UploadOut]:
        return await server.dispatch(
            "upload_status",
            upload_id,
            lambda st, p: tools.upload_status(st, p, upload_id=upload_id, limit=limit),
        )

    @server.tool(description="An upload's rejected rows: row, line, field and reason.")
    async def upload_rejects(
        upload_id: uuid.UUID, limit: Annotated[int, Field(ge=1, le=1000)] = 200
    ) -> list[RejectOut]:
        return await server.dispatch(
            "upload_rejects",
            upload_id,
            lambda st, p: tools.upload_rejects(st, p, upload_id, limit),
        )

    @server.tool(description="Pending dead letters (failed jobs), newest first.")
    async def dlq_list(limit: Annotated[int, Field(ge=1, le=200)] = 50) -> list[DeadLetter]:
        return await server.dispatch("dlq_list", None, lambda st, p: tools.dlq_list(st, p, limit))

    @server.tool(description="Replay one pending dead letter (puts its job back on the queue).")
    async def dlq_replay(dlq_id: Annotated[int, Field(ge=1)]) -> Replayed:
        return await server.dispatch(
            "dlq_replay", dlq_id, lambda st, p: tools.dlq_replay(st, p, dlq_id)
        )

    @server.resource(
        "equity-connect://consent/disclosure",
        name="disclosure",
        description="The consent disclosure a homeowner agrees to, with its version.",
        mime_type="text/plain",
    )
    async def disclosure() -> str:
        state, _ = await server.caller()
        text = DISCLOSURE.format(brokerage=state.settings.brand_name)
        return f"{text}\n\nDisclosure {state.settings.disclosure_version}"

    @server.resource(
        "equity-connect://campaign/schedule",
        name="schedule",
        description="The next scheduled runs (05:30 refresh, 06:00 feed, LA business days).",
        mime_type="application/json",
    )
    async def schedule() -> str:
        state, _ = await server.caller()
        runs = next_runs(datetime.now(UTC), calendar_from(state.settings), count=10)
        return json.dumps(
            [
                {
                    "name": s.name,
                    "task": s.task,
                    "at_pt": at.astimezone(BUSINESS_TZ).isoformat(),
                    "at_utc": at.astimezone(UTC).isoformat(),
                }
                for s, at in runs
            ]
        )
