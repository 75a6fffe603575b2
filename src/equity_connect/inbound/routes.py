"""Webhook receivers: verify the provider's scheme on the raw body, store once, 2xx fast.

Processing happens in a job queued in the same transaction as the insert,
so the provider gets its answer in milliseconds and a retry or duplicate
delivery is acknowledged without doing anything twice.
"""

from __future__ import annotations

import time
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from equity_connect.booking import webhook_secrets as calcom_webhook_secrets
from equity_connect.calls import answers as vapi_answers
from equity_connect.calls import credentials as vapi_credential_settings
from equity_connect.config import Settings
from equity_connect.inbound.decode import decode_body
from equity_connect.inbound.service import MAX_EVENT_TYPE_CHARS, Stored, body_id, store
from equity_connect.replies.schemas import InboundProvider
from equity_connect.security import signatures
from equity_connect.security.crypto import PiiCipher
from equity_connect.web.errors import DomainError
from equity_connect.web.guards import read_capped_body, record_rejection
from equity_connect.web.state import AppState, state_of

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])

_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "Stored (or a duplicate delivery, acknowledged and ignored)"},
    400: {
        "description": "A missing/malformed signature header, or a body that is not a UTF-8 "
        "JSON object within the limits of inbound/decode.py (the error names which)"
    },
    401: {"description": "The signature or shared secret does not verify"},
    413: {"description": "The body is over the size limit"},
}


async def _receive(
    request: Request,
    provider: InboundProvider,
    verify: Any,
    identify: Any,
    answer: Any = None,
) -> JSONResponse:
    state = state_of(request)
    headers = {k.lower(): v for k, v in request.headers.items()}
    kind = f"{provider}_webhook_rejected"
    try:
        body = await read_capped_body(request, state.settings.max_webhook_bytes)
        # In a worker thread: Cal.com's verifier may read its stored secrets from the database.
        await anyio.to_thread.run_sync(verify, state, headers, body)
        # Off the event loop: a large body takes a while to check and parse.
        data = await anyio.to_thread.run_sync(decode_body, body)
        external_id, event_type = identify(data, body)
        # A message the provider waits on gets its answer (decided before storing,
        # so a refusal stores nothing); every other one the stored acknowledgement.
        reply = await anyio.to_thread.run_sync(answer, state, data) if answer else None
    except signatures.SignatureError as exc:
        await record_rejection(state, request, kind, exc.code, {})
        raise
    except DomainError as exc:
        await record_rejection(state, request, kind, exc.code, {})
        raise

    def save() -> Stored:
        with state.pool.connection() as conn:
            return store(
                conn,
                PiiCipher(state.keyring),
                provider,
                external_id=external_id,
                event_type=event_type,
                body=body,
            )

    stored = await anyio.to_thread.run_sync(save)
    if reply is not None:
        return JSONResponse(reply)
    return JSONResponse(
        {
            "status": "duplicate" if stored.duplicate else "stored",
            "event_id": str(stored.event_id),
            "event_type": event_type[:MAX_EVENT_TYPE_CHARS],
        }
    )


def _secrets(value: str | None) -> list[bytes]:
    # Instantly sends the header value exactly as typed in the subscription.
    return signatures.parse_plain_secrets(value or "")


def _verify_instantly(state: AppState, headers: dict[str, str], body: bytes) -> None:
    signatures.verify_shared_secret(
        _secrets(state.settings.instantly_webhook_secrets),
        headers,
        header_name=state.settings.instantly_webhook_header,
    )


def _identify_instantly(data: dict[str, Any], body: bytes) -> tuple[str, str]:
    event_type = data.get("event_type")
    if not isinstance(event_type, str) or not event_type:
        raise DomainError(400, "malformed_event", "event_type is missing")
    # email_id names the email the event is about; one email can have several
    # events (a reply, then an "interested" label), hence the type in the key.
    email_id = data.get("email_id")
    ref = str(email_id) if isinstance(email_id, str | int) and email_id else body_id(body)
    return f"{event_type}:{ref}", event_type


# The settings a VAPI credential depends on; their values key the parsed credentials.
_VAPI_AUTH_SETTINGS = tuple(
    name
    for name in Settings.model_fields
    if name in ("vapi_secrets", "vapi_auth", "vapi_credentials")
    or name.startswith(("vapi_bearer_", "vapi_hmac_"))
)
_vapi_credential_cache: dict[tuple[object, ...], list[signatures.VapiCredential]] = {}


def vapi_credentials(state: AppState) -> list[signatures.VapiCredential]:
    """The VAPI credentials the settings configure (several at once during a rotation).

    Parsed once per distinct configuration, not per request; ``create_app``
    parses them at start-up so a configuration error stops the server there.
    """
    s = state.settings
    key = tuple(getattr(s, name) for name in _VAPI_AUTH_SETTINGS)
    found = _vapi_credential_cache.get(key)
    if found is None:
        found = vapi_credential_settings.vapi_credentials(s)
        if len(_vapi_credential_cache) > 16:  # tests build many apps; keep it bounded
            _vapi_credential_cache.clear()
        _vapi_credential_cache[key] = found
    return found


def _verify_vapi(state: AppState, headers: dict[str, str], body: bytes) -> None:
    # {url} in an HMAC payload format is the URL VAPI posted to: our public one.
    url = f"{state.settings.public_base_url.rstrip('/')}{router.prefix}/vapi"
    signatures.verify_vapi_credentials(
        vapi_credentials(state),
        headers,
        body,
        now=time.time(),
        tolerance=state.settings.signature_tolerance_seconds,
        url=url,
    )


def _identify_vapi(data: dict[str, Any], body: bytes) -> tuple[str, str]:
    message = data.get("message")
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        raise DomainError(400, "malformed_event", "message.type is missing")
    event_type: str = message["type"]
    call = message.get("call")
    call_id = call.get("id") if isinstance(call, dict) else None
    if not isinstance(call_id, str) or not call_id:
        return f"{event_type}:{body_id(body)}", event_type
    suffix = f":{message.get('status')}" if event_type == "status-update" else ""
    if event_type == "tool-calls":  # several per call: one per tool call batch
        calls = message.get("toolCallList")
        first = calls[0] if isinstance(calls, list) and calls else None
        tool_call_id = first.get("id") if isinstance(first, dict) else None
        suffix = f":{tool_call_id}" if isinstance(tool_call_id, str) else f":{body_id(body)}"
    return f"{event_type}:{call_id}{suffix}", event_type


def _verify_calcom(state: AppState, headers: dict[str, str], body: bytes) -> None:
    # Cal.com signs with the secret exactly as typed: no whsec_ decoding, no comma split.
    # EC_CALCOM_SECRETS (set by hand) and the secrets `calcom setup` stored both count.
    configured = signatures.parse_literal_secrets(state.settings.calcom_secrets or "")
    stored = calcom_webhook_secrets.for_pool(state.pool, state.keyring)
    try:
        signatures.verify_calcom(configured + stored.current(), headers, body)
    except signatures.SignatureError as exc:
        fresh = stored.reloaded() if exc.status == 401 else None
        if fresh is None:
            raise
        signatures.verify_calcom(configured + fresh, headers, body)


def _identify_calcom(data: dict[str, Any], body: bytes) -> tuple[str, str]:
    trigger = data.get("triggerEvent")
    if not isinstance(trigger, str) or not trigger:
        raise DomainError(400, "malformed_event", "triggerEvent is missing")
    payload = data.get("payload")
    uid = payload.get("uid") if isinstance(payload, dict) else None
    if not isinstance(uid, str) or not uid:
        return f"{trigger}:{body_id(body)}", trigger
    return f"{trigger}:{uid}", trigger


@router.post("/instantly", responses=_RESPONSES)
async def instantly_webhook(request: Request) -> JSONResponse:
    """Instantly events (replies, unsubscribes, bounces…), authenticated by the shared secret
    header configured on the subscription (Instantly signs nothing)."""
    return await _receive(
        request, InboundProvider.INSTANTLY, _verify_instantly, _identify_instantly
    )


def _answer_vapi(state: AppState, data: dict[str, Any]) -> dict[str, Any] | None:
    # Runs in a worker thread: an assistant-request reads (and may write) the database.
    message: dict[str, Any] = data["message"]
    if message.get("type") == "assistant-request" and state.settings.vapi_assistant_id:
        with state.pool.connection() as conn:
            return vapi_answers.assistant_for_caller(
                conn, PiiCipher(state.keyring), state.settings, message
            )
    return vapi_answers.answer(state.settings, message)


_VAPI_RESPONSES: dict[int | str, dict[str, Any]] = {
    **_RESPONSES,
    200: {
        "description": "Stored; or, for assistant-request, tool-calls, "
        "transfer-destination-request and knowledge-base-request, the answer VAPI expects "
        '(`{"assistantId": …}`, `{"results": [{"toolCallId": …, "error": …}]}`, …)'
    },
    422: {"description": "assistant-request while EC_VAPI_ASSISTANT_ID is not set"},
}


@router.post("/vapi", responses=_VAPI_RESPONSES)
async def vapi_webhook(request: Request) -> JSONResponse:
    """VAPI server messages (end-of-call-report, status-update, assistant-request, tool-calls…);
    see docs/providers.md (VAPI) for what is read and answered."""
    return await _receive(request, InboundProvider.VAPI, _verify_vapi, _identify_vapi, _answer_vapi)


@router.post("/calcom", responses=_RESPONSES)
async def calcom_webhook(request: Request) -> JSONResponse:
    """Cal.com booking events, verified by ``X-Cal-Signature-256`` over the raw body."""
    return await _receive(request, InboundProvider.CALCOM, _verify_calcom, _identify_calcom)
