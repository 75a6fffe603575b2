"""SignalWire's Compatibility (LaML) Messaging API for sending texts, and an offline simulator.

``POST {space}/api/laml/2010-04-01/Accounts/{ProjectID}/Messages.json``, form-encoded
``To``, ``From``, ``Body`` (and ``StatusCallback``), HTTP Basic auth with the project id
as user name and an API token as password; the answer is a Message resource whose
``sid`` names the message (SignalWire's Compatibility API reference, "Create a Message";
docs/providers.md (SignalWire) says why this API and not ``/api/messaging/messages``).
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol
from urllib.parse import quote

import httpx

from equity_connect.config import Settings
from equity_connect.outbound.http import ProviderClient, utc_now
from equity_connect.outbound.retry import (
    MalformedResponse,
    ProviderError,
    ProviderUnavailable,
    classify_response,
    classify_transport_error,
    decode_json,
)

PROVIDER = "signalwire"
API_VERSION = "2010-04-01"


@dataclass(frozen=True)
class SentText:
    """The message SignalWire queued: its ``sid`` and status."""

    sid: str
    status: str | None


class SendUncertain(ProviderUnavailable):
    """The request may have reached SignalWire but no answer came back (a read timeout, a
    connection cut mid-exchange): the text may or may not have gone out. Never retried, so
    a homeowner is not texted twice; the message is marked ``uncertain``."""

    default_retryable = False


class TextSender(Protocol):
    """Sends one text or raises a ``ProviderError``."""

    name: str

    def send_text(self, to: str, body: str) -> SentText:
        """Queue ``body`` to ``to`` (E.164)."""
        ...


# Failures before the request could have left us: nothing was sent, a retry is safe.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


class SignalWireClient(ProviderClient):
    """Sends texts from one of the project's numbers. The API token is sent only in the
    ``Authorization`` header; never in a repr, a log or an error."""

    def __init__(
        self,
        project_id: str,
        api_token: str,
        *,
        space_url: str,
        from_number: str,
        status_callback: str | None = None,
        timeout: float = 15,
        client: httpx.Client | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        for name, value in (
            ("project_id", project_id),
            ("api_token", api_token),
            ("space_url", space_url),
            ("from_number", from_number),
        ):
            if not value or not value.strip():
                raise ValueError(f"{name} is required")
        self._auth = httpx.BasicAuth(project_id, api_token)
        self._from = from_number
        self._status_callback = status_callback
        base = space_url.rstrip("/")
        if "://" not in base:  # the dashboard shows the space as "example.signalwire.com"
            base = f"https://{base}"
        self.url = (
            f"{base}/api/laml/{API_VERSION}/Accounts/{quote(project_id, safe='')}/Messages.json"
        )
        super().__init__(PROVIDER, timeout=timeout, client=client, clock=clock)

    def __repr__(self) -> str:
        return f"SignalWireClient(url={self.url!r})"

    def send_text(self, to: str, body: str) -> SentText:
        """Create one message. Raises ``SendUncertain`` when the outcome is unknown, and the
        typed ``ProviderError``s of ``outbound.retry`` otherwise (a 429 or 5xx answer
        means SignalWire refused it: retryable; other 4xx: not)."""
        form = {"To": to, "From": self._from, "Body": body}
        if self._status_callback:
            form["StatusCallback"] = self._status_callback
        failure: ProviderError | None = None
        try:
            response = self._client.post(
                self.url, data=form, auth=self._auth, headers={"Accept": "application/json"}
            )
        except _NOT_SENT as exc:
            failure = classify_transport_error(self.name, exc)
        except httpx.RequestError as exc:
            failure = SendUncertain(self.name, f"no answer after sending ({type(exc).__name__})")
        if failure is not None:  # raised outside the except: the httpx error holds the auth header
            raise failure
        error = classify_response(self.name, response, self._clock())
        if error is not None:
            raise error
        return parse_message(decode_json(PROVIDER, response))


def parse_message(payload: object) -> SentText:
    """A ``SentText`` from the Message resource (``sid`` is the one field we need)."""
    if not isinstance(payload, dict):
        raise MalformedResponse(PROVIDER, "the created message is not an object")
    sid = payload.get("sid")
    if not isinstance(sid, str) or not sid:
        raise MalformedResponse(PROVIDER, "the created message has no sid")
    status = payload.get("status")
    return SentText(sid, status if isinstance(status, str) else None)


# --- the simulator -------------------------------------------------------------------

#: What simulated homeowners text back, chosen by their number (deterministic).
SIMULATED_REPLIES = (
    "Thanks, I'll open the link tonight.",
    "HELP",
    "Yes, please have the broker call me tomorrow afternoon.",
    "STOP",
)


@dataclass
class SimulatedSignalWire:
    """An offline stand-in for SignalWire (demo, tests). Texts no one.

    ``send_text`` answers like ``POST …/Messages.json`` and writes the message to the
    simulated outbox (``outbox/sms/*.json``, owner-only, since it holds a phone number and
    a consent link). ``homeowner_reply`` builds the cXML messaging webhook SignalWire would
    then post when the homeowner answers: the documented form parameters, in order.
    """

    outbox: Path
    project_id: str = "00000000-0000-4000-8000-000000000000"
    from_number: str = "+15055550100"
    name: str = PROVIDER
    sent: list[dict[str, str]] = field(default_factory=list)

    def send_text(self, to: str, body: str) -> SentText:
        """Record the text in the outbox and answer with a queued message."""
        sid = str(uuid.uuid4())
        record = {"sid": sid, "to": to, "from": self.from_number, "body": body}
        self.outbox.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self.outbox / f"{time.time_ns()}-{sid[:8]}.json"
        path.write_text(json.dumps(record))
        path.chmod(0o600)
        self.sent.append(record)
        return SentText(sid, "queued")

    def homeowner_reply(self, to_homeowner: str, *, text: str | None = None) -> dict[str, str]:
        """The inbound webhook's form parameters for the homeowner at ``to_homeowner``
        answering; ``text`` pins the answer, otherwise one of ``SIMULATED_REPLIES`` chosen
        by the number (the same number always answers the same)."""
        if text is None:
            pick = hashlib.sha256(to_homeowner.encode()).digest()[0] % len(SIMULATED_REPLIES)
            text = SIMULATED_REPLIES[pick]
        sid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"sms-reply:{to_homeowner}:{text}"))
        return {
            "MessageSid": sid,
            "SmsSid": sid,
            "AccountSid": self.project_id,
            "From": to_homeowner,
            "To": self.from_number,
            "Body": text,
            "NumMedia": "0",
            "NumSegments": "1",
            "SmsStatus": "received",
            "ApiVersion": API_VERSION,
        }


def sender_for(settings: Settings, *, data_dir: Path | None = None) -> TextSender:
    """The configured sender: SignalWire, or the simulator writing to the data folder."""
    if settings.sms_provider == "signalwire":
        return SignalWireClient(
            settings.signalwire_project_id or "",
            settings.signalwire_api_token or "",
            space_url=settings.signalwire_space_url or "",
            from_number=settings.signalwire_from_number or "",
            timeout=settings.sms_timeout_seconds,
        )
    return SimulatedSignalWire((data_dir or settings.data_dir) / "outbox" / "sms")


def now_utc() -> datetime:
    """The default clock of the send job (tests inject their own)."""
    return datetime.now(UTC)
