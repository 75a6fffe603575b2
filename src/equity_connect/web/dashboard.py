"""The dashboard's login and home pages, rendered on the server from templates.

Login takes an ops API key or a broker's JWT and sets a signed, HttpOnly
session cookie. Forms carry a CSRF token tied to the session.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from equity_connect.audit.service import audit
from equity_connect.auth.principal import Principal
from equity_connect.db import queries
from equity_connect.db.pool import Conn, act_as_broker
from equity_connect.errors import DomainError
from equity_connect.jobs import service as jobs
from equity_connect.leads import service as leads
from equity_connect.security.apikeys import Scope, has_scope
from equity_connect.web.auth import (
    SESSION_COOKIE,
    broker_session,
    principal_from_api_key,
    session_key,
    session_principal,
    sign_session,
)
from equity_connect.web.charts import feed_chart, funnel_chart
from equity_connect.web.csrf import check_csrf
from equity_connect.web.render import render
from equity_connect.web.state import state_of

router = APIRouter(prefix="/dashboard", include_in_schema=False)
Q = queries.load("equity_connect.observability")


def safe_next(target: str | None) -> str:
    """Where to go after logging in: a dashboard path only (never another site)."""
    if target and target.startswith("/dashboard") and "//" not in target and "\\" not in target:
        return target
    return "/dashboard"


@router.get("/login")
def login_form(
    request: Request,
    error: str | None = None,
    next: str | None = None,
    token: str | None = None,
) -> HTMLResponse:
    """The login page. ``token`` pre-fills the field (the demo's broker login link);
    logging in still takes a click, so a link alone never opens a session."""
    return render(
        request,
        "login.html",
        status_code=200 if error is None else 401,
        principal=None,
        error=error,
        next=safe_next(next) if next else None,
        token=token,
    )


def refuse_cross_site(request: Request) -> None:
    """Login CSRF: another site must not log a visitor in as someone else. The login form
    has no session to tie a token to yet, so the browser's own word on where the request
    came from decides (Sec-Fetch-Site, else Origin against our host)."""
    site = request.headers.get("sec-fetch-site")
    origin = request.headers.get("origin")
    cross = site is not None and site not in ("same-origin", "none")
    if site is None and origin is not None and origin != "null":
        cross = urlsplit(origin).netloc != request.url.netloc
    if cross:
        raise DomainError(403, "cross_site_login", "log in from this site's own login page")


@router.post("/login")
def login(
    request: Request,
    credential: Annotated[str, Form()],
    next: Annotated[str | None, Form()] = None,
) -> Response:
    """Check the credential; on success set the session cookie."""
    refuse_cross_site(request)
    state = state_of(request)
    credential = credential.strip()
    principal: Principal | None
    expires: float | None = None
    if credential.count(".") == 2:
        try:
            principal, expires = broker_session(state, credential)
        except DomainError as exc:
            return login_form(request, f"token refused: {exc.code}", next)
    else:
        with state.pool.connection() as conn:
            principal = principal_from_api_key(conn, credential)
        if principal is None:
            return login_form(request, "unknown or revoked API key", next)
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        sign_session(session_key(state), principal, expires=expires),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        max_age=8 * 3600,
    )
    return response


@router.post("/logout")
def logout_post(request: Request, csrf: Annotated[str, Form()] = "") -> Response:
    """Forget the session (the header's Log out button)."""
    check_csrf(request, csrf)
    response = RedirectResponse("/dashboard/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


def funnel_counts(conn: Conn, broker: uuid.UUID | None = None) -> list[tuple[str, int]]:
    """The funnel's stages in order with their lead counts (one broker's, or everyone's)."""
    rows = conn.execute(
        Q["funnel"], {"from": None, "to": None, "upload": None, "source": None, "broker": broker}
    ).fetchall()
    return [(r["stage"], int(r["leads"])) for r in rows]


# Stages a broker's own funnel leaves out: uploads and dedupe happen before a
# lead is anyone's, so for a broker they count nothing they can act on.
BROKER_HIDDEN_STAGES = frozenset({"upload", "dedupe"})


def _ops_home(request: Request, principal: Principal) -> Response:
    state = state_of(request)
    with state.pool.connection() as conn:
        funnel = funnel_counts(conn)
        days = list(reversed(conn.execute(Q["feed_days"], {"limit": 14}).fetchall()))
        dlq = conn.execute(Q["dlq_depth"]).fetchone()
    return render(
        request,
        "home_ops.html",
        principal=principal,
        funnel=funnel_chart(funnel),
        feed=feed_chart([(str(d["business_date"]), d["fed_count"], d["cap"]) for d in days]),
        dlq_pending=int(dlq["n"]) if dlq else 0,
    )


def broker_home(request: Request, principal: Principal) -> Response:
    """A broker's home: today's booked calls, replies waiting, interested leads without a
    booking, and their funnel, all through RLS."""
    state = state_of(request)
    with state.pool.connection() as conn:
        act_as_broker(conn, principal.broker_id)
        funnel = [
            (stage, n)
            for stage, n in funnel_counts(conn, principal.broker_id)
            if stage not in BROKER_HIDDEN_STAGES
        ]
        sections = leads.home(conn, broker=principal.broker_id, now=datetime.now(UTC))
    return render(
        request,
        "home_broker.html",
        principal=principal,
        funnel=funnel_chart(funnel),
        home=sections,
    )


@router.get("")
def dashboard(request: Request) -> Response:
    """Ops: the whole pipeline's funnel and the ops console. Broker: their day's work."""
    principal = session_principal(request)
    if principal is None:
        return RedirectResponse("/dashboard/login", status_code=303)
    if principal.kind == "broker":
        return broker_home(request, principal)
    return _ops_home(request, principal)


@router.post("/dlq/{dlq_id}/replay")
def replay(dlq_id: int, request: Request, csrf: Annotated[str, Form()] = "") -> Response:
    """Replay one dead letter (ops with ``dlq:replay``), then back to the dashboard."""
    principal = session_principal(request)
    state = state_of(request)
    if (
        principal is None
        or principal.kind != "ops"
        or not has_scope(principal.scopes, Scope.DLQ_REPLAY)
    ):
        raise DomainError(403, "forbidden", "replaying needs an ops key with dlq:replay")
    check_csrf(request, csrf)
    with state.pool.connection() as conn:
        replayed = jobs.replay_dlq(conn, dlq_id)
        audit(
            conn,
            principal,
            "dlq.replay",
            "pipeline_dlq",
            dlq_id,
            after={"replayed": bool(replayed)},
        )
    return RedirectResponse("/dashboard#console", status_code=303)


@router.get("/uploads/{upload_id}/rejects.csv")
def rejects_csv(upload_id: uuid.UUID) -> Response:
    """Moved to the ops console; old links keep working."""
    return RedirectResponse(f"/dashboard/ops/uploads/{upload_id}/rejects.csv", status_code=308)
