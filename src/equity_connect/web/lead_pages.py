"""The broker workspace's pages: the lead list and the lead page, with their actions.

A broker's requests run as that broker (``act_as_broker``), so RLS decides
which leads exist: another broker's lead id is a 404 page. An ops session
sees the same pages for any lead (``leads:read``; actions need
``leads:write``). Actions are plain POST forms with the session's CSRF token,
answered with a redirect back to the page (POST/redirect/GET), so they work
without JavaScript.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from equity_connect.auth.principal import Principal
from equity_connect.campaign.schemas import CampaignStatus
from equity_connect.db.pool import Conn, act_as_broker
from equity_connect.errors import DomainError
from equity_connect.leads import service as leads
from equity_connect.leads.schemas import LeadFilters, LeadSort
from equity_connect.security.apikeys import Scope, has_scope
from equity_connect.security.crypto import PiiCipher
from equity_connect.web.auth import session_principal
from equity_connect.web.csrf import check_csrf
from equity_connect.web.render import render
from equity_connect.web.state import state_of

router = APIRouter(prefix="/dashboard/leads", include_in_schema=False)

# Messages shown after an action (by code, so a crafted link cannot put words on the page).
FLASH = {
    "note_added": "Note added.",
    "status_changed": "Status changed.",
    "do_not_contact": "Marked do-not-contact: its phone and email are suppressed on every channel.",
    "link_created": "Booking link created.",
}
ERRORS = {
    "empty_note": "The note is empty; write something first.",
    "note_too_long": "A note holds at most 10,000 characters.",
    "note_nul": "A note cannot contain a NUL character; remove it and add the note again.",
    "opted_out": "This lead opted out; its status cannot change.",
    "bad_status": "That status is not one a broker may set.",
    "no_booking_page": "No Cal.com event URL is set for the broker; set one first.",
    "forbidden": "Your key may not change leads (it needs leads:write).",
}


class _LoginNeeded(Exception):
    """No session: the page sends the visitor to log in and come back."""


def _login_redirect(request: Request) -> RedirectResponse:
    back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/dashboard/login?next={quote(back)}", status_code=303)


def _viewer(request: Request, *, write: bool = False) -> Principal:
    principal = session_principal(request)
    if principal is None:
        raise _LoginNeeded
    if principal.kind == "ops":
        scope = Scope.LEADS_WRITE if write else Scope.LEADS_READ
        if not has_scope(principal.scopes, scope):
            raise DomainError(403, "forbidden", f"this needs an ops key with {scope}")
    return principal


@contextmanager
def _tx(request: Request, principal: Principal) -> Iterator[Conn]:
    """One transaction: as the broker (RLS), or as the pipeline for ops."""
    with state_of(request).pool.connection() as conn:
        if principal.kind == "broker":
            act_as_broker(conn, principal.broker_id)
        yield conn


def _broker_of(principal: Principal) -> uuid.UUID | None:
    return principal.broker_id if principal.kind == "broker" else None


def _int(value: str | None) -> int | None:
    value = (value or "").strip()
    return int(value) if value.lstrip("-").isdigit() else None


def filters_from(params: dict[str, str]) -> tuple[LeadFilters, str | None]:
    """The list's filters from the query string; a bad value is dropped with a message
    (the page still shows, never a 422)."""
    raw: dict[str, Any] = {
        "q": params.get("q") or None,
        "status": params.get("status") or None,
        "min_score": _int(params.get("min_score")),
        "max_score": _int(params.get("max_score")),
        "has_consent": {"yes": True, "no": False}.get(params.get("consent", "")),
        "callable_now": params.get("callable") == "1",
        "upload": params.get("upload") or None,
        "sort": params.get("sort") or "score",
        "page": _int(params.get("page")) or 1,
        "size": _int(params.get("size")) or 50,
    }
    problems: list[str] = []
    # No stored text holds a NUL character (PostgreSQL refuses one), so a value with
    # one could match nothing: it is dropped with a message like any other bad value.
    for name in [k for k, v in params.items() if "\x00" in v]:
        problems.append(f"{name} ignored: it contains a NUL character")
        raw.pop(name, None)
    while True:
        try:
            return LeadFilters(**raw), ("; ".join(problems) or None)
        except ValidationError as exc:
            for err in exc.errors():
                name = str(err["loc"][0])
                problems.append(f"{name.replace('_', ' ')} ignored: {err['msg'].lower()}")
                raw.pop(name, None)


@router.get("")
def lead_list(request: Request) -> Response:
    """The lead list: search, filters, sort, pages with the total."""
    try:
        principal = _viewer(request)
    except _LoginNeeded:
        return _login_redirect(request)
    filters, problem = filters_from(dict(request.query_params))
    state = state_of(request)
    with _tx(request, principal) as conn:
        page = leads.search_leads(
            conn, PiiCipher(state.keyring), filters, broker=_broker_of(principal)
        )
        uploads = leads.visible_uploads(conn)
    return render(
        request,
        "leads.html",
        principal=principal,
        page=page,
        filters=filters,
        problem=problem or page.terms.problem,
        statuses=[s.value for s in CampaignStatus],
        sorts=[s.value for s in LeadSort],
        uploads=uploads,
    )


def _lead_id(raw: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(raw)
    except ValueError:
        return None


def _not_found(request: Request, principal: Principal) -> Response:
    return render(
        request,
        "error.html",
        status_code=404,
        principal=principal,
        heading="Lead not found",
        message=(
            "There is no such lead among yours. "
            "It may belong to another broker, or the link is mistyped."
        ),
        back_href="/dashboard/leads",
        back_label="Back to your leads",
    )


@router.get("/{lead_id}")
def lead_page(lead_id: str, request: Request) -> Response:
    """One lead: facts, contacts, score and why, the timeline, and the actions."""
    try:
        principal = _viewer(request)
    except _LoginNeeded:
        return _login_redirect(request)
    found = _lead_id(lead_id)
    if found is None:
        return _not_found(request, principal)
    state = state_of(request)
    cipher = PiiCipher(state.keyring)
    with _tx(request, principal) as conn:
        try:
            lead = leads.find_lead(conn, found)
        except DomainError:
            return _not_found(request, principal)
        contacts = leads.contacts(conn, cipher, lead)
        events = leads.timeline(conn, cipher, lead)
        reasons = leads.match_reasons(conn, lead)
        link = leads.booking_link(conn, lead)
    now = datetime.now(UTC)
    phone = leads.readable_contact(cipher, lead, "phone")
    may_call, opens = leads.call_window(
        lead["property_state"],
        lead["property_zip"],
        None if phone == leads.UNREADABLE else phone,
        dnc=lead["phone_dnc"] or lead["phone_suppressed"],
        now=now,
    )
    if lead["campaign_status"] in leads.OPTED_OUT:
        may_call, opens = False, None
    params = request.query_params
    return render(
        request,
        "lead.html",
        principal=principal,
        lead=lead,
        owner=leads.owner_name(lead),
        property=leads.property_line(lead),
        email=leads.readable_contact(cipher, lead, "email"),
        phone=phone,
        may_call=may_call,
        next_window=opens,
        contacts=contacts,
        score=leads.score_explanation(lead),
        timeline=events,
        reasons=reasons,
        statuses=leads.status_choices(lead["campaign_status"]),
        booking_link=link,
        flash=FLASH.get(params.get("done", "")),
        error=ERRORS.get(params.get("error", "")),
        can_note=principal.kind == "broker" or has_scope(principal.scopes, Scope.LEADS_WRITE),
    )


def _back(lead_id: uuid.UUID, **query: str) -> RedirectResponse:
    suffix = f"?{urlencode(query)}" if query else ""
    return RedirectResponse(f"/dashboard/leads/{lead_id}{suffix}", status_code=303)


def _action(request: Request, lead_id: str, csrf: str) -> tuple[Principal, uuid.UUID] | Response:
    try:
        principal = _viewer(request, write=True)
    except _LoginNeeded:
        return _login_redirect(request)
    check_csrf(request, csrf)
    found = _lead_id(lead_id)
    if found is None:
        return _not_found(request, principal)
    return principal, found


@router.post("/{lead_id}/notes")
def add_note(
    lead_id: str,
    request: Request,
    csrf: Annotated[str, Form()] = "",
    body: Annotated[str, Form()] = "",
) -> Response:
    """Add a note: a broker's on their own lead, or an ops user's (signed with the ops
    key's name) on any lead."""
    checked = _action(request, lead_id, csrf)
    if isinstance(checked, Response):
        return checked
    principal, found = checked
    try:
        with _tx(request, principal) as conn:
            leads.find_lead(conn, found)
            leads.add_note(conn, principal, found, body)
    except DomainError as exc:
        if exc.status == 404:
            return _not_found(request, principal)
        return _back(found, error=exc.code)
    return _back(found, done="note_added")


def _change(request: Request, lead_id: str, csrf: str, status: str, done: str) -> Response:
    checked = _action(request, lead_id, csrf)
    if isinstance(checked, Response):
        return checked
    principal, found = checked
    try:
        with _tx(request, principal) as conn:
            lead = leads.find_lead(conn, found)
            leads.set_status(conn, PiiCipher(state_of(request).keyring), principal, lead, status)
    except DomainError as exc:
        if exc.status == 404:
            return _not_found(request, principal)
        return _back(found, error=exc.code)
    return _back(found, done=done)


@router.post("/{lead_id}/status")
def set_status(
    lead_id: str,
    request: Request,
    csrf: Annotated[str, Form()] = "",
    status: Annotated[str, Form()] = "",
) -> Response:
    """Move the lead to a status a broker may set."""
    return _change(request, lead_id, csrf, status, "status_changed")


@router.post("/{lead_id}/do-not-contact")
def do_not_contact(lead_id: str, request: Request, csrf: Annotated[str, Form()] = "") -> Response:
    """Mark the lead do-not-contact: its contacts are suppressed on every channel."""
    return _change(request, lead_id, csrf, "do_not_contact", "do_not_contact")


@router.post("/{lead_id}/booking-link")
def booking_link(lead_id: str, request: Request, csrf: Annotated[str, Form()] = "") -> Response:
    """Create a booking link for the lead (a consent token's public id on the broker's
    Cal.com page), to copy into a message to the homeowner."""
    checked = _action(request, lead_id, csrf)
    if isinstance(checked, Response):
        return checked
    principal, found = checked
    settings = state_of(request).settings
    try:
        with _tx(request, principal) as conn:
            lead = leads.find_lead(conn, found)
            leads.issue_booking_link(conn, lead, ttl_hours=settings.consent_ttl_hours)
    except DomainError as exc:
        if exc.status == 404:
            return _not_found(request, principal)
        return _back(found, error=exc.code)
    return _back(found, done="link_created")
