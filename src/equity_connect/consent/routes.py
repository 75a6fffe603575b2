"""The homeowner's consent page: the disclosure, one button, then the booking page.

The form carries no CSRF token: the link's nonce is the secret. It is in
the form's own URL, 256 random bits a page on another site cannot know,
and it works once; a cross-site POST without it redeems nothing.
"""

from __future__ import annotations

import anyio.to_thread
import psycopg
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from equity_connect.consent import service
from equity_connect.consent.pages import (
    problem_for,
    render_page,
    render_problem,
    wants_json,
)
from equity_connect.consent.service import DISCLOSURE
from equity_connect.errors import DomainError
from equity_connect.replies.schemas import ConsentMethod
from equity_connect.web.state import state_of

router = APIRouter(prefix="/v1/consent", tags=["consent"])

# Statuses a page can answer with, for OpenAPI.
_PAGE_ERRORS: dict[int | str, dict[str, str]] = {
    404: {"description": "Unknown (forged) link: an HTML page saying so"},
    409: {"description": "The link was already used: an HTML page saying so"},
    410: {"description": "The link expired: an HTML page saying so"},
    503: {"description": "The database is away: an HTML page asking to retry"},
}
_LINK_PROBLEM = {"unknown": "unknown_token", "used": "token_used", "expired": "token_expired"}


@router.get("/{nonce}", response_class=HTMLResponse, responses=_PAGE_ERRORS)
async def consent_page(nonce: str, request: Request) -> HTMLResponse:
    """Show the disclosure with the brand and loan officer (viewing does not use the link);
    a used, expired or forged link gets a page saying so."""
    state = state_of(request)
    settings = state.settings

    def look() -> service.LinkState:
        with state.pool.connection() as conn:
            return service.link_state(conn, nonce)

    try:
        link = await anyio.to_thread.run_sync(look)
    except (psycopg.OperationalError, psycopg.InterfaceError):
        return render_problem(request, settings, problem_for("unavailable", 0), retry_after=5)
    if link.status != "open":
        problem = problem_for(_LINK_PROBLEM[link.status], settings.consent_ttl_hours)
        return render_problem(request, settings, problem, broker_name=link.broker_name)
    return render_page(
        request,
        settings,
        "homeowner/consent.html",
        nonce=nonce,
        broker_name=link.broker_name,
        disclosure=DISCLOSURE.format(brokerage=settings.brand_name),
    )


@router.post(
    "/{nonce}",
    responses={
        303: {"description": "Consent recorded: on to the broker's booking page"},
        200: {"description": "Consent recorded (the broker has no booking page)"},
        403: {"description": "The token belongs to another lead"},
        **_PAGE_ERRORS,
    },
)
async def give_consent(nonce: str, request: Request) -> Response:
    """Redeem the token once: record consent (IP, user agent, disclosure version).

    Refusals are HTML pages for a browser; a client that sends
    ``Accept: application/json`` gets the JSON error body instead.
    """
    state = state_of(request)
    settings = state.settings

    def redeem() -> tuple[service.Redeemed, str | None, str | None]:
        with state.pool.connection() as conn:
            done = service.redeem(
                conn,
                nonce,
                method=ConsentMethod.WEB_CLICK,
                disclosure_version=settings.disclosure_version,
                source_ip=request.client.host if request.client else None,
                user_agent=request.headers.get("user-agent"),
            )
            token = conn.execute(service.Q["token_by_id"], {"id": done.token_id}).fetchone()
            link = service.link_state(conn, nonce)
            url = token["calcom_event_url"] if token else None
            return done, url, link.broker_name

    try:
        done, url, broker_name = await anyio.to_thread.run_sync(redeem)
    except DomainError as exc:
        if wants_json(request):
            raise
        problem = problem_for(exc.code, settings.consent_ttl_hours)
        return render_problem(request, settings, problem)
    except (psycopg.OperationalError, psycopg.InterfaceError):
        if wants_json(request):
            raise  # the API's 503 with Retry-After
        return render_problem(request, settings, problem_for("unavailable", 0), retry_after=5)
    if url:
        return RedirectResponse(service.booking_link(url, done.token_id), status_code=303)
    return render_page(request, settings, "homeowner/thanks.html", broker_name=broker_name)
