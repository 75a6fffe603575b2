"""``calcom setup``: each broker's Cal.com event types and webhook, through API v2.

Brokers map to Cal.com **users, one API key each** (``EC_CALCOM_API_KEYS``: a
JSON object, broker e-mail -> key). Why: our brokers are independent loan
officers whose calendars, availability and booking pages are their own Cal.com
accounts; a v2 API key acts as exactly one user, and what it creates (event
types, a user webhook) belongs to that user, so one broker's key can never
touch another's calendar. Cal.com's alternatives need plans we do not assume:
*managed users* belong to a Platform OAuth client (users without their own
Cal.com login), and organization-admin keys need an Organizations plan. Either
fits later by swapping the client's key per broker.

For every broker with a key, idempotently:

* the plan's event types ``equity-call``, ``follow-up``, ``doc-review`` with
  the minutes of ``EC_CALCOM_EVENT_DURATIONS``: created when missing, the
  duration updated in place (same id, same booking URL) when it differs, else
  left alone;
* one webhook on the broker's account for BOOKING_CREATED/RESCHEDULED/CANCELLED
  to ``EC_PUBLIC_BASE_URL/v1/webhooks/calcom``, with a secret we generate and
  store encrypted (``calcom_webhooks``); the inbound verifier accepts it;
* the broker's booking link (``brokers.calcom_event_url``, what the consent
  page sends homeowners to) becomes the ``equity-call`` event type's URL.

``dry_run`` makes only GET requests and writes nothing. The caller owns the
transaction (one per broker in the CLI, committed after that broker's calls).
A run cut short is simply run again: what is already right is left alone.
"""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

from equity_connect.booking.client import CalcomApiError, EventType, Me, Webhook
from equity_connect.config import Settings
from equity_connect.db import queries
from equity_connect.db.pool import Conn
from equity_connect.security.crypto import PiiCipher, aad_for

Q = queries.load("equity_connect.booking")

WEBHOOK_PATH = "/v1/webhooks/calcom"
TRIGGERS = ("BOOKING_CREATED", "BOOKING_RESCHEDULED", "BOOKING_CANCELLED")
# The plan's event types: slug -> (title, description shown on the booking page).
PLAN_EVENT_TYPES: dict[str, tuple[str, str]] = {
    "equity-call": ("Home equity call", "A first call about your home's equity options."),
    "follow-up": ("Follow-up", "A follow-up on your home equity questions."),
    "doc-review": ("Document review", "We go through your documents together."),
}
BOOKING_SLUG = "equity-call"

Action = Literal["create", "update", "unchanged", "skip"]


class CalcomAccount(Protocol):
    """One broker's Cal.com account: the real API v2 client, or ``SimulatedCalcom``."""

    def close(self) -> None: ...
    def me(self) -> Me: ...
    def event_type(self, username: str, slug: str) -> EventType | None: ...
    def create_event_type(
        self, slug: str, title: str, minutes: int, description: str
    ) -> EventType: ...
    def set_length(self, event_type_id: int, minutes: int) -> EventType: ...
    def webhooks(self) -> list[Webhook]: ...
    def create_webhook(self, url: str, triggers: list[str], secret: str) -> Webhook: ...
    def update_webhook(
        self, webhook_id: str, url: str, triggers: list[str], secret: str
    ) -> Webhook: ...


class SetupConfigError(Exception):
    """The set-up's settings are wrong; the message names the variable."""


@dataclass(frozen=True)
class Change:
    """One line of the report: what happened (or would, in a dry run) to what."""

    broker: str
    item: str
    action: Action
    detail: str = ""


@dataclass(frozen=True)
class EventTypeSpec:
    slug: str
    title: str
    description: str
    minutes: int


def event_type_specs(settings: Settings) -> list[EventTypeSpec]:
    """The plan's event types with the minutes of ``EC_CALCOM_EVENT_DURATIONS``."""
    minutes: dict[str, int] = {}
    for entry in (e.strip() for e in settings.calcom_event_durations.split(",")):
        if not entry:
            continue
        slug, sep, value = entry.partition("=")
        slug = slug.strip()
        if not sep or slug not in PLAN_EVENT_TYPES:
            raise SetupConfigError(
                f"EC_CALCOM_EVENT_DURATIONS: {entry!r} is not slug=minutes for one of "
                + ", ".join(PLAN_EVENT_TYPES)
            )
        try:
            n = int(value)
        except ValueError:
            n = 0
        if not 1 <= n <= 720:
            raise SetupConfigError(f"EC_CALCOM_EVENT_DURATIONS: {slug} minutes must be 1-720")
        minutes[slug] = n
    missing = [s for s in PLAN_EVENT_TYPES if s not in minutes]
    if missing:
        raise SetupConfigError(f"EC_CALCOM_EVENT_DURATIONS has no minutes for {', '.join(missing)}")
    return [EventTypeSpec(s, t, d, minutes[s]) for s, (t, d) in PLAN_EVENT_TYPES.items()]


def api_keys(settings: Settings) -> dict[str, str]:
    """``EC_CALCOM_API_KEYS`` as broker e-mail (lower-cased) -> API key."""
    raw = settings.calcom_api_keys
    if not raw:
        raise SetupConfigError(
            'EC_CALCOM_API_KEYS is not set: give a JSON object {"broker@email": "cal_live_..."}'
        )
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = None
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and v for k, v in value.items()
    ):
        raise SetupConfigError(
            "EC_CALCOM_API_KEYS must be a JSON object of broker e-mail to non-empty API key"
        )
    return {k.strip().lower(): v for k, v in value.items()}


def subscriber_url(settings: Settings) -> str:
    """Where Cal.com delivers: our public base URL and the Cal.com receiver's path."""
    return settings.public_base_url.rstrip("/") + WEBHOOK_PATH


def booking_url(settings: Settings, username: str, slug: str) -> str:
    """A Cal.com event type's public page: ``<booking base>/<username>/<slug>``."""
    return f"{settings.calcom_booking_base_url.rstrip('/')}/{username}/{slug}"


def _secret_aad(broker_id: uuid.UUID) -> bytes:
    return aad_for("calcom_webhooks", "secret", broker_id)


def stored_secrets(conn: Conn, cipher: PiiCipher) -> list[bytes]:
    """Every broker's stored webhook secret, decrypted, for X-Cal-Signature-256."""
    return [
        cipher.decrypt(r["secret_ciphertext"], _secret_aad(r["broker_id"])).encode()
        for r in conn.execute(Q["calcom_webhook_secrets"])
    ]


def setup_broker(
    conn: Conn,
    cipher: PiiCipher,
    settings: Settings,
    *,
    broker: dict[str, object],
    api: CalcomAccount,
    specs: list[EventTypeSpec],
    dry_run: bool,
) -> list[Change]:
    """One broker's event types, booking link and webhook (see the module docstring)."""
    label = str(broker["email"])
    broker_id = broker["id"]
    assert isinstance(broker_id, uuid.UUID)
    changes: list[Change] = []
    me = api.me()

    link: str | None = None
    for spec in specs:
        found = api.event_type(me.username, spec.slug)
        item = f"event type {spec.slug}"
        url = booking_url(settings, me.username, spec.slug)
        if spec.slug == BOOKING_SLUG:
            link = url
        if found is None:
            changes.append(Change(label, item, "create", f"{spec.minutes} min"))
            if dry_run:
                continue
            found = api.create_event_type(spec.slug, spec.title, spec.minutes, spec.description)
        elif found.length_minutes != spec.minutes:
            detail = f"{found.length_minutes} -> {spec.minutes} min"
            changes.append(Change(label, item, "update", detail))
            if not dry_run:
                found = api.set_length(found.id, spec.minutes)
        else:
            changes.append(Change(label, item, "unchanged", f"{spec.minutes} min"))
        if not dry_run:
            conn.execute(
                Q["save_calcom_event_type"],
                {
                    "broker_id": broker_id,
                    "slug": spec.slug,
                    "event_type_id": found.id,
                    "length_minutes": found.length_minutes,
                    "booking_url": url,
                },
            )

    if link is not None:
        current = broker.get("calcom_event_url")
        action: Action = "unchanged" if current == link else "update"
        changes.append(Change(label, "booking link", action, link))
        if action == "update" and not dry_run:
            conn.execute(Q["set_broker_booking_link"], {"broker_id": broker_id, "url": link})

    changes.append(
        _webhook(
            conn,
            cipher,
            settings,
            broker_id=broker_id,
            user_id=me.id,
            label=label,
            api=api,
            dry_run=dry_run,
        )
    )
    return changes


def _webhook(
    conn: Conn,
    cipher: PiiCipher,
    settings: Settings,
    *,
    broker_id: uuid.UUID,
    user_id: int,
    label: str,
    api: CalcomAccount,
    dry_run: bool,
) -> Change:
    url = subscriber_url(settings)
    row = conn.execute(Q["calcom_webhook_of"], {"broker_id": broker_id}).fetchone()
    stored = cipher.decrypt(row["secret_ciphertext"], _secret_aad(broker_id)) if row else None
    secret = stored or secrets.token_urlsafe(32)
    ours: Webhook | None = next((w for w in api.webhooks() if w.subscriber_url == url), None)
    item = f"webhook {url}"
    if ours is None:
        action: Action = "create"
        detail = ", ".join(TRIGGERS)
    else:
        reasons = []
        if ours.triggers != frozenset(TRIGGERS):
            reasons.append("triggers")
        if not ours.active:
            reasons.append("inactive")
        if stored is None:
            reasons.append("no stored secret")
        elif ours.secret is not None and ours.secret != stored:
            reasons.append("secret differs")
        action = "update" if reasons else "unchanged"
        detail = ", ".join(reasons) if reasons else ", ".join(TRIGGERS)
    if dry_run or action == "unchanged":
        return Change(label, item, action, detail)
    if ours is None:
        ours = api.create_webhook(url, list(TRIGGERS), secret)
    else:
        ours = api.update_webhook(ours.id, url, list(TRIGGERS), secret)
    conn.execute(
        Q["save_calcom_webhook"],
        {
            "broker_id": broker_id,
            "calcom_user_id": user_id,
            "webhook_id": ours.id,
            "subscriber_url": url,
            "secret": cipher.encrypt(secret, _secret_aad(broker_id)),
        },
    )
    return Change(label, item, action, detail)


def setup(
    conn: Conn,
    cipher: PiiCipher,
    settings: Settings,
    api_for: Callable[[str], CalcomAccount],
    *,
    dry_run: bool = False,
    commit: Callable[[], None] = lambda: None,
    keys: dict[str, str] | None = None,
) -> list[Change]:
    """Every active broker, in e-mail order; ``commit`` runs after each broker's changes.

    A broker without a key is reported and skipped; a Cal.com failure for one
    broker raises :class:`CalcomApiError` after the brokers before it were
    committed (running again resumes).
    """
    specs = event_type_specs(settings)
    keys = api_keys(settings) if keys is None else keys
    changes: list[Change] = []
    for broker in conn.execute(Q["setup_brokers"]).fetchall():
        key = keys.get(str(broker["email"]).lower())
        if key is None:
            changes.append(Change(str(broker["email"]), "broker", "skip", "no API key"))
            continue
        api = api_for(key)
        try:
            changes += setup_broker(
                conn, cipher, settings, broker=broker, api=api, specs=specs, dry_run=dry_run
            )
        except CalcomApiError as exc:
            raise CalcomApiError(f"{broker['email']}: {exc}") from None
        finally:
            api.close()
        if not dry_run:
            commit()
    return changes
