"""The homeowner's pages: the consent page, its thank-you and every error it can show.

Branded from settings (never from the link): the brokerage's name and NMLS
ID (``EC_BRAND_NAME``, ``EC_BRAND_NMLS_ID``), its privacy policy
(``EC_PRIVACY_POLICY_URL``) and how to reach it (``EC_BRAND_SUPPORT_PHONE``,
``EC_BRAND_SUPPORT_EMAIL``); the loan officer's name is the lead's broker's.
Rendered from ``web/templates/homeowner/`` with autoescaping.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from equity_connect.config import Settings
from equity_connect.web.render import templates


@dataclass(frozen=True)
class Brand:
    """Who the homeowner is dealing with, as every homeowner page shows it."""

    name: str
    nmls_id: str | None
    privacy_policy_url: str | None
    support_phone: str | None
    support_email: str | None

    @classmethod
    def from_settings(cls, settings: Settings) -> Brand:
        """The brand the settings describe."""
        return cls(
            settings.brand_name,
            settings.brand_nmls_id,
            settings.privacy_policy_url,
            settings.brand_support_phone,
            settings.brand_support_email,
        )


@dataclass(frozen=True)
class Problem:
    """A homeowner-facing error: its status, heading and what to do."""

    status: int
    heading: str
    message: str


def problem_for(code: str, ttl_hours: int) -> Problem:
    """What to tell the homeowner for a refused link (codes of ``consent.service.redeem``)."""
    days = max(1, ttl_hours // 24)
    problems = {
        "unknown_token": Problem(
            404,
            "This link is not valid",
            "The link may have been cut off when it was copied. Open it again from the most "
            "recent message we sent you, or contact us and we will send a new one.",
        ),
        "token_used": Problem(
            409,
            "This link was already used",
            "Your answer is already recorded, so there is nothing more to do here. To talk "
            "to your loan officer, contact us.",
        ),
        "token_expired": Problem(
            410,
            "This link has expired",
            f"For your security, links work for {days} days. Reply to our message or "
            "contact us and we will send a new one.",
        ),
        "token_other_lead": Problem(
            403,
            "This link is for someone else",
            "This link was sent to another person. Please use the link in your own message.",
        ),
    }
    return problems.get(
        code,
        Problem(
            503,
            "We could not record your answer",
            "Something on our side is not working right now. Nothing was recorded; please "
            "try the same link again in a few minutes.",
        ),
    )


def wants_json(request: Request) -> bool:
    """An API client that asked for JSON (and not HTML) gets the JSON error body."""
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def render_page(
    request: Request, settings: Settings, template: str, *, status_code: int = 200, **ctx: Any
) -> HTMLResponse:
    """A homeowner page with the brand; no session, no dashboard navigation."""
    html = templates.get_template(template).render(
        request=request,
        brand=Brand.from_settings(settings),
        disclosure_version=settings.disclosure_version,
        **ctx,
    )
    return HTMLResponse(html, status_code=status_code, headers={"Cache-Control": "no-store"})


def render_problem(
    request: Request,
    settings: Settings,
    problem: Problem,
    *,
    broker_name: str | None = None,
    retry_after: int | None = None,
) -> HTMLResponse:
    """The error page for ``problem``, with its status."""
    response = render_page(
        request,
        settings,
        "homeowner/problem.html",
        status_code=problem.status,
        problem=problem,
        broker_name=broker_name,
    )
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response
