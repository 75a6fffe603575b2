"""Cal.com API v2: the few calls `calcom setup` makes, with one broker's API key.

Shapes from cal.com's source (``apps/api/v2``; see
tests/fixtures/providers/calcom/SOURCE.md): ``Authorization: Bearer <key>``;
every answer is ``{"status": "success", "data": ...}``; the event-type routes
are versioned and need ``cal-api-version: 2024-06-14`` (``lengthInMinutes``,
``slug``, ``title``); webhooks are unversioned (``subscriberUrl``,
``triggers``, ``active``, ``secret``). Failures become :class:`CalcomApiError`
with one sentence that never carries the API key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

EVENT_TYPES_VERSION = "2024-06-14"


class CalcomApiError(Exception):
    """A Cal.com API call failed; the message says which, why and what to check."""


@dataclass(frozen=True)
class Me:
    """The Cal.com user an API key belongs to."""

    id: int
    username: str
    email: str


@dataclass(frozen=True)
class EventType:
    id: int
    slug: str
    title: str
    length_minutes: int


@dataclass(frozen=True)
class Webhook:
    id: str
    subscriber_url: str
    triggers: frozenset[str]
    active: bool
    secret: str | None  # Cal.com returns it on its own user's webhooks; None if not


class CalcomApi:
    """One broker's Cal.com account."""

    def __init__(
        self, base_url: str, api_key: str, *, timeout: float, client: httpx.Client | None = None
    ) -> None:
        self._base = base_url.rstrip("/")
        self._owns = client is None
        self._client = client or httpx.Client(timeout=timeout)
        self._auth = {"Authorization": f"Bearer {api_key}"}

    def close(self) -> None:
        """Close the HTTP client if this object made it."""
        if self._owns:
            self._client.close()

    def _call(
        self,
        method: str,
        path: str,
        *,
        versioned: bool = False,
        body: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
        missing_ok: bool = False,
    ) -> Any:
        headers = dict(self._auth)
        if versioned:
            headers["cal-api-version"] = EVENT_TYPES_VERSION
        what = f"{method} {path}"
        try:
            response = self._client.request(
                method, self._base + path, headers=headers, json=body, params=params
            )
        except httpx.HTTPError as exc:
            raise CalcomApiError(
                f"Cal.com {what} failed ({type(exc).__name__}): check EC_CALCOM_API_BASE_URL "
                "and the network"
            ) from None
        if missing_ok and response.status_code == 404:
            return None  # v2 answers an empty event-type list with 404 "Event types not found"
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if response.status_code >= 400 or not isinstance(payload, dict):
            raise CalcomApiError(
                f"Cal.com {what} answered {response.status_code}{_reason(payload)}: "
                + _advice(response.status_code)
            )
        if payload.get("status") != "success" or "data" not in payload:
            raise CalcomApiError(f"Cal.com {what} answered without a success envelope")
        return payload["data"]

    def me(self) -> Me:
        """``GET /v2/me``: whose key this is."""
        d = _obj(self._call("GET", "/v2/me"), "GET /v2/me")
        return Me(id=int(d["id"]), username=str(d["username"]), email=str(d.get("email", "")))

    def event_type(self, username: str, slug: str) -> EventType | None:
        """``GET /v2/event-types?username=&eventSlug=``: the user's event type with ``slug``."""
        data = self._call(
            "GET",
            "/v2/event-types",
            versioned=True,
            params={"username": username, "eventSlug": slug},
            missing_ok=True,
        )
        for item in data if isinstance(data, list) else []:
            if isinstance(item, dict) and item.get("slug") == slug:
                return _event_type(item)
        return None

    def create_event_type(self, slug: str, title: str, minutes: int, description: str) -> EventType:
        """``POST /v2/event-types``."""
        body = {
            "title": title,
            "slug": slug,
            "lengthInMinutes": minutes,
            "description": description,
        }
        return _event_type(self._call("POST", "/v2/event-types", versioned=True, body=body))

    def set_length(self, event_type_id: int, minutes: int) -> EventType:
        """``PATCH /v2/event-types/{id}``: only the duration changes."""
        path = f"/v2/event-types/{event_type_id}"
        return _event_type(
            self._call("PATCH", path, versioned=True, body={"lengthInMinutes": minutes})
        )

    def webhooks(self) -> list[Webhook]:
        """``GET /v2/webhooks``: the user's webhooks (up to 250, Cal.com's default page)."""
        data = self._call("GET", "/v2/webhooks", params={"skip": "0", "take": "250"})
        return [_webhook(w) for w in data if isinstance(w, dict)] if isinstance(data, list) else []

    def create_webhook(self, url: str, triggers: list[str], secret: str) -> Webhook:
        """``POST /v2/webhooks``."""
        body = {"subscriberUrl": url, "triggers": triggers, "active": True, "secret": secret}
        return _webhook(self._call("POST", "/v2/webhooks", body=body))

    def update_webhook(
        self, webhook_id: str, url: str, triggers: list[str], secret: str
    ) -> Webhook:
        """``PATCH /v2/webhooks/{id}``."""
        body = {"subscriberUrl": url, "triggers": triggers, "active": True, "secret": secret}
        return _webhook(self._call("PATCH", f"/v2/webhooks/{webhook_id}", body=body))


def _reason(payload: Any) -> str:
    error = payload.get("error") if isinstance(payload, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    return f" ({str(message)[:200]})" if message else ""


def _advice(status: int) -> str:
    if status in (401, 403):
        return "check that broker's Cal.com API key in EC_CALCOM_API_KEYS"
    if status == 429:
        return "Cal.com is rate-limiting: run `calcom setup` again in a minute"
    if status >= 500:
        return "Cal.com is failing: run `calcom setup` again later (it resumes)"
    return "the request was refused; nothing further was changed for this broker"


def _obj(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise CalcomApiError(f"Cal.com {what} answered data that is not an object")
    return value


def _event_type(value: Any) -> EventType:
    d = _obj(value, "event-types")
    try:
        return EventType(
            id=int(d["id"]),
            slug=str(d["slug"]),
            title=str(d.get("title", "")),
            length_minutes=int(d["lengthInMinutes"]),
        )
    except (KeyError, TypeError, ValueError):
        raise CalcomApiError(
            "Cal.com answered an event type without id, slug or lengthInMinutes"
        ) from None


def _webhook(value: Any) -> Webhook:
    d = _obj(value, "webhooks")
    try:
        return Webhook(
            id=str(d["id"]),
            subscriber_url=str(d["subscriberUrl"]),
            triggers=frozenset(str(t) for t in d.get("triggers") or []),
            active=bool(d.get("active")),
            secret=d["secret"] if isinstance(d.get("secret"), str) else None,
        )
    except (KeyError, TypeError):
        raise CalcomApiError("Cal.com answered a webhook without id or subscriberUrl") from None
