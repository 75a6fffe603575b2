"""Answers to the VAPI server messages that expect one.

VAPI waits for a response body only for ``assistant-request``, ``tool-calls``,
``transfer-destination-request`` and ``knowledge-base-request`` (VapiAI/docs
``fern/server-url/events.mdx``); every other message is acknowledged as stored.
The shapes are VAPI's ``ServerMessageResponse*`` types (VapiAI/server-sdk-python
``src/vapi/types/server_message_response_*.py``, ``tool_call_result.py``).
"""

from __future__ import annotations

from typing import Any

from equity_connect.calls.message import CONSENT_TOKEN_KEY, LEAD_ID_KEY
from equity_connect.config import Settings
from equity_connect.consent import service as consent
from equity_connect.db import queries
from equity_connect.db.pool import Conn
from equity_connect.errors import DomainError
from equity_connect.normalize.phone import to_e164
from equity_connect.security.crypto import PiiCipher

Q = queries.load("equity_connect.calls")

ANSWERED_TYPES = frozenset(
    {"assistant-request", "tool-calls", "transfer-destination-request", "knowledge-base-request"}
)


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _tool_calls(message: dict[str, Any]) -> list[tuple[str, str]]:
    """(toolCallId, function name) of each call in ``toolCallList``.

    The SDK's ``ToolCall`` is ``{id, type, function: {name, arguments}}``; the
    docs' example puts ``name`` on the call itself; both are read.
    """
    calls = message.get("toolCallList")
    if not isinstance(calls, list):
        return []
    out = []
    for raw in calls:
        call = _dict(raw)
        call_id = call.get("id")
        if not isinstance(call_id, str) or not call_id:
            continue
        name = _dict(call.get("function")).get("name") or call.get("name")
        out.append((call_id, name if isinstance(name, str) else ""))
    return out


def answer(settings: Settings, message: dict[str, Any]) -> dict[str, Any] | None:
    """The body VAPI expects for ``message``, or None for a message it does not wait on.

    - ``assistant-request`` → ``{"assistantId": EC_VAPI_ASSISTANT_ID}``; without
      that setting, a 422 (give the phone number an assistant in VAPI, or set it).
    - ``tool-calls`` → one ``ToolCallResult`` per call with an ``error``: this
      service runs no tools, so the assistant hears that the tool failed instead
      of waiting for a result that never comes.
    - ``transfer-destination-request`` → ``{"error": …}`` (we give no destination).
    - ``knowledge-base-request`` → ``{"documents": []}`` (we hold no knowledge base).
    """
    kind = message.get("type")
    if kind == "assistant-request":
        if not settings.vapi_assistant_id:
            raise DomainError(
                422,
                "vapi_assistant_not_configured",
                "assistant-request needs an assistant: set EC_VAPI_ASSISTANT_ID, or give the "
                "VAPI phone number an assistant so VAPI does not ask this server",
            )
        return {"assistantId": settings.vapi_assistant_id}
    if kind == "tool-calls":
        return {
            "results": [
                {
                    "name": name,
                    "toolCallId": call_id,
                    "error": f"equity-connect runs no tool {name!r}; "
                    "give this tool its own server URL",
                }
                for call_id, name in _tool_calls(message)
            ]
        }
    if kind == "transfer-destination-request":
        return {"error": "equity-connect gives no transfer destinations"}
    if kind == "knowledge-base-request":
        return {"documents": []}
    return None


def assistant_for_caller(
    conn: Conn, cipher: PiiCipher, settings: Settings, message: dict[str, Any]
) -> dict[str, Any]:
    """``assistant-request`` for an inbound call, with the caller's lead on the call.

    When ``customer.number`` is a lead's, the answer carries ``assistantOverrides.metadata``
    with its ``lead_id`` and, unless the lead may not be contacted, a fresh
    ``consent_token``, exactly as an outbound call does (``calls.service.prepare_call``),
    so the end-of-call report can record voice consent. One indexed read and at
    most one insert: well inside VAPI's 7.5 s.
    """
    reply = answer(settings, message)
    assert reply is not None  # an assistant-request always has an answer or raises
    number = _dict(message.get("customer")).get("number") or _dict(
        _dict(message.get("call")).get("customer")
    ).get("number")
    phone = to_e164(number) if isinstance(number, str) else None
    if phone is None:
        return reply
    lead = conn.execute(Q["caller_lead"], {"index": cipher.blind_index("phone", phone)}).fetchone()
    if lead is None:
        return reply
    metadata: dict[str, str] = {LEAD_ID_KEY: str(lead["id"])}
    if not lead["forbidden"]:
        token = consent.issue(
            conn, lead["id"], lead["assigned_broker_id"], ttl_hours=settings.consent_ttl_hours
        )
        metadata[CONSENT_TOKEN_KEY] = token.nonce
    return {**reply, "assistantOverrides": {"metadata": metadata}}
