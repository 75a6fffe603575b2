"""The lead list and the lead page: search, the lead's facts, contacts, score and timeline,
and what a broker may do to a lead.

Every function takes a connection the caller opened: for a broker, a
transaction made with ``act_as_broker`` (Postgres RLS decides which leads
exist), for ops a pipeline transaction (every lead). ``broker`` arguments
only help the planner pick the broker's index; RLS is what filters. Used by
the dashboard (web/lead_pages.py) and meant for the MCP server too.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any, Literal, LiteralString
from zoneinfo import ZoneInfo

from equity_connect.audit.service import audit
from equity_connect.auth.principal import Principal
from equity_connect.brokers.schemas import BrokerStatus
from equity_connect.calls.message import summary
from equity_connect.campaign.compliance import (
    STATE_ZONES,
    calling_allowed,
    next_allowed,
    zones_for,
)
from equity_connect.campaign.schedule import BUSINESS_TZ
from equity_connect.campaign.suppression import suppress_leads
from equity_connect.consent import service as consent
from equity_connect.db import queries
from equity_connect.db.pool import Conn
from equity_connect.errors import DomainError
from equity_connect.inbound.decode import BodyError, decode_body
from equity_connect.inbound.service import payload_aad
from equity_connect.leads.schemas import (
    Contact,
    HomeItem,
    LeadFilters,
    LeadPage,
    LeadRow,
    LeadSort,
    MatchReason,
    ScoreFactor,
    SearchTerms,
    TimelineEntry,
)
from equity_connect.normalize.email import validate_email
from equity_connect.normalize.phone import validate_phone
from equity_connect.replies.schemas import InboundProvider
from equity_connect.security.crypto import DecryptionError, PiiCipher, aad_for
from equity_connect.security.pii import lead_contact

Q = queries.load("equity_connect.leads")

OPTED_OUT = frozenset({"unsubscribed", "do_not_contact", "bounced"})
BROKER_STATUSES: tuple[str, ...] = BrokerStatus.__args__  # type: ignore[attr-defined]

_SORTS: Mapping[LeadSort, LiteralString] = {
    LeadSort.SCORE: "list_leads_by_score",
    LeadSort.NEWEST: "list_leads_by_newest",
    LeadSort.NAME: "list_leads_by_name",
    LeadSort.CITY: "list_leads_by_city",
}
_ZIP = re.compile(r"^\d{5}$")
_PHONEISH = re.compile(r"^[\d\s().+\-]+$")


def _like_prefix(text: str) -> str:
    """``text`` as a LIKE prefix pattern, its own % and _ taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


def search_terms(cipher: PiiCipher, q: str | None) -> SearchTerms:
    """Read the search box: an email (exact, by blind index), a phone (exact, by blind
    index of its E.164 form), a 5-digit ZIP, or else a name/street/city prefix."""
    text = " ".join((q or "").split())
    if not text:
        return SearchTerms(kind="none")
    if "@" in text:
        email, reason = validate_email(text)
        if email is None:
            return SearchTerms(
                kind="invalid", problem=f"“{text}” is not an email address we can match ({reason})"
            )
        return SearchTerms(kind="email", email_index=cipher.blind_index("email", email))
    if _ZIP.match(text):
        return SearchTerms(kind="zip", zip=text)
    digits = re.sub(r"\D", "", text)
    if _PHONEISH.match(text) and len(digits) >= 7:
        phone, reason = validate_phone(text)
        if phone is None:
            return SearchTerms(
                kind="invalid", problem=f"“{text}” is not a phone number we can match ({reason})"
            )
        return SearchTerms(kind="phone", phone_index=cipher.blind_index("phone", phone))
    lowered = text.lower()
    first, _, last = lowered.partition(" ")
    return SearchTerms(
        kind="text",
        prefix=_like_prefix(lowered),
        first=_like_prefix(first) if last else None,
        last=_like_prefix(last) if last else None,
    )


def open_states(now: datetime) -> list[str]:
    """The states where calling is allowed now in every zone of the state (the list's
    callable-now filter, with the lead's status, DNC flag and suppression flag; each
    row's badge then also checks the phone's area code)."""
    return sorted(s for s, zones in STATE_ZONES.items() if calling_allowed(now, zones))


def call_window(
    state: str | None,
    zip5: str | None,
    phone: str | None,
    *,
    dnc: bool,
    now: datetime,
    seen: dict[frozenset[ZoneInfo], tuple[bool, datetime | None]] | None = None,
) -> tuple[bool, datetime | None]:
    """(may call now, next allowed instant) under the calling-hours guard, judged in every
    zone the homeowner might be in (property and area code: the strictest wins).
    ``seen`` memoizes the answer per set of zones for one ``now`` (a page of leads
    shares a handful of zone sets)."""
    if dnc or phone is None:
        return False, None
    zones = zones_for(state, zip5, phone)
    if seen is not None and zones in seen:
        return seen[zones]
    answer = (True, None) if calling_allowed(now, zones) else (False, next_allowed(now, zones))
    if seen is not None:
        seen[zones] = answer
    return answer


UNREADABLE = "(unreadable: its encryption key is not configured)"


def readable_contact(cipher: PiiCipher, row: Mapping[str, Any], channel: str) -> str | None:
    """The lead's phone or email in clear; a marker instead of an error when its key is
    gone (a revoked or never-loaded key must not take the whole page down)."""
    try:
        return lead_contact(cipher, row, channel)
    except DecryptionError:
        return UNREADABLE


def owner_name(row: Mapping[str, Any]) -> str:
    """The owner's name as the list shows it."""
    return " ".join(p for p in (row["owner_first_name"], row["owner_last_name"]) if p) or "—"


def property_line(row: Mapping[str, Any]) -> str:
    """The property's address on one line."""
    street = " ".join(p for p in (row["property_address"], row.get("property_unit")) if p)
    place = " ".join(p for p in (row["property_state"], row["property_zip"]) if p)
    city = ", ".join(p for p in (row["property_city"], place) if p)
    return ", ".join(p for p in (street, city) if p) or "—"


def search_leads(
    conn: Conn,
    cipher: PiiCipher,
    filters: LeadFilters,
    *,
    broker: uuid.UUID | None,
    now: datetime | None = None,
) -> LeadPage:
    """One page of the leads matching ``filters``, and how many match in all."""
    now = now or datetime.now(UTC)
    terms = search_terms(cipher, filters.q)
    if terms.kind == "invalid":
        return LeadPage(items=[], total=0, page=filters.page, size=filters.size, terms=terms)
    params: dict[str, Any] = {
        "broker": broker,
        "prefix": terms.prefix,
        "first": terms.first,
        "last": terms.last,
        "zip": terms.zip,
        "phone_index": terms.phone_index,
        "email_index": terms.email_index,
        "status": filters.status,
        "min_score": filters.min_score,
        "max_score": filters.max_score,
        "consent": filters.has_consent,
        "open_states": open_states(now) if filters.callable_now else None,
        "upload": filters.upload,
        "upload_part": "both",
        "limit": filters.size,
        "offset": (filters.page - 1) * filters.size,
    }
    # Unprepared: a generic plan cannot drop the unused "null means any" branches.
    total = count_leads(conn, params)
    rows = conn.execute(Q[_SORTS[filters.sort]], params, prepare=False).fetchall()
    items = []
    seen: dict[frozenset[ZoneInfo], tuple[bool, datetime | None]] = {}
    for r in rows:
        phone = readable_contact(cipher, r, "phone")
        phone_for_guard = None if phone == UNREADABLE else phone
        may_call, opens = call_window(
            r["property_state"],
            r["property_zip"],
            phone_for_guard,
            dnc=r["phone_dnc"] or r["phone_suppressed"],
            now=now,
            seen=seen,
        )
        if r["campaign_status"] in OPTED_OUT:
            may_call, opens = False, None
        items.append(
            LeadRow(
                id=r["id"],
                owner=owner_name(r),
                property=property_line(r),
                score=r["lead_score"],
                status=r["campaign_status"],
                phone=phone,
                email=readable_contact(cipher, r, "email"),
                callable_now=may_call,
                next_call_window=opens,
            )
        )
    return LeadPage(
        items=items,
        total=total,
        page=filters.page,
        size=filters.size,
        terms=terms,
    )


def count_leads(conn: Conn, params: Mapping[str, Any]) -> int:
    """How many leads the list's filters match. An upload's leads are those it created
    plus those it merged into that another upload created: two disjoint parts, counted
    apart and added, so the first is an index-only count (leads_cohort_idx) where one OR
    of both would read every matching lead's heap page (278 ms for 50,000 leads)."""
    parts = ("first", "merged") if params.get("upload") is not None else ("both",)
    total = 0
    for part in parts:
        row = conn.execute(
            Q["count_leads"], {**params, "upload_part": part}, prepare=False
        ).fetchone()
        total += int(row["n"]) if row else 0
    return total


def visible_uploads(conn: Conn) -> list[dict[str, Any]]:
    """The uploads the list may be filtered by (a broker's: those of their leads)."""
    return conn.execute(Q["visible_uploads"]).fetchall()


# --- the lead page --------------------------------------------------------------------


def find_lead(conn: Conn, lead_id: uuid.UUID) -> dict[str, Any]:
    """The lead, if this transaction may see it; 404 otherwise (another broker's lead is
    simply not there)."""
    row = conn.execute(Q["lead"], {"id": lead_id}).fetchone()
    if row is None:
        raise DomainError(404, "not_found", "no such lead among yours")
    return row


def contacts(conn: Conn, cipher: PiiCipher, lead: Mapping[str, Any]) -> list[Contact]:
    """Every phone and email found for the lead, decrypted, with what each code means."""
    rows = conn.execute(Q["contacts"], {"id": lead["id"]}).fetchall()
    primary = {
        "email": readable_contact(cipher, lead, "email"),
        "phone": readable_contact(cipher, lead, "phone"),
    }
    codes = sorted({c for r in rows for c in r["codes"]})
    meanings: dict[tuple[str, str, str], str] = {}
    if codes:
        for m in conn.execute(Q["code_descriptions"], {"codes": codes}):
            verdict = "verified" if m["is_verified"] else "not verified"
            meanings[(m["provider"], m["channel"], m["code"])] = (
                f"{m['code']}: {m['description'] or ''} ({verdict})"
            )
    found: list[Contact] = []
    for r in rows:
        aad = aad_for(
            "lead_contacts", r["channel"], f"{lead['id']}:{bytes(r['value_index']).hex()}"
        )
        try:
            value = cipher.decrypt(bytes(r["value_ciphertext"]), aad)
        except DecryptionError:
            value = UNREADABLE
        found.append(
            Contact(
                channel=r["channel"],
                value=value,
                provider=r["provider"],
                codes=list(r["codes"]),
                code_meanings=[
                    meanings.get((r["provider"], r["channel"], c), c) for c in r["codes"]
                ],
                verified=r["verified"],
                dnc=r["dnc"],
                phone_type=r["phone_type"],
                found_at=r["created_at"],
                primary=value == primary[r["channel"]],
            )
        )
    return found


_FACTORS: dict[str, str] = {
    "equity_share": "Equity share (equity ÷ value): up to 35 points",
    "equity_amount": "Equity amount: up to 15 points, full at $500k",
    "owner_age": "Owner age: 15 at 62+ (HECM age), 8 at 55–61",
    "phone": "Reachable phone: 15 if verified and not on a DNC list",
    "email": "Reachable email: 10 if verified",
    "dnc": "Phone on a DNC list: −15",
    "freshness": "Data freshness: 10 within 30 days, 5 within 90",
}


def score_explanation(lead: Mapping[str, Any]) -> list[ScoreFactor]:
    """The stored breakdown (scoring/model.py), one line per factor."""
    breakdown: Mapping[str, Any] = lead["score_breakdown"] or {}
    return [
        ScoreFactor(factor=name, points=int(breakdown.get(name, 0)), why=why)
        for name, why in _FACTORS.items()
        if name in breakdown
    ]


@dataclass
class _Timeline:
    entries: list[TimelineEntry] = field(default_factory=list)

    def add(
        self,
        at: datetime | None,
        kind: str,
        title: str,
        detail: str = "",
        source: str | None = None,
    ) -> None:
        if at is not None:
            self.entries.append(
                TimelineEntry(at=at, kind=kind, title=title, detail=detail, source=source)
            )


def _call_summaries(conn: Conn, cipher: PiiCipher, lead_id: uuid.UUID) -> dict[str, str]:
    """Each VAPI end-of-call report's summary, by inbound event id."""
    out: dict[str, str] = {}
    for r in conn.execute(Q["call_reports"], {"id": lead_id}):
        try:
            body = cipher.decrypt(
                bytes(r["payload_ciphertext"]), payload_aad(InboundProvider.VAPI, r["external_id"])
            )
            message = decode_body(body.encode("utf-8")).get("message")
        except (BodyError, DecryptionError):
            continue  # a report that never decoded was marked failed; nothing to show
        if isinstance(message, dict):
            out[str(r["id"])] = summary(message)
    return out


def _event_entry(tl: _Timeline, e: Mapping[str, Any], summaries: Mapping[str, str]) -> None:
    stage, outcome, detail = e["stage"], e["outcome"], e["detail"] or {}
    at, provider = e["occurred_at"], e["provider"]
    if stage == "replied":
        confidence = detail.get("confidence")
        how = f"confidence {confidence:.2f}" if isinstance(confidence, int | float) else ""
        backend = detail.get("backend")
        tl.add(
            at,
            "reply",
            f"Reply classified “{outcome}”",
            ", ".join(p for p in (how, f"by {backend}" if backend else "") if p),
            provider,
        )
    elif stage == "call":
        if outcome == "ended":
            reason = detail.get("ended_reason")
            tl.add(
                at,
                "call",
                f"Call ended ({reason})" if reason else "Call ended",
                summaries.get(str(e["correlation_id"]), ""),
                provider,
            )
        else:
            tl.add(at, "call", f"Call {outcome}", "", provider)
    elif stage == "fed":
        reason = " ".join(str(detail.get(k) or "") for k in ("reason", "reason_text")).strip()
        tl.add(at, "campaign", f"Campaign push {outcome}", reason, provider)
    elif stage == "booked":
        pass  # the bookings' own rows tell it, with the times (_booking_entries)
    elif stage == "consent":
        tl.add(
            at,
            "consent",
            f"Consent {outcome.replace('_', ' ')}",
            str(detail.get("code") or ""),
            provider,
        )
    else:
        tl.add(at, stage, f"{stage}: {outcome}", "", provider)


def _call_time(at: datetime | None) -> str:
    return at.astimezone(BUSINESS_TZ).strftime("%a %b %d %H:%M PT") if at else "an unknown time"


def _booking_entries(tl: _Timeline, r: Mapping[str, Any]) -> None:
    """A booking row's changes: booked (or rescheduled from the row it replaced, old time
    → new time), then cancelled if it was."""
    start = _call_time(r["start_time"])
    length = ""
    if r["start_time"] and r["end_time"]:
        length = f"{int((r['end_time'] - r['start_time']).total_seconds() // 60)} min"
    detail = ", ".join(p for p in (r["event_type"], length) if p)
    if r["rescheduled_from"] is None:
        tl.add(r["created_at"], "booking", f"Call booked for {start}", detail, "calcom")
    else:
        old = _call_time(r["replaced_start_time"])
        tl.add(r["created_at"], "booking", f"Call rescheduled: {old} → {start}", detail, "calcom")
    if r["status"] == "cancelled":
        tl.add(r["updated_at"], "booking", f"Call of {start} cancelled", "", "calcom")


def timeline(conn: Conn, cipher: PiiCipher, lead: Mapping[str, Any]) -> list[TimelineEntry]:
    """Everything that happened to the lead, newest first: lineage, skip-trace lookups,
    campaign pushes, replies, calls, consent, bookings, notes, suppressions, audit."""
    lead_id = lead["id"]
    tl = _Timeline()
    tl.add(lead["created_at"], "lead", "Lead created", "", lead["source"])
    lineage, uploads = _lineage(conn, lead_id)
    for r in lineage:
        upload = uploads.get(r["upload_id"], {})
        name = upload.get("filename") or "an upload"
        how = f" (matched by {r['match_key']})" if r["match_key"] else ""
        reason = _match_reason(r, name, lead_id)
        detail = "; ".join(
            p
            for p in (
                r["notes"] or "",
                reason.why if r["match_key"] == "probabilistic" else "",
            )
            if p
        )
        tl.add(
            upload.get("received_at") or lead["created_at"],
            "upload",
            f"Upload row {r['row_number']} of {name}: {r['status']}{how}",
            detail,
            upload.get("source"),
        )
    for r in conn.execute(Q["skiptrace_lookups"], {"id": lead_id}):
        outcome = "matched" if r["matched"] else "no match" if r["matched"] is False else "asked"
        tl.add(r["created_at"], "skiptrace", f"Skip-trace lookup: {outcome}", "", r["provider"])
    if lead["feed_batch_id"] is not None:
        batch = conn.execute(Q["feed_batch"], {"id": lead["feed_batch_id"]}).fetchone()
        if batch is not None:
            tl.add(
                batch["pushed_at"] or batch["created_at"],
                "campaign",
                f"Fed to campaign {lead['campaign_id'] or ''} ({batch['status']})".replace(
                    "  ", " "
                ),
                f"feed of {batch['business_date']}",
            )
    summaries = _call_summaries(conn, cipher, lead_id)
    for e in conn.execute(Q["lead_events"], {"id": lead_id}):
        _event_entry(tl, e, summaries)
    for r in conn.execute(Q["consent_records"], {"id": lead_id}):
        tl.add(
            r["consented_at"],
            "consent",
            f"Consent recorded by {r['method'].replace('_', ' ')}",
            f"disclosure version {r['disclosure_version']}",
        )
    for r in conn.execute(Q["bookings"], {"id": lead_id}):
        _booking_entries(tl, r)
    for r in conn.execute(Q["notes"], {"id": lead_id}):
        author = f"ops ({r['ops_author']})" if r["ops_author"] else r["author"] or "a broker"
        tl.add(r["created_at"], "note", f"Note by {author}", r["body"])
    for r in conn.execute(Q["suppressions"], {"id": lead_id}):
        tl.add(
            r["created_at"],
            "suppression",
            f"{r['channel'].capitalize()} suppressed: {r['reason'].replace('_', ' ')}",
            "",
            r["source"],
        )
    for r in conn.execute(Q["audit_entries"], {"id": str(lead_id)}):
        change = ""
        if r["before"] or r["after"]:
            change = f"{_kv(r['before'])} → {_kv(r['after'])}"
        who = "ops" if r["actor_role"] == "ops" else "broker"
        tl.add(r["occurred_at"], "audit", f"{r['action']} by {who}", change)
    # newest first; entries at the same instant keep the pipeline's order, reversed
    # (the lead is created before its upload row is written, and so on)
    order = {id(e): i for i, e in enumerate(tl.entries)}
    return sorted(tl.entries, key=lambda e: (e.at, order[id(e)]), reverse=True)


def _lineage(
    conn: Conn, lead_id: uuid.UUID
) -> tuple[list[dict[str, Any]], dict[uuid.UUID, dict[str, Any]]]:
    """The upload rows that fed the lead, and their uploads' name, source and time."""
    lineage = conn.execute(Q["lineage"], {"id": lead_id}).fetchall()
    uploads: dict[uuid.UUID, dict[str, Any]] = {}
    if lineage:
        with as_pipeline(conn):
            ids = list({r["upload_id"] for r in lineage})
            uploads = {u["id"]: u for u in conn.execute(Q["upload_facts"], {"ids": ids})}
    return lineage, uploads


# What each exact key of the ingest's cascade means (ingest/queries.sql merge_staging).
_KEYS: Mapping[str, str] = {
    "mak": "same MAK (Melissa address key) as the lead",
    "apn": "same county and APN (parcel number) as the lead",
    "addr_hash": "same normalized address (street, unit, city, ZIP) as the lead",
}


def _strings(value: object) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def _match_reason(r: Mapping[str, Any], upload: str, lead_id: uuid.UUID) -> MatchReason:
    """One lineage row's reason, from its match key and (probabilistic) its evidence:
    {"score", "weights_version", "levels", "agreed", "differed"} and "matched_lead" or
    "matched_line" (ingest/matching_pass.py record)."""
    key = r["match_key"]
    base = {"upload": upload, "row_number": r["row_number"], "status": r["status"], "key": key}
    if key != "probabilistic":
        if key is None:
            why = "this row made the lead" if r["status"] == "inserted" else r["status"]
        else:
            why = _KEYS.get(key, f"matched by {key}")
        return MatchReason(**base, why=why)
    ev: Mapping[str, Any] = r["match_evidence"] if isinstance(r["match_evidence"], dict) else {}
    score = ev.get("score")
    score = float(score) if isinstance(score, int | float) else None
    agreed, differed = _strings(ev.get("agreed")), _strings(ev.get("differed"))
    levels = ev.get("levels")
    level_pairs = [(str(f), str(v)) for f, v in levels.items()] if isinstance(levels, dict) else []
    matched: str | None = None
    if ev.get("matched_lead") is not None:
        matched = "this lead" if str(ev["matched_lead"]) == str(lead_id) else "another lead"
    elif ev.get("matched_line") is not None:
        matched = f"row {ev['matched_line']} of the same file"
    parts = [f"probabilistic match, score {score:.2f}" if score is not None else "probabilistic"]
    if agreed:
        parts.append(f"agreed: {', '.join(agreed)}")
    if differed:
        parts.append(f"differed: {', '.join(differed)}")
    if matched:
        parts.append(f"matched {matched}")
    weights = ev.get("weights_version")
    return MatchReason(
        **base,
        why="; ".join(parts),
        score=score,
        agreed=agreed,
        differed=differed,
        levels=level_pairs,
        weights_version=str(weights) if weights is not None else None,
        matched=matched,
    )


def match_reasons(conn: Conn, lead: Mapping[str, Any]) -> list[MatchReason]:
    """Why each upload row is part of this lead (the lead page's "why one lead")."""
    lineage, uploads = _lineage(conn, lead["id"])
    return [
        _match_reason(r, uploads.get(r["upload_id"], {}).get("filename") or "an upload", lead["id"])
        for r in lineage
    ]


def _kv(values: Mapping[str, Any] | None) -> str:
    return ", ".join(f"{k}={v}" for k, v in (values or {}).items()) or "—"


def status_choices(current: str) -> list[str]:
    """The statuses a broker may move this lead to (none once it opted out)."""
    if current in OPTED_OUT:
        return []
    return [s for s in BROKER_STATUSES if s != current]


@contextmanager
def as_pipeline(conn: Conn) -> Iterator[None]:
    """Run a block as the connection's own pipeline role, then put the broker's role
    back: same transaction, same claims (for the few pipeline-only reads and writes a
    broker's action needs, after RLS has shown the lead is theirs)."""
    row = conn.execute(Q["current_role_setting"]).fetchone()
    role = row["role"] if row else "none"
    acting = role not in ("none", "")
    if acting:
        conn.execute(Q["reset_local_role"])
    try:
        yield
    finally:
        if acting:
            conn.execute(Q["set_local_role"], {"role": role})


def booking_link(conn: Conn, lead: Mapping[str, Any]) -> str | None:
    """The broker's booking page for this lead, carrying its newest live consent token's
    public id (how Cal.com's booking finds the lead), or None."""
    if not lead["calcom_event_url"]:
        return None
    with as_pipeline(conn):
        token = conn.execute(Q["booking_token"], {"id": lead["id"]}).fetchone()
    return consent.booking_link(lead["calcom_event_url"], token["id"]) if token else None


def issue_booking_link(conn: Conn, lead: Mapping[str, Any], *, ttl_hours: int) -> str:
    """Issue a consent token for the lead and return its booking link."""
    if lead["campaign_status"] in OPTED_OUT:
        raise DomainError(409, "opted_out", "this lead opted out; it gets no booking link")
    if not lead["calcom_event_url"]:
        raise DomainError(
            409, "no_booking_page", "the broker has no Cal.com event URL; set one first"
        )
    with as_pipeline(conn):
        token = consent.issue(conn, lead["id"], lead["assigned_broker_id"], ttl_hours=ttl_hours)
    return consent.booking_link(lead["calcom_event_url"], token.token_id)


def add_note(conn: Conn, principal: Principal, lead_id: uuid.UUID, body: str) -> int:
    """Add a note to the lead: a broker's on their own lead (RLS checks it is theirs), or
    an ops user's on any lead, signed with the ops key's name."""
    text = body.strip()
    if not text:
        raise DomainError(422, "empty_note", "the note is empty; write something first")
    if len(text) > 10_000:
        raise DomainError(422, "note_too_long", "a note holds at most 10,000 characters")
    if "\x00" in text:
        # PostgreSQL text cannot hold it; refused here with a sentence, not a 500.
        raise DomainError(
            422, "note_nul", "a note cannot contain a NUL character; remove it and try again"
        )
    if principal.kind == "ops":
        row = conn.execute(
            Q["add_ops_note"], {"lead_id": lead_id, "key_id": principal.id, "body": text}
        ).fetchone()
    else:
        row = conn.execute(
            Q["add_note"], {"lead_id": lead_id, "broker_id": principal.broker_id, "body": text}
        ).fetchone()
    assert row is not None  # INSERT … RETURNING
    audit(conn, principal, "lead.note", "lead_notes", row["id"], after={"lead_id": str(lead_id)})
    return int(row["id"])


def set_status(
    conn: Conn,
    cipher: PiiCipher,
    principal: Principal,
    lead: Mapping[str, Any],
    status: str,
) -> None:
    """Move the lead to ``status`` (one a broker may set); do-not-contact also
    suppresses its contact details on every channel. An opted-out lead stays."""
    if status not in BROKER_STATUSES:
        raise DomainError(
            422, "bad_status", f"a broker may set the status to {', '.join(BROKER_STATUSES)} only"
        )
    changed = conn.execute(Q["set_status"], {"id": lead["id"], "status": status})
    if changed.rowcount == 0:
        raise DomainError(409, "opted_out", "this lead opted out; its status cannot change")
    audit(
        conn,
        principal,
        "lead.status",
        "leads",
        lead["id"],
        before={"campaign_status": lead["campaign_status"]},
        after={"campaign_status": status},
    )
    if status == "do_not_contact":
        with as_pipeline(conn):
            suppress_leads(conn, cipher, [lead["id"]], reason="do_not_contact", source="broker")


# --- the broker's home ----------------------------------------------------------------


@dataclass(frozen=True)
class HomeSection:
    """One list of the broker's home with its full count."""

    count: int
    items: list[HomeItem]


def _home_item(r: Mapping[str, Any], at: datetime | None, note: str) -> HomeItem:
    place = ", ".join(p for p in (r["property_city"], r["property_state"]) if p)
    return HomeItem(lead_id=r["lead_id"], owner=owner_name(r), place=place or "—", at=at, note=note)


def business_day(now: datetime) -> tuple[datetime, datetime]:
    """Start and end of ``now``'s day in Pacific time (the brokerage's day)."""
    local = now.astimezone(BUSINESS_TZ).date()
    start = datetime.combine(local, time(0), BUSINESS_TZ)
    return start, datetime.combine(local + timedelta(days=1), time(0), BUSINESS_TZ)


def home(
    conn: Conn, *, broker: uuid.UUID | None, now: datetime, limit: int = 10
) -> dict[Literal["booked_today", "replies_waiting", "interested_unbooked"], HomeSection]:
    """Today's booked calls, replies waiting, and interested leads without a booking."""
    day_start, day_end = business_day(now)
    day = {"day_start": day_start, "day_end": day_end, "broker": broker, "limit": limit}
    who = {"broker": broker, "limit": limit}
    booked = conn.execute(Q["booked_today"], day).fetchall()
    waiting = conn.execute(Q["replies_waiting"], who).fetchall()
    interested = conn.execute(Q["interested_unbooked"], who).fetchall()

    def count(name: LiteralString, params: dict[str, Any]) -> int:
        row = conn.execute(Q[name], params).fetchone()
        return int(row["n"]) if row else 0

    return {
        "booked_today": HomeSection(
            count("booked_today_count", day),
            [
                _home_item(
                    r, r["start_time"], "rescheduled" if r["status"] == "rescheduled" else ""
                )
                for r in booked
            ],
        ),
        "replies_waiting": HomeSection(
            count("replies_waiting_count", who),
            [
                _home_item(r, r["last_reply_at"], (r["last_reply_intent"] or "").replace("_", " "))
                for r in waiting
            ],
        ),
        "interested_unbooked": HomeSection(
            count("interested_unbooked_count", who),
            [_home_item(r, r["last_reply_at"], f"score {r['lead_score']}") for r in interested],
        ),
    }
