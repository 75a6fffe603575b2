"""``SimulatedCalcom``: a deterministic, in-memory Cal.com account for the demo.

Same methods as :class:`~equity_connect.booking.client.CalcomApi`, no network.
The account of a key is derived from the key itself (same key, same user), and
accounts live for the process, so `calcom setup --simulate` run twice in one
demo changes nothing the second time, as against Cal.com.
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass, field

from equity_connect.booking.client import CalcomApiError, EventType, Me, Webhook


@dataclass
class _Account:
    me: Me
    event_types: dict[str, EventType] = field(default_factory=dict)
    webhooks: dict[str, Webhook] = field(default_factory=dict)


_accounts: dict[str, _Account] = {}
_ids = itertools.count(1)


class SimulatedCalcom:
    """One simulated broker account (see the module docstring)."""

    def __init__(self, api_key: str) -> None:
        digest = hashlib.sha256(api_key.encode()).hexdigest()
        user_id = int(digest[:8], 16)
        self._account = _accounts.setdefault(
            api_key, _Account(Me(id=user_id, username=f"sim-{digest[:8]}", email=""))
        )

    def close(self) -> None:
        """Nothing to close."""

    def me(self) -> Me:
        """The simulated user."""
        return self._account.me

    def event_type(self, username: str, slug: str) -> EventType | None:
        """The user's event type with ``slug``, if created."""
        return (
            self._account.event_types.get(slug) if username == self._account.me.username else None
        )

    def create_event_type(self, slug: str, title: str, minutes: int, description: str) -> EventType:
        """A new event type (refused, like Cal.com, for a slug the user has)."""
        if slug in self._account.event_types:
            raise CalcomApiError("Cal.com (simulated) refused a duplicate slug")
        created = EventType(id=next(_ids), slug=slug, title=title, length_minutes=minutes)
        self._account.event_types[slug] = created
        return created

    def set_length(self, event_type_id: int, minutes: int) -> EventType:
        """The duration changed in place."""
        for slug, et in self._account.event_types.items():
            if et.id == event_type_id:
                changed = EventType(id=et.id, slug=slug, title=et.title, length_minutes=minutes)
                self._account.event_types[slug] = changed
                return changed
        raise CalcomApiError(f"Cal.com (simulated) has no event type {event_type_id}")

    def webhooks(self) -> list[Webhook]:
        """The user's webhooks."""
        return list(self._account.webhooks.values())

    def create_webhook(self, url: str, triggers: list[str], secret: str) -> Webhook:
        """A new active webhook."""
        hook = Webhook(f"sim-webhook-{next(_ids)}", url, frozenset(triggers), True, secret)
        self._account.webhooks[hook.id] = hook
        return hook

    def update_webhook(
        self, webhook_id: str, url: str, triggers: list[str], secret: str
    ) -> Webhook:
        """The webhook, changed in place."""
        hook = Webhook(webhook_id, url, frozenset(triggers), True, secret)
        self._account.webhooks[webhook_id] = hook
        return hook
