"""VAPI's API for starting calls (``POST /call``), and an offline simulator of it.

Request and response are VAPI's ``CreateCallDto`` and ``Call`` (VapiAI/server-sdk-python
``src/vapi/calls/raw_client.py`` ``create``, ``src/vapi/types/call.py``); the key is
sent as ``Authorization: Bearer`` (``core/client_wrapper.py``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from equity_connect.outbound.http import ProviderClient, utc_now
from equity_connect.outbound.retry import MalformedResponse, decode_json

PROVIDER = "vapi"
CREATE_CALL_PATH = "/call"


@dataclass(frozen=True)
class StartedCall:
    """The call VAPI created: its id names it in every later server message."""

    call_id: str
    status: str | None


class VapiClient(ProviderClient):
    """Starts outbound calls. The key is sent only in ``Authorization``; never in a repr,
    a log or an error."""

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str,
        timeout: float = 15,
        client: httpx.Client | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        if not api_key or not api_key.strip():
            raise ValueError("api_key is required")
        self._api_key = api_key
        self._url = base_url.rstrip("/") + CREATE_CALL_PATH
        super().__init__(PROVIDER, timeout=timeout, client=client, clock=clock)

    def __repr__(self) -> str:
        return f"VapiClient(url={self._url!r})"

    def create_call(self, body: dict[str, Any]) -> StartedCall:
        """Create one call from a ``CreateCallDto`` (see ``calls.service.prepare_call``).

        Raises the typed ``ProviderError``s of ``outbound.retry`` (401/403 auth, 429
        rate limit with Retry-After, 5xx unavailable, other 4xx rejected) and
        ``MalformedResponse`` for a 2xx body that is not a ``Call``.
        """
        headers = {"Authorization": f"Bearer {self._api_key}", "Accept": "application/json"}
        response, error = self.post_json(self._url, body, headers)
        if error is not None:
            raise error
        return parse_call(decode_json(PROVIDER, response))


def parse_call(payload: object) -> StartedCall:
    """A ``StartedCall`` from the decoded ``Call`` (``id`` is its one required string)."""
    if not isinstance(payload, dict):
        raise MalformedResponse(PROVIDER, "the created call is not an object")
    call_id = payload.get("id")
    if not isinstance(call_id, str) or not call_id:
        raise MalformedResponse(PROVIDER, "the created call has no id")
    status = payload.get("status")
    return StartedCall(call_id, status if isinstance(status, str) else None)


# --- the simulator ---------------------------------------------------------------------


@dataclass
class SimulatedVapi:
    """An offline stand-in for VAPI (demo, tests). Calls no one.

    ``create_call`` answers like ``POST /call``; ``end_of_call_report`` builds the
    server message VAPI would then send, in the shape of ``ServerMessageEndOfCallReport``:
    the ``Call`` echoes the request's ``assistantId``, ``assistantOverrides`` and
    ``customer`` (VAPI's ``Call`` has no ``metadata``), and the outcome is in
    ``analysis`` and ``artifact`` as VAPI puts it.
    """

    org_id: str = "simulated-org"
    created: dict[str, dict[str, Any]] = field(default_factory=dict)

    def create_call(self, body: dict[str, Any], *, call_id: str | None = None) -> StartedCall:
        """Record the call; ``call_id`` pins the id (the demo re-runs idempotently)."""
        cid = call_id or str(uuid.uuid4())
        self.created[cid] = body
        return StartedCall(cid, "queued")

    def end_of_call_report(
        self,
        call_id: str,
        *,
        assistant_said: str,
        homeowner_said: str,
        summary: str,
        structured_data: dict[str, Any],
        ended_reason: str = "customer-ended-call",
    ) -> dict[str, Any]:
        """The ``{"message": ServerMessageEndOfCallReport}`` body for a created call."""
        body = self.created[call_id]
        now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        call = {
            "id": call_id,
            "orgId": self.org_id,
            "createdAt": now,
            "updatedAt": now,
            "type": "outboundPhoneCall",
            "status": "ended",
            "endedReason": ended_reason,
            "assistantId": body.get("assistantId"),
            "assistantOverrides": body.get("assistantOverrides", {}),
            "phoneNumberId": body.get("phoneNumberId"),
            "customer": body.get("customer", {}),
        }
        return {
            "message": {
                "type": "end-of-call-report",
                "timestamp": int(datetime.now(UTC).timestamp() * 1000),
                "endedReason": ended_reason,
                "call": call,
                "customer": body.get("customer", {}),
                "artifact": {
                    "transcript": f"AI: {assistant_said}\nUser: {homeowner_said}\n",
                    "messages": [
                        {
                            "role": "bot",
                            "message": assistant_said,
                            "time": 0,
                            "endTime": 1,
                            "secondsFromStart": 0,
                        },
                        {
                            "role": "user",
                            "message": homeowner_said,
                            "time": 1,
                            "endTime": 2,
                            "secondsFromStart": 1,
                        },
                    ],
                },
                "analysis": {"summary": summary, "structuredData": structured_data},
            }
        }
