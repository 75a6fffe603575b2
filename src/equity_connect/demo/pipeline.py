"""``equity-connect demo`` (= ``make run``): the whole pipeline, end to end, offline.

Every external provider is replaced by its simulator (skip-trace, Instantly,
the homeowner's inbox), but every boundary is the real one: the CSV goes in
through the signed upload API, replies, calls and bookings come back through
the real webhook endpoints with real signatures, and jobs run on the real
queue. Re-running is safe: the same bytes are a duplicate upload, the same
webhook deliveries are duplicates, and the day's feed cap holds.
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import socket
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from email import message_from_bytes
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import uvicorn
from psycopg_pool import ConnectionPool
from rich.console import Console
from rich.table import Table

from equity_connect.calls.client import SimulatedVapi
from equity_connect.calls.service import prepare_call
from equity_connect.campaign.runs import feed_run, refresh_run
from equity_connect.campaign.schedule import BUSINESS_TZ
from equity_connect.cli_support import warn_brand
from equity_connect.config import Settings, get_settings
from equity_connect.db import migrate
from equity_connect.db.pool import Conn, open_pool
from equity_connect.db.url import resolve_database_url, resolve_owner_url
from equity_connect.demo.data import generate
from equity_connect.errors import DomainError
from equity_connect.jobs.catalog import registry
from equity_connect.jobs.worker import run_pending
from equity_connect.observability.logs import configure_logging
from equity_connect.security import signatures
from equity_connect.security.apikeys import generate_api_key
from equity_connect.security.crypto import PiiCipher
from equity_connect.security.jwt import issue_jwt
from equity_connect.security.keys import ensure_dev_keys, load_keyring
from equity_connect.security.pii import lead_contact
from equity_connect.sms.client import SimulatedSignalWire
from equity_connect.sms.service import Q as TEXTS_Q
from equity_connect.web.app import create_app
from equity_connect.web.auth import Q as AUTH_Q
from equity_connect.web.auth import principal_from_api_key

console = Console()

BROKERS = [
    ("Alex Rivera", "alex.rivera@demo-brokerage.test", "https://cal.example.test/alex/equity-call"),
    ("Sam Chen", "sam.chen@demo-brokerage.test", "https://cal.example.test/sam/equity-call"),
]
# What the simulated homeowners answer, in turn (a realistic mix, both languages).
REPLIES = [
    ("Yes, I'm interested. Please call me this week.", "interested"),
    ("How does a reverse mortgage work for someone my age?", "question"),
    ("Sí, me interesa. Llámeme por la tarde por favor.", "interested"),
    ("No thanks, not interested.", "not_interested"),
    ("Please stop emailing me and remove me from your list.", "unsubscribe"),
    ("I am out of the office until Monday with limited access to email.", "auto_reply"),
    ("Yes please, tell me more about what I qualify for.", "interested"),
    ("Wrong person, I sold that house in 2019.", "wrong_contact"),
]


def _demo_secrets(data_dir: Path) -> dict[str, str]:
    """Local secrets for the demo's upload and webhooks (created once, owner-only)."""
    path = data_dir / "keys" / "demo_secrets.json"
    if path.exists():
        loaded: dict[str, str] = json.loads(path.read_text())
        if "signalwire" not in loaded:  # a data folder from before texts
            loaded["signalwire"] = "PSK" + secrets.token_urlsafe(24)
            path.write_text(json.dumps(loaded))
        return loaded
    values = {
        "upload": "whsec_" + base64.b64encode(os.urandom(32)).decode(),
        "instantly": secrets.token_urlsafe(24),
        "calcom": secrets.token_urlsafe(24),
        "vapi": secrets.token_urlsafe(24),
        "signalwire": "PSK" + secrets.token_urlsafe(24),
        "ops_api_key": "",
        # signs the demo broker's login token (EC_JWT_SECRET, as Supabase's HS256 secret)
        "jwt": secrets.token_urlsafe(32),
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(values, fh)
    return values


def _free_port(preferred: int) -> int:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", preferred))
        except OSError:
            s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def demo_settings(base: Settings) -> tuple[Settings, dict[str, str]]:
    """The base settings with local keys, secrets and every provider simulated."""
    updates: dict[str, Any] = {}
    if not (base.encryption_keys or base.encryption_keys_file):
        enc, idx = ensure_dev_keys(base.data_dir)
        updates |= {"encryption_keys_file": enc, "index_key_file": idx}
        console.print(f"[yellow]local development keys in {enc.parent} (demo only)[/yellow]")
    else:
        (base.data_dir / "keys").mkdir(parents=True, exist_ok=True)
    secret = _demo_secrets(base.data_dir)
    if not secret.get("jwt"):  # demo data from before the broker login link
        secret["jwt"] = secrets.token_urlsafe(32)
        (base.data_dir / "keys" / "demo_secrets.json").write_text(json.dumps(secret))
    port = _free_port(base.port)
    updates |= {
        "upload_secrets": base.upload_secrets or secret["upload"],
        "instantly_webhook_secrets": base.instantly_webhook_secrets or secret["instantly"],
        "calcom_secrets": base.calcom_secrets or secret["calcom"],
        "vapi_secrets": base.vapi_secrets or secret["vapi"],
        "vapi_assistant_id": base.vapi_assistant_id or "simulated-assistant",
        "vapi_phone_number_id": base.vapi_phone_number_id or "simulated-phone-number",
        "skiptrace_providers": base.skiptrace_providers or "simulator",
        "campaign_provider": base.campaign_provider or "simulator",
        "sms_provider": base.sms_provider or "simulator",
        "signalwire_signing_keys": base.signalwire_signing_keys or secret["signalwire"],
        "brand_support_phone": base.brand_support_phone or "(505) 555-0100",
        "port": port,
        "public_base_url": f"http://127.0.0.1:{port}",
    }
    if not (base.jwt_secret or base.jwt_issuer or base.jwt_jwks_url):
        updates["jwt_secret"] = secret["jwt"]
    return base.model_copy(update=updates), secret


def broker_login_link(settings: Settings, broker_id: uuid.UUID, *, hours: int = 8) -> str | None:
    """A link to the login page holding a broker's token (signed with the demo's
    EC_JWT_SECRET), so the broker view is one click away; None with no HS256 secret."""
    if not settings.jwt_secret:
        return None
    token = issue_jwt(
        secret=settings.jwt_secret.encode(),
        sub=broker_id,
        ttl_seconds=hours * 3600,
        audience=settings.jwt_audience,
        issuer=settings.jwt_issuer,
    )
    return f"{settings.public_base_url.rstrip('/')}/dashboard/login?{urlencode({'token': token})}"


class BackgroundServer:
    """The API in a thread, so the demo talks to it over real HTTP."""

    def __init__(self, settings: Settings, conninfo: str) -> None:
        config = uvicorn.Config(
            create_app(settings, conninfo=conninfo),
            host="127.0.0.1",
            port=settings.port,
            log_config=None,
            access_log=False,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> None:
        """Start and wait until it accepts connections."""
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the API did not start")
            time.sleep(0.05)

    def wait(self) -> None:
        """Serve until interrupted."""
        try:
            while self.thread.is_alive():
                self.thread.join(0.5)
        except KeyboardInterrupt:
            self.server.should_exit = True
            self.thread.join(5)


def _ensure_brokers(conn: Conn) -> list[uuid.UUID]:
    ids = []
    for name, email, cal in BROKERS:
        row = conn.execute(
            "insert into brokers (name, email, daily_capacity, calcom_event_url, "
            "instantly_campaign_id) values (%s, %s, 150, %s, %s) "
            "on conflict (lower(email)) do update set calcom_event_url = excluded.calcom_event_url "
            "returning id",
            [name, email, cal, f"demo-campaign-{name.split()[0].lower()}"],
        ).fetchone()
        assert row is not None
        ids.append(row["id"])
    return ids


def _ensure_ops_key(conn: Conn, secret: dict[str, str], path: Path) -> str:
    """An admin API key for the dashboard: the saved one if the database knows it."""
    saved = secret.get("ops_api_key", "")
    if saved and principal_from_api_key(conn, saved) is not None:
        return saved
    key = generate_api_key()
    conn.execute(
        AUTH_Q["create_api_key"],
        {"key_id": key.key_id, "name": "demo ops", "hash": key.secret_hash, "scopes": ["admin"]},
    )
    secret["ops_api_key"] = key.secret
    path.write_text(json.dumps(secret))
    return key.secret


def _upload(base: str, secret: str, body: bytes) -> dict[str, Any]:
    now = int(time.time())
    msg_id = "demo_" + uuid.uuid4().hex
    headers = {
        "content-type": "text/csv",
        "webhook-id": msg_id,
        "webhook-timestamp": str(now),
        "webhook-signature": signatures.sign_standard(
            signatures.parse_secret(secret), msg_id, now, body
        ),
    }
    response = httpx.post(
        f"{base}/v1/uploads",
        content=body,
        headers=headers,
        params={"source": "demo-vendor", "filename": "demo_leads.csv"},
        timeout=120,
    )
    if response.status_code >= 400:
        raise RuntimeError(f"upload refused: {response.status_code} {response.text}")
    result: dict[str, Any] = response.json()
    return result


def _upload_status(base: str, ops_key: str, location: str) -> dict[str, Any]:
    """The upload's status document, read as a client polls it (its Location)."""
    response = httpx.get(f"{base}{location}", headers={"X-API-Key": ops_key}, timeout=30)
    response.raise_for_status()
    result: dict[str, Any] = response.json()
    return result


def _ingest_demo_file(
    base: str, secret: str, ops_key: str, body: bytes, jobs: Callable[[], int]
) -> tuple[dict[str, Any], dict[str, Any], int]:
    """Upload (202), let the worker ingest and enrich, read the report as a client polls it."""
    accepted = _upload(base, secret, body)
    console.print(f"upload accepted ({accepted['phase']}): {accepted['location']}", markup=False)
    # The worker ingests it, then skip-traces, verifies and scores its leads.
    ran = jobs()
    status = _upload_status(base, ops_key, accepted["location"])
    report: dict[str, Any] | None = status["report"]
    if report is None or status["status"] != "completed":
        raise RuntimeError(f"the demo upload did not complete: {status['error']}")
    return accepted, report, ran


def _simulate_call(
    conn: Conn,
    cipher: PiiCipher,
    settings: Settings,
    vapi: SimulatedVapi,
    *,
    base: str,
    secret: dict[str, str],
    lead_id: uuid.UUID,
) -> None:
    """The voice assistant calls the homeowner, who agrees to be contacted.

    The call is started the way a real one is (``prepare_call``: a consent token in
    ``assistantOverrides.metadata``), and the simulated VAPI reports it in VAPI's shape.
    """
    try:
        prepared = prepare_call(conn, cipher, settings, lead_id)
    except DomainError:  # not callable (opted out, no phone): no call, as in production
        return
    # The call id is fixed per lead so a re-run's report is a duplicate delivery.
    started = vapi.create_call(prepared.body, call_id=f"demo-call-{lead_id}")
    report = vapi.end_of_call_report(
        started.call_id,
        assistant_said="May a broker call you about your home's equity?",
        homeowner_said="Yes, I'm interested. You can call me.",
        summary="The homeowner asked for a call back and agreed to be contacted.",
        structured_data={"interested": True, "consent": True},
    )
    r = httpx.post(
        f"{base}/v1/webhooks/vapi",
        content=json.dumps(report).encode(),
        headers={"X-Vapi-Secret": secret["vapi"]},
    )
    r.raise_for_status()


def _simulate_answers(
    conn: Conn, cipher: PiiCipher, settings: Settings, base: str, secret: dict[str, str]
) -> int:
    """Homeowners of fed leads answer by email (and a few by phone), through the webhooks."""
    vapi = SimulatedVapi()
    fed = conn.execute(
        # Fed leads in id order: the same homeowners answer on every run (and
        # their deliveries are then duplicates), whatever their status now.
        "select id, email_ciphertext from leads where added_to_campaign_at is not null "
        "and email_ciphertext is not null order by id limit 60"
    ).fetchall()
    sent = 0
    for n, lead in enumerate(fed):
        if n % 3 == 2:  # a third of them do not answer at all
            continue
        email = lead_contact(cipher, lead, "email")
        text, _ = REPLIES[n % len(REPLIES)]
        payload = {
            "timestamp": datetime.now(UTC).isoformat(),
            "event_type": "reply_received",
            "campaign_id": "demo-campaign",
            "lead_email": email,
            "email_id": f"demo-{lead['id']}",
            "reply_subject": "Re: your home's equity",
            "reply_text": text,
        }
        r = httpx.post(
            f"{base}/v1/webhooks/instantly",
            json=payload,
            headers={"X-Webhook-Secret": secret["instantly"]},
        )
        r.raise_for_status()
        sent += 1
        if n % 8 == 0:  # and some are reached by the voice assistant too
            _simulate_call(
                conn, cipher, settings, vapi, base=base, secret=secret, lead_id=lead["id"]
            )
    return sent


def _consent_links(outbox: Path, since: set[str]) -> list[tuple[str, str]]:
    """(homeowner email, nonce) from consent messages the simulated outbox received."""
    found = []
    for path in sorted(outbox.glob("*.eml")):
        if path.name in since:
            continue
        msg = message_from_bytes(path.read_bytes())
        body = msg.get_payload(decode=True)
        text = body.decode() if isinstance(body, bytes) else str(msg.get_payload())
        match = re.search(r"/v1/consent/(\S+)", text)
        if match:
            found.append((str(msg["To"]), match.group(1)))
    return found


def _book(base: str, secret: dict[str, str], links: list[tuple[str, str]]) -> int:
    """Most homeowners who got a link consent and book a time on the broker's calendar."""
    booked = 0
    for n, (email, nonce) in enumerate(links):
        if n % 4 == 3:
            continue
        r = httpx.post(
            f"{base}/v1/consent/{nonce}",
            follow_redirects=False,
            headers={"user-agent": "demo-homeowner-browser"},
        )
        if r.status_code != 303:
            continue
        ref = re.search(r"metadata%5Bec_ref%5D=([0-9a-f-]+)", r.headers["location"])
        if ref is None:
            continue
        uid = f"demo-booking-{ref.group(1)}"
        event = {
            "triggerEvent": "BOOKING_CREATED",
            "createdAt": datetime.now(UTC).isoformat(),
            "payload": {
                "uid": uid,
                "type": "equity-call",
                "title": "Equity review",
                "startTime": "2026-12-02T18:00:00Z",
                "endTime": "2026-12-02T18:30:00Z",
                "attendees": [{"email": email, "name": "Homeowner"}],
                "metadata": {"ec_ref": ref.group(1)},
                "status": "ACCEPTED",
            },
        }
        body = json.dumps(event).encode()
        sig = signatures.sign_calcom(secret["calcom"].encode(), body)  # as typed, as Cal.com
        httpx.post(
            f"{base}/v1/webhooks/calcom", content=body, headers={"X-Cal-Signature-256": sig}
        ).raise_for_status()
        booked += 1
    return booked


def _texts_sent(outbox: Path, since: set[str]) -> list[dict[str, str]]:
    """The texts the simulated SignalWire sent since ``since`` (file names)."""
    return [
        json.loads(path.read_text())
        for path in sorted(outbox.glob("*.json"))
        if path.name not in since
    ]


def _simulate_texts(base: str, secret: dict[str, str], sent: list[dict[str, str]]) -> int:
    """Each texted homeowner answers (a deterministic simulated reply: thanks, HELP, yes,
    STOP), through the signed SignalWire webhook, as SignalWire would post it."""
    simulator = SimulatedSignalWire(Path("."))
    url = f"{base}/v1/webhooks/signalwire"
    for text in sent:
        params = list(simulator.homeowner_reply(text["to"]).items())
        signature = signatures.sign_signalwire(secret["signalwire"].encode(), url, params)
        httpx.post(
            url,
            content=urlencode(params),
            headers={
                "content-type": "application/x-www-form-urlencoded",
                "X-SignalWire-Signature": signature,
            },
        ).raise_for_status()
    return len(sent)


def _text_summary(conn: Conn) -> str:
    """How many texts were sent, deferred (outside calling hours) or skipped, and why."""
    parts = []
    for r in conn.execute(TEXTS_Q["demo_text_summary"]).fetchall():
        why = f" ({r['reason']})" if r["reason"] else ""
        parts.append(f"{r['n']} {r['status']}{why}")
    return ", ".join(parts) or "none queued"


def _texts_round(
    pool: ConnectionPool[Conn],
    *,
    base: str,
    secret: dict[str, str],
    sms_outbox: Path,
    seen: set[str],
    jobs: Callable[[dict[str, Any] | None], int],
) -> None:
    """Show the texts the routing sent, and let their homeowners text back.

    Texts outside calling hours wait for them. The demo does not wait: it moves the send
    job's clock to the time the texts were deferred to and runs them then. The guards run
    as always at that time (nothing is sent outside hours, even in the demo).
    """
    with pool.connection() as conn:
        console.print(f"texts (simulated SignalWire): {_text_summary(conn)}")
        row = conn.execute(TEXTS_Q["demo_deferred_until"]).fetchone()
        until = row["until"] if row else None
        if until is not None:
            conn.execute(TEXTS_Q["demo_run_deferred_now"])
    if until is not None:
        console.print(f"  the demo moves the send job's clock to {until:%Y-%m-%d %H:%M %Z}")
        jobs({"clock": lambda: until})
    texted = _texts_sent(sms_outbox, seen)
    for text in texted[:3]:
        console.print(f"  text to …{text['to'][-4:]}: {text['body']}", markup=False)
    answers = _simulate_texts(base, secret, texted)
    console.print(f"{answers} homeowners texted back; routing: {jobs(None)} jobs")
    with pool.connection() as conn:
        console.print(f"texts now: {_text_summary(conn)}")


def print_funnel(conn: Conn) -> list[dict[str, Any]]:
    """The funnel table, with each stage's share of the previous one."""
    rows = conn.execute("select stage, leads from funnel() order by stage_order").fetchall()
    table = Table("stage", "leads", "of previous", title="Funnel")
    previous = None
    for r in rows:
        share = f"{100 * r['leads'] / previous:.0f}%" if previous else ""
        table.add_row(r["stage"], f"{r['leads']:,}", share)
        previous = r["leads"] or None
    console.print(table)
    return [dict(r) for r in rows]


def _print_logins(settings: Settings, base: str, ops_key: str, broker_id: Any) -> None:
    console.print(f"\n[bold]dashboard at {base}/dashboard[/bold]")
    console.print(f"log in with the demo ops API key: [bold]{ops_key}[/bold]")
    link = broker_login_link(settings, broker_id)
    if link:
        console.print(f"or as broker {BROKERS[0][0]}: {link}", markup=False, soft_wrap=True)


def run_demo(*, rows: int = 2000, serve: bool = True) -> list[dict[str, Any]]:
    """Run the pipeline end to end with simulators; then serve the dashboard."""
    settings, secret = demo_settings(get_settings())
    log_file = settings.data_dir / "logs" / "demo.log"
    configure_logging(settings.log_level, path=log_file)
    console.print(f"logs (JSON, no PII): {log_file}")
    keyring = load_keyring(settings)
    cipher = PiiCipher(keyring)
    where = "DATABASE_URL" if settings.database_url else f"embedded at {settings.embedded_pgdata}"
    console.print(f"database: {where}")
    warn_brand(settings)
    migrate.migrate(resolve_owner_url(settings))
    url = resolve_database_url(settings)  # the application's login, from here on
    server = BackgroundServer(settings, url)
    server.start()
    base = settings.public_base_url
    outbox = settings.data_dir / "outbox"
    seen_mail = {p.name for p in outbox.glob("*.eml")} if outbox.exists() else set()
    with open_pool(settings.model_copy(update={"pool_max_size": 6}), conninfo=url) as pool:

        def jobs(services: dict[str, Any] | None = None) -> int:
            return run_pending(
                pool,
                registry,
                settings=settings,
                keyring=keyring,
                concurrency=2,
                idle_horizon=3,
                services=services,
            )

        with pool.connection() as conn:
            broker_ids = _ensure_brokers(conn)
            ops_key = _ensure_ops_key(
                conn, secret, settings.data_dir / "keys" / "demo_secrets.json"
            )
        accepted, report, enrichment_jobs = _ingest_demo_file(
            base, secret["upload"], ops_key, generate(rows), jobs
        )
        console.print(
            f"upload: {report['rows']:,} rows → {report['inserted']:,} new leads, "
            f"{report['merged']:,} merged, {report['rejected']:,} rejected"
            + (" (same bytes as before: duplicate)" if accepted["duplicate_upload"] else "")
        )
        if report.get("rejects_command"):
            console.print(f"  rejected rows: {report['rejects_command']}", markup=False)
        console.print(f"ingest, skip-trace, verification and scoring: {enrichment_jobs} jobs")
        today = datetime.now(BUSINESS_TZ).date()
        refresh_run(pool, today)
        feed_run(pool, settings, today)
        console.print(f"feed and push to the (simulated) campaign: {jobs()} jobs")
        with pool.connection() as conn:
            answered = _simulate_answers(conn, cipher, settings, base, secret)
        sms_outbox = outbox / "sms"
        seen_texts = {p.name for p in sms_outbox.glob("*.json")} if sms_outbox.exists() else set()
        console.print(f"{answered} homeowner replies received; routing: {jobs()} jobs")
        _texts_round(
            pool, base=base, secret=secret, sms_outbox=sms_outbox, seen=seen_texts, jobs=jobs
        )
        booked = _book(base, secret, _consent_links(outbox, seen_mail))
        console.print(f"{booked} consents and bookings; processing: {jobs()} jobs")
        with pool.connection() as conn:
            console.print(f"texts after bookings: {_text_summary(conn)}")
        with pool.connection() as conn:
            funnel = print_funnel(conn)
    _print_logins(settings, base, ops_key, broker_ids[0])
    if serve:
        console.print("serving; Ctrl-C to stop")
        server.wait()
    else:
        server.server.should_exit = True
        server.thread.join(10)
    return funnel
