"""The operator dashboard (and a broker's view of their own leads), rendered on the server.

Login takes an ops API key or a broker's JWT and sets a signed, HttpOnly
session cookie. Forms carry a CSRF token tied to the session.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from datetime import UTC, datetime
from html import escape
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

from equity_connect.audit.service import audit
from equity_connect.auth.principal import Principal
from equity_connect.campaign.schedule import BUSINESS_TZ, next_runs
from equity_connect.campaign.scheduler import calendar_from
from equity_connect.campaign.service import Q as CAMPAIGN_Q
from equity_connect.db import queries
from equity_connect.db.pool import Conn, act_as_broker
from equity_connect.errors import DomainError
from equity_connect.exports.csv_safe import stream_csv
from equity_connect.ingest.rejects import rejected_rows
from equity_connect.jobs import service as jobs
from equity_connect.security.apikeys import Scope, has_scope
from equity_connect.security.crypto import PiiCipher
from equity_connect.security.pii import lead_contact
from equity_connect.web.auth import (
    SESSION_COOKIE,
    broker_session,
    key_still_valid,
    principal_from_api_key,
    read_session,
    session_key,
    sign_session,
)
from equity_connect.web.charts import feed_svg, funnel_svg
from equity_connect.web.state import AppState, state_of

router = APIRouter(prefix="/dashboard", include_in_schema=False)
Q = queries.load("equity_connect.observability")

_STYLE = """
body{font:15px/1.45 system-ui,sans-serif;margin:0;color:#0f172a;background:#f8fafc}
header{background:#0f172a;color:#fff;padding:.8em 1.5em;display:flex;justify-content:space-between}
header a{color:#cbd5e1}main{max-width:1180px;margin:0 auto;padding:1em 1.5em}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(520px,1fr));gap:1.2em}
section{background:#fff;border:1px solid #e2e8f0;border-radius:8px;padding:1em 1.2em}
h2{font-size:1.05em;margin:.2em 0 .8em}table{border-collapse:collapse;width:100%;font-size:.92em}
td,th{text-align:left;padding:.3em .5em;border-bottom:1px solid #f1f5f9}th{color:#475569}
.muted{color:#64748b}.num{text-align:right;font-variant-numeric:tabular-nums}
button{background:#2563eb;color:#fff;border:0;border-radius:5px;padding:.3em .8em;cursor:pointer}
input{padding:.5em;width:28em;max-width:100%}.err{color:#b91c1c}
"""


def _page(title: str, body: str, who: str | None = None) -> HTMLResponse:
    nav = f'<span>{escape(who)} · <a href="/dashboard/logout">log out</a></span>' if who else ""
    return HTMLResponse(
        f"<!doctype html><html lang=en><meta charset=utf-8>"
        f"<meta name=viewport content='width=device-width,initial-scale=1'>"
        f"<title>{escape(title)}</title><style>{_STYLE}</style>"
        f"<header><strong>Equity Connect</strong>{nav}</header><main>{body}</main></html>"
    )


def _principal(request: Request) -> Principal | None:
    cookie = request.cookies.get(SESSION_COOKIE)
    state = state_of(request)
    found = read_session(session_key(state), cookie) if cookie else None
    if found is not None and found.kind == "ops" and not key_still_valid(state, found.id):
        return None  # the key was revoked since the login
    return found


def _csrf(state: AppState, request: Request) -> str:
    cookie = request.cookies.get(SESSION_COOKIE, "")
    return hmac.new(session_key(state), b"csrf|" + cookie.encode(), hashlib.sha256).hexdigest()


@router.get("/login")
def login_form(request: Request, error: str | None = None) -> HTMLResponse:
    """The login page."""
    msg = f"<p class=err>{escape(error)}</p>" if error else ""
    return _page(
        "Log in",
        f"<section><h2>Log in</h2>{msg}<form method=post action=/dashboard/login>"
        "<p><label>Ops API key or broker token<br><input name=credential autocomplete=off "
        "required></label></p><button type=submit>Log in</button></form></section>",
    )


@router.post("/login")
def login(request: Request, credential: Annotated[str, Form()]) -> Response:
    """Check the credential; on success set the session cookie."""
    state = state_of(request)
    credential = credential.strip()
    principal: Principal | None
    expires: float | None = None
    if credential.count(".") == 2:
        try:
            principal, expires = broker_session(state, credential)
        except DomainError as exc:
            return login_form(request, f"token refused: {exc.code}")
    else:
        with state.pool.connection() as conn:
            principal = principal_from_api_key(conn, credential)
        if principal is None:
            return login_form(request, "unknown or revoked API key")
    response = RedirectResponse("/dashboard", status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        sign_session(session_key(state), principal, expires=expires),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        max_age=8 * 3600,
    )
    return response


@router.get("/logout")
def logout() -> Response:
    """Forget the session."""
    response = RedirectResponse("/dashboard/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


def _table(head: list[str], rows: list[list[str]], *, numeric: set[int] | None = None) -> str:
    numeric = numeric or set()
    th = "".join(
        f"<th{' class=num' if i in numeric else ''}>{escape(h)}</th>" for i, h in enumerate(head)
    )
    body = "".join(
        "<tr>"
        + "".join(f"<td{' class=num' if i in numeric else ''}>{c}</td>" for i, c in enumerate(r))
        + "</tr>"
        for r in rows
    )
    return f"<table><tr>{th}</tr>{body or f'<tr><td colspan={len(head)} class=muted>none</td></tr>'}</table>"


def _funnel(conn: Conn, broker: uuid.UUID | None = None) -> list[tuple[str, int]]:
    rows = conn.execute(
        Q["funnel"], {"from": None, "to": None, "upload": None, "source": None, "broker": broker}
    ).fetchall()
    return [(r["stage"], int(r["leads"])) for r in rows]


def _ops_body(state: AppState, conn: Conn, csrf: str) -> str:
    funnel = _funnel(conn)
    days = list(reversed(conn.execute(Q["feed_days"], {"limit": 14}).fetchall()))
    uploads = conn.execute(Q["uploads"], {"limit": 10}).fetchall()
    dlq = conn.execute(Q["dlq_pending"], {"limit": 20}).fetchall()
    runs = {r["job_name"]: r for r in conn.execute(Q["last_runs"])}
    errors = conn.execute(Q["provider_errors"]).fetchall()
    board = conn.execute(Q["leaderboard"]).fetchall()
    skips = conn.execute(CAMPAIGN_Q["skipped_leads"], {"since": None, "limit": 20}).fetchall()
    upcoming = next_runs(datetime.now(UTC), calendar_from(state.settings), count=2)
    schedule_rows = []
    for schedule, at in upcoming:
        last = runs.get(schedule.name)
        last_text = (
            f"{last['started_at'].astimezone(BUSINESS_TZ):%a %b %d %H:%M %Z} — {escape(last['outcome'] or 'running')}"
            if last
            else "never"
        )
        schedule_rows.append(
            [escape(schedule.name), last_text, f"{at.astimezone(BUSINESS_TZ):%a %b %d %H:%M %Z}"]
        )
    upload_rows = [
        [
            f"{u['received_at'].astimezone(BUSINESS_TZ):%b %d %H:%M}",
            escape(u["source"] or ""),
            escape(u["status"]),
            f"{u['row_count']:,}",
            f"{u['inserted_count']:,}",
            f"{u['merged_count']:,}",
            (
                f"<a href='/dashboard/uploads/{u['id']}/rejects.csv'>{u['rejected_count']:,}</a>"
                if u["rejected_count"]
                else "0"
            ),
        ]
        for u in uploads
    ]
    dlq_rows = [
        [
            str(d["id"]),
            escape(d["source"]),
            escape((d["reason"] or "")[:90]),
            str(d["attempts"]),
            f"<form method=post action='/dashboard/dlq/{d['id']}/replay'>"
            f"<input type=hidden name=csrf value='{csrf}'><button type=submit>Replay</button></form>",
        ]
        for d in dlq
    ]
    error_rows = [
        [escape(e["provider"]), str(e["status_code"]), f"{e['n']:,}"]
        for e in errors
        if e["status_code"] == 429 or e["status_code"] >= 500
    ]
    board_rows = [
        [escape(b["name"]), f"{b['fed']:,}", f"{b['replied']:,}", f"{b['booked']:,}"] for b in board
    ]
    # Leads the campaign provider did not create (not active), with the reason it gave.
    skip_rows = [
        [
            f"{k['occurred_at'].astimezone(BUSINESS_TZ):%b %d %H:%M}",
            escape(str(k["lead_id"])),
            escape(k["broker_name"] or ""),
            escape(f"{k['reason']}: {k['reason_text']}"),
        ]
        for k in skips
    ]
    fed_days = [(str(d["business_date"]), d["fed_count"], d["cap"]) for d in days]
    return (
        "<div class=grid>"
        f"<section id=funnel><h2>Funnel: upload → booked</h2>{funnel_svg(funnel)}</section>"
        f"<section id=feed><h2>Daily feed against the cap</h2>{feed_svg(fed_days)}</section>"
        f"<section id=uploads><h2>Uploads</h2>"
        f"{_table(['received (PT)', 'source', 'status', 'rows', 'new', 'merged', 'rejected'], upload_rows, numeric={3, 4, 5, 6})}</section>"
        f"<section id=dlq><h2>Dead-letter queue ({len(dlq)})</h2>"
        f"{_table(['id', 'job', 'reason', 'tries', ''], dlq_rows)}</section>"
        f"<section id=schedule><h2>Scheduled jobs</h2>{_table(['job', 'last run', 'next run'], schedule_rows)}</section>"
        f"<section id=providers><h2>Provider health (24 h)</h2>"
        f"{_table(['provider', 'status', 'responses'], error_rows, numeric={2})}</section>"
        f"<section id=skipped><h2>Skipped by the campaign provider ({len(skips)})</h2>"
        f"{_table(['when (PT)', 'lead', 'broker', 'reason'], skip_rows)}</section>"
        f"<section id=brokers><h2>Broker leaderboard</h2>"
        f"{_table(['broker', 'fed', 'replied', 'booked'], board_rows, numeric={1, 2, 3})}</section>"
        "</div>"
    )


def _broker_body(state: AppState, conn: Conn, broker: uuid.UUID) -> str:
    act_as_broker(conn, broker)
    funnel = _funnel(conn, broker)
    cipher = PiiCipher(state.keyring)
    leads = conn.execute(
        "select id, owner_first_name, owner_last_name, property_city, property_state, lead_score, "
        "campaign_status::text as status, email_ciphertext from leads "
        "order by lead_score desc, id limit 100"
    ).fetchall()
    rows = [
        [
            escape(f"{r['owner_first_name'] or ''} {r['owner_last_name'] or ''}"),
            escape(f"{r['property_city'] or ''}, {r['property_state'] or ''}"),
            str(r["lead_score"]),
            escape(r["status"]),
            escape(lead_contact(cipher, r, "email") or "") if r["email_ciphertext"] else "",
        ]
        for r in leads
    ]
    return (
        "<div class=grid>"
        f"<section id=funnel><h2>Your funnel</h2>{funnel_svg(funnel)}</section>"
        f"<section id=leads><h2>Your leads ({len(leads)})</h2>"
        f"{_table(['owner', 'property', 'score', 'status', 'email'], rows, numeric={2})}</section></div>"
    )


@router.get("")
def dashboard(request: Request) -> Response:
    """Ops: the whole pipeline. Broker: their own leads (RLS)."""
    principal = _principal(request)
    if principal is None:
        return RedirectResponse("/dashboard/login", status_code=303)
    state = state_of(request)
    with state.pool.connection() as conn:
        if principal.kind == "broker":
            body = _broker_body(state, conn, principal.broker_id)
            return _page("Your leads", body, who="broker")
        body = _ops_body(state, conn, _csrf(state, request))
    return _page("Pipeline", body, who=f"ops key {principal.id}")


@router.post("/dlq/{dlq_id}/replay")
def replay(dlq_id: int, request: Request, csrf: Annotated[str, Form()]) -> Response:
    """Replay one dead letter (ops with ``dlq:replay``), then back to the dashboard."""
    principal = _principal(request)
    state = state_of(request)
    if (
        principal is None
        or principal.kind != "ops"
        or not has_scope(principal.scopes, Scope.DLQ_REPLAY)
    ):
        raise DomainError(403, "forbidden", "replaying needs an ops key with dlq:replay")
    if not hmac.compare_digest(csrf, _csrf(state, request)):
        raise DomainError(403, "bad_csrf", "the form is stale; reload the dashboard")
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
    return RedirectResponse("/dashboard#dlq", status_code=303)


@router.get("/uploads/{upload_id}/rejects.csv")
def rejects_csv(upload_id: uuid.UUID, request: Request) -> Response:
    """An upload's rejected rows as CSV (row, reason and the original cells), for fixing
    and re-uploading. Ops only: the cells may hold PII."""
    principal = _principal(request)
    if (
        principal is None
        or principal.kind != "ops"
        or not has_scope(principal.scopes, Scope.EXPORTS_READ)
    ):
        raise DomainError(403, "forbidden", "rejected rows need an ops key with exports:read")
    state = state_of(request)
    with state.pool.connection() as conn:
        rows = rejected_rows(conn, upload_id, PiiCipher(state.keyring))
    decoded = [
        {
            "row": r.row_number,
            "line": r.line_number,
            "field": r.field or "",
            "reason": r.reason,
            **r.cells,
        }
        for r in rows
    ]
    header: list[str] = ["row", "line", "field", "reason"]
    for d in decoded:
        header.extend(k for k in d if k not in header)
    return StreamingResponse(
        stream_csv(header, ([d.get(h) for h in header] for d in decoded)),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="rejects-{upload_id}.csv"'},
    )
