"""Server-rendered pages: one Jinja2 environment, one ``render`` every page calls.

Autoescaping is on for every template and undefined names raise
(``StrictUndefined``), so a typo in a template fails its test instead of
rendering an empty cell. ``render`` supplies what the layout needs: who is
logged in, the CSRF token for forms, the "as of" time and the navigation.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from equity_connect.auth.principal import Principal
from equity_connect.campaign.schedule import BUSINESS_TZ
from equity_connect.db.pool import act_as_broker
from equity_connect.web.auth import Q, session_principal
from equity_connect.web.csrf import CSRF_FIELD, csrf_token
from equity_connect.web.state import state_of


@dataclass(frozen=True)
class NavLink:
    """One link of the header's navigation."""

    label: str
    href: str


BROKER_NAV = (NavLink("Home", "/dashboard"), NavLink("Leads", "/dashboard/leads"))
OPS_NAV = (
    *BROKER_NAV,
    NavLink("Uploads", "/dashboard/ops/uploads"),
    NavLink("Jobs", "/dashboard/ops/jobs"),
    NavLink("Dead letters", "/dashboard/ops/dlq"),
    NavLink("Providers", "/dashboard/ops/providers"),
    NavLink("Campaign", "/dashboard/ops/campaign"),
)


def nav_for(principal: Principal | None) -> tuple[NavLink, ...]:
    """The header links this principal may follow."""
    if principal is None:
        return ()
    return OPS_NAV if principal.kind == "ops" else BROKER_NAV


def pt(value: datetime | None, fmt: str = "%b %d %H:%M") -> str:
    """A timestamp in Pacific time (the brokerage's business time), '' for none."""
    if value is None:
        return ""
    return value.astimezone(BUSINESS_TZ).strftime(fmt) + " PT"


def num(value: int | float | None) -> str:
    """A count with thousands separators, '' for none."""
    if value is None:
        return ""
    return f"{value:,}"


def day(value: date | datetime | None) -> str:
    """A date as 'Mon Dec 01'."""
    return "" if value is None else value.strftime("%a %b %d")


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("equity_connect.web", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(pt=pt, num=num, day=day)
    env.globals["csrf_field"] = CSRF_FIELD
    return env


templates = _environment()


def is_active(link: NavLink, path: str) -> bool:
    """The link of the section this path is in (Home only on the home page itself)."""
    if link.href == "/dashboard":
        return path.rstrip("/") == "/dashboard"
    return path == link.href or path.startswith(link.href + "/")


def _broker_name(request: Request, principal: Principal) -> str:
    with state_of(request).pool.connection() as conn:
        act_as_broker(conn, principal.broker_id)
        row = conn.execute(Q["broker_name"], {"id": principal.broker_id}).fetchone()
    return str(row["name"]) if row else "broker"


def page_context(request: Request, principal: Principal | None) -> dict[str, Any]:
    """What base.html needs, for any page."""
    refresh = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    path = request.url.path
    return {
        "request": request,
        "principal": principal,
        "csrf": csrf_token(request) if principal is not None else "",
        "as_of": pt(datetime.now(UTC), "%a %b %d %H:%M:%S"),
        "nav": [(link, is_active(link, path)) for link in nav_for(principal)],
        "refresh_url": refresh,
        "broker_name": (
            _broker_name(request, principal)
            if principal is not None and principal.kind == "broker"
            else ""
        ),
    }


def render(
    request: Request,
    template: str,
    *,
    status_code: int = 200,
    principal: Principal | None = None,
    **context: Any,
) -> HTMLResponse:
    """Render ``template`` as a full page. The principal defaults to the session's."""
    if principal is None:
        principal = session_principal(request)
    html = templates.get_template(template).render(**page_context(request, principal), **context)
    return HTMLResponse(html, status_code=status_code)
