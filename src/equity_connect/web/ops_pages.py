"""The ops console: uploads, jobs, dead letters, providers and the campaign feed.

HTTP only: each route checks the ops session, parses its filters, calls
``observability.console`` (or the job queue's replay) and renders a
template. Every list's filters live in the query string, so the layout's
Refresh link and the pager keep them; every action is a POST form with the
session's CSRF token and lands back on the list it came from (POST,
redirect, GET) with what it did in a flash.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import urlencode

import psycopg
from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse

from equity_connect.audit.service import audit
from equity_connect.auth.principal import Principal
from equity_connect.campaign.schedule import BUSINESS_TZ
from equity_connect.campaign.scheduler import calendar_from
from equity_connect.errors import DomainError
from equity_connect.exports.csv_safe import stream_csv
from equity_connect.ingest.rejects import rejected_rows, rejects_table
from equity_connect.jobs import service as jobs
from equity_connect.observability import console
from equity_connect.security.apikeys import Scope, has_scope
from equity_connect.security.crypto import PiiCipher
from equity_connect.web.auth import session_principal
from equity_connect.web.charts import feed_chart
from equity_connect.web.csrf import check_csrf
from equity_connect.web.render import render
from equity_connect.web.state import state_of

router = APIRouter(prefix="/dashboard/ops", include_in_schema=False)

# The last page a list may ask for (past it, the offset alone would be the cost).
MAX_PAGE = 100_000
# The longest dead-letter text search (the replay form's limit too).
MAX_CONTAINS = 500
UPLOAD_STATUSES = ("received", "processing", "completed", "failed")
JOB_STATUSES = ("queued", "running", "succeeded", "failed", "dead")
_GROUP_KEY = re.compile(r"^[0-9a-f]{32}$")


class NotOps(Exception):
    """The session is missing (go log in) or is not an ops key (a 403 page)."""

    def __init__(self, response: Response) -> None:
        super().__init__("not an ops session")
        self.response = response


def _ops(request: Request, scope: Scope | None = None) -> Principal:
    """The ops principal of the session; raises NotOps with the page to show otherwise."""
    principal = session_principal(request)
    if principal is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        login = "/dashboard/login?" + urlencode({"next": target})
        raise NotOps(RedirectResponse(login, status_code=303))
    if principal.kind != "ops" or (scope is not None and not has_scope(principal.scopes, scope)):
        needed = f"an ops key with {scope}" if scope else "an ops key"
        raise NotOps(
            render(
                request,
                "error.html",
                status_code=403,
                principal=principal,
                heading="Not allowed",
                message=f"This page needs {needed}. Log in with one to see it.",
            )
        )
    return principal


def _blank(value: str | None) -> str | None:
    """A query-string filter: empty means no filter. One holding a NUL character is
    dropped too: no stored text can contain one (PostgreSQL refuses it), so it could
    match nothing, and the page still shows rather than an error."""
    value = (value or "").strip()
    if "\x00" in value:
        return None
    return value or None


def _choice(value: str | None, allowed: tuple[str, ...]) -> str | None:
    """A filter limited to known values; anything else is ignored rather than an error page."""
    value = _blank(value)
    return value if value in allowed else None


def _number(value: str | None) -> int | None:
    """A whole number from the query string, or None for anything else."""
    value = (value or "").strip()
    return int(value) if value.lstrip("-").isdigit() and len(value) <= 12 else None


def _paging(page: str | None, per_page: str | None) -> console.Paging:
    """The page asked for; a value that is not a usable number is dropped (the list
    still shows, as the lead list does) and one out of range is clamped."""
    return console.Paging.of(min(_number(page) or 1, MAX_PAGE), _number(per_page))


def _guarded(request: Request, scope: Scope | None = None) -> Principal | Response:
    try:
        return _ops(request, scope)
    except NotOps as refused:
        return refused.response


@router.get("/uploads")
def uploads_page(
    request: Request,
    *,
    status: str | None = None,
    source: str | None = None,
    page: str | None = None,
    per_page: str | None = None,
) -> Response:
    """Uploads newest first: file, source, sender, status and reason, counts, funnel."""
    principal = _guarded(request)
    if isinstance(principal, Response):
        return principal
    state = state_of(request)
    picked_status, picked_source = _choice(status, UPLOAD_STATUSES), _blank(source)
    with state.pool.connection() as conn:
        listed = console.uploads(
            conn, _paging(page, per_page), status=picked_status, source=picked_source
        )
    return render(
        request,
        "ops/uploads.html",
        principal=principal,
        listed=listed,
        status=picked_status or "",
        source=picked_source or "",
        statuses=UPLOAD_STATUSES,
        can_export=has_scope(principal.scopes, Scope.EXPORTS_READ),
    )


@router.get("/uploads/{upload_id}")
def upload_page(upload_id: uuid.UUID, request: Request) -> Response:
    """One upload: what the reader found, its counts, its funnel and its rejects."""
    principal = _guarded(request)
    if isinstance(principal, Response):
        return principal
    with state_of(request).pool.connection() as conn:
        found = console.upload(conn, upload_id)
    if found is None:
        return render(
            request,
            "error.html",
            status_code=404,
            principal=principal,
            heading="No such upload",
            message=f"There is no upload {upload_id}.",
            back_href="/dashboard/ops/uploads",
            back_label="All uploads",
        )
    return render(
        request,
        "ops/upload.html",
        principal=principal,
        upload=found,
        can_export=has_scope(principal.scopes, Scope.EXPORTS_READ),
    )


@router.get("/uploads/{upload_id}/rejects.csv")
def rejects_csv(upload_id: uuid.UUID, request: Request) -> Response:
    """An upload's rejected rows as CSV, the same columns as ``uploads rejects --csv``
    (``_row``, ``_reason``, then the original cells), to fix and re-upload.
    Needs ``exports:read``: the cells may hold PII."""
    principal = session_principal(request)
    if (
        principal is None
        or principal.kind != "ops"
        or not has_scope(principal.scopes, Scope.EXPORTS_READ)
    ):
        raise DomainError(403, "forbidden", "rejected rows need an ops key with exports:read")
    state = state_of(request)
    with state.pool.connection() as conn:
        columns, records = rejects_table(rejected_rows(conn, upload_id, PiiCipher(state.keyring)))
        audit(conn, principal, "uploads.rejects_csv", "uploads", upload_id, after=None)
    return StreamingResponse(
        stream_csv(columns, ([r.get(c) for c in columns] for r in records)),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="rejects-{upload_id}.csv"'},
    )


@router.get("/jobs")
def jobs_page(
    request: Request,
    *,
    task: str | None = None,
    status: str | None = None,
    page: str | None = None,
    per_page: str | None = None,
) -> Response:
    """Queue depth by task and status, worker heartbeats, and the jobs themselves."""
    principal = _guarded(request)
    if isinstance(principal, Response):
        return principal
    picked_task, picked_status = _blank(task), _choice(status, JOB_STATUSES)
    with state_of(request).pool.connection() as conn:
        depth = console.queue_depth(conn)
        beats = console.workers(conn)
        listed = console.jobs(conn, _paging(page, per_page), task=picked_task, status=picked_status)
    return render(
        request,
        "ops/jobs.html",
        principal=principal,
        depth=depth,
        statuses=JOB_STATUSES,
        workers=beats,
        listed=listed,
        task=picked_task or "",
        status=picked_status or "",
    )


@router.get("/jobs/{job_id}")
def job_page(job_id: int, request: Request) -> Response:
    """One job: its attempts, lease and last error, whole."""
    principal = _guarded(request)
    if isinstance(principal, Response):
        return principal
    with state_of(request).pool.connection() as conn:
        found = console.job(conn, job_id)
    if found is None:
        return render(
            request,
            "error.html",
            status_code=404,
            principal=principal,
            heading="No such job",
            message=f"There is no job {job_id}.",
            back_href="/dashboard/ops/jobs",
            back_label="All jobs",
        )
    return render(request, "ops/job.html", principal=principal, job=found)


def _dlq_filter(source: str | None, group: str | None, q: str | None) -> console.DlqFilter:
    key, contains = _blank(group), _blank(q)
    return console.DlqFilter(
        source=_blank(source),
        group_key=key if key and _GROUP_KEY.match(key) else None,
        # Longer than any reason the page could have linked: dropped, like a bad filter.
        contains=contains if contains is None or len(contains) <= MAX_CONTAINS else None,
    )


@router.get("/dlq")
def dlq_page(
    request: Request,
    *,
    source: str | None = None,
    group: str | None = None,
    q: str | None = None,
    page: str | None = None,
    per_page: str | None = None,
    replayed: str | None = None,
) -> Response:
    """Pending dead letters: the real total, grouped by job and reason, reasons whole."""
    principal = _guarded(request)
    if isinstance(principal, Response):
        return principal
    filters = _dlq_filter(source, group, q)
    with state_of(request).pool.connection() as conn:
        view = console.dlq(conn, _paging(page, per_page), filters)
    flash = None
    count = _number(replayed)
    if count is not None and count >= 0:
        flash = f"Replayed {count:,} dead letter{'' if count == 1 else 's'}."
    return render(
        request,
        "ops/dlq.html",
        principal=principal,
        view=view,
        filters=filters,
        flash=flash,
        can_replay=has_scope(principal.scopes, Scope.DLQ_REPLAY),
    )


@router.post("/dlq/replay")
def dlq_replay(
    request: Request,
    *,
    csrf: Annotated[str, Form()] = "",
    id: Annotated[int | None, Form()] = None,
    source: Annotated[str | None, Form()] = None,
    group: Annotated[str | None, Form()] = None,
    q: Annotated[str | None, Form(max_length=MAX_CONTAINS)] = None,
    back_source: Annotated[str | None, Form()] = None,
    back_group: Annotated[str | None, Form()] = None,
    back_q: Annotated[str | None, Form()] = None,
) -> Response:
    """Replay one entry (``id``), a group (``source`` + ``group``) or all matching the
    filters, in one transaction; then back to the list with the count replayed."""
    principal = _guarded(request, Scope.DLQ_REPLAY)
    if isinstance(principal, Response):
        return principal
    check_csrf(request, csrf)
    filters = _dlq_filter(source, group, q)
    if _blank(group) and filters.group_key is None:
        raise DomainError(422, "bad_group", "the group key is not one this page made; reload it")
    with state_of(request).pool.connection() as conn:
        try:
            n = jobs.replay_dlq_matching(
                conn,
                source=filters.source,
                group_key=filters.group_key,
                contains=filters.contains,
                dlq_id=id,
            )
        except psycopg.errors.IntegrityError as exc:
            raise DomainError(
                422,
                "unreplayable_entry",
                "an entry in this selection has no job task in its payload, so none was "
                "replayed; narrow the selection or replay the others one by one",
            ) from exc
        audit(
            conn,
            principal,
            "dlq.replay",
            "pipeline_dlq",
            id if id is not None else "selection",
            after={"replayed": n, **filters.query()},
        )
    back = _dlq_filter(back_source, back_group, back_q).query()
    return RedirectResponse(
        "/dashboard/ops/dlq?" + urlencode({**back, "replayed": n}), status_code=303
    )


@router.get("/providers")
def providers_page(request: Request) -> Response:
    """Requests, errors, 429s and (derived) spend per provider over 24 hours and 7 days."""
    principal = _guarded(request)
    if isinstance(principal, Response):
        return principal
    state = state_of(request)
    prices = state.settings.provider_cost_per_record_usd
    with state.pool.connection() as conn:
        usage = console.provider_usage(conn, datetime.now(UTC), prices)
    return render(
        request,
        "ops/providers.html",
        principal=principal,
        usage=usage,
        windows=console.WINDOWS,
        prices=prices,
    )


@router.get("/campaign")
def campaign_page(request: Request) -> Response:
    """The daily feed against the cap over the last 30 business days, and skipped leads."""
    principal = _guarded(request)
    if isinstance(principal, Response):
        return principal
    state = state_of(request)
    today = datetime.now(BUSINESS_TZ).date()
    days = console.business_days(calendar_from(state.settings), today, 30)
    with state.pool.connection() as conn:
        fed = console.feed_days(conn, days, state.settings.daily_feed_cap)
        skipped, skipped_total = console.skipped_leads(conn)
    chart = feed_chart(
        [(str(d["business_date"]), int(d["fed_count"]), d["cap"]) for d in fed],
        width=960,
        height=240,
    )
    return render(
        request,
        "ops/campaign.html",
        principal=principal,
        chart=chart,
        days=fed,
        skipped=skipped,
        skipped_total=skipped_total,
    )
