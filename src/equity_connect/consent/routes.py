"""The homeowner's consent page: the disclosure, one button, then the booking page."""

from __future__ import annotations

import html

import anyio.to_thread
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from equity_connect.consent import service
from equity_connect.consent.service import DISCLOSURE
from equity_connect.replies.schemas import ConsentMethod
from equity_connect.web.state import state_of

router = APIRouter(prefix="/v1/consent", tags=["consent"])


@router.get("/{nonce}", response_class=HTMLResponse)
async def consent_page(nonce: str, request: Request) -> HTMLResponse:
    """Show the disclosure (the token is not used by viewing it)."""
    version = state_of(request).settings.disclosure_version
    text = html.escape(DISCLOSURE.format(broker="Equity Connect"))
    safe = html.escape(nonce, quote=True)
    return HTMLResponse(
        "<!doctype html><meta charset=utf-8><title>Consent</title>"
        f"<main style='max-width:40em;margin:3em auto;font:16px system-ui'><p>{text}</p>"
        f"<form method=post action='/v1/consent/{safe}'>"
        "<button type=submit>I agree</button></form>"
        f"<p style='color:#666;font-size:12px'>Disclosure {html.escape(version)}</p></main>"
    )


@router.post(
    "/{nonce}",
    responses={
        303: {"description": "Consent recorded: on to the broker's booking page"},
        200: {"description": "Consent recorded (the broker has no booking page)"},
        403: {"description": "The token belongs to another lead"},
        404: {"description": "Unknown (forged) token"},
        409: {"description": "Already used"},
        410: {"description": "Expired"},
    },
)
async def give_consent(nonce: str, request: Request) -> Response:
    """Redeem the token once: record consent (IP, user agent, disclosure version)."""
    state = state_of(request)

    def redeem() -> tuple[service.Redeemed, str | None]:
        with state.pool.connection() as conn:
            done = service.redeem(
                conn,
                nonce,
                method=ConsentMethod.WEB_CLICK,
                disclosure_version=state.settings.disclosure_version,
                source_ip=request.client.host if request.client else None,
                user_agent=request.headers.get("user-agent"),
            )
            token = conn.execute(service.Q["token_by_id"], {"id": done.token_id}).fetchone()
            url = token["calcom_event_url"] if token else None
            return done, url

    done, url = await anyio.to_thread.run_sync(redeem)  # DomainError → its status
    if url:
        return RedirectResponse(service.booking_link(url, done.token_id), status_code=303)
    return HTMLResponse("<p>Thank you. A loan officer will contact you.</p>")
