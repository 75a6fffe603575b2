"""SignalWire's messaging webhook: verify, store once, answer in cXML."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import anyio.to_thread
from fastapi import APIRouter, Request
from fastapi.responses import Response

from equity_connect.inbound.service import Stored, store
from equity_connect.replies.schemas import InboundProvider
from equity_connect.security import signatures
from equity_connect.security.crypto import PiiCipher
from equity_connect.sms.inbound import (
    MESSAGE,
    decode_form,
    laml_response,
    message_sid,
    on_receipt,
    reply_for,
)
from equity_connect.web.errors import DomainError
from equity_connect.web.guards import read_capped_body, record_rejection
from equity_connect.web.state import AppState, state_of

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])
PATH = "/signalwire"
XML = "application/xml"

_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Stored (or a duplicate delivery); the cXML answer: a `<Message>` "
        "for HELP, STOP and START, otherwise an empty `<Response/>`",
        "content": {XML: {}},
    },
    400: {"description": "A body that is not a UTF-8 form with unique fields, or no MessageSid"},
    401: {"description": "X-SignalWire-Signature is missing or does not verify"},
    413: {"description": "The body is over the size limit"},
}


def signed_url(state: AppState, request: Request) -> str:
    """The URL SignalWire signed: our public base URL (``EC_PUBLIC_BASE_URL``: behind a
    proxy the request's own host and scheme are the proxy's) with this path and the query
    string as received."""
    url = f"{state.settings.public_base_url.rstrip('/')}{router.prefix}{PATH}"
    query = request.url.query
    return f"{url}?{query}" if query else url


def _keys(state: AppState) -> list[bytes]:
    return signatures.parse_plain_secrets(state.settings.signalwire_signing_keys or "")


@router.post(PATH, responses=_RESPONSES, response_class=Response)
async def signalwire_webhook(request: Request) -> Response:
    """An incoming text (SignalWire's cXML messaging webhook, form-encoded), verified by
    ``X-SignalWire-Signature`` over our public URL and the form; see docs/providers.md."""
    state = state_of(request)
    headers = {k.lower(): v for k, v in request.headers.items()}
    kind = "signalwire_webhook_rejected"
    try:
        body = await read_capped_body(request, state.settings.max_webhook_bytes)
        # Authenticate first (an unsigned body is a 401 whatever it holds), on the form as
        # SignalWire's validator reads it; then decode it strictly.
        signed = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
        signatures.verify_signalwire(
            _keys(state), headers, signed_url(state, request), body, signed
        )
        data = dict(await anyio.to_thread.run_sync(decode_form, body))
        external_id = message_sid(data)
    except signatures.SignatureError as exc:
        await record_rejection(state, request, kind, exc.code, {})
        raise
    except DomainError as exc:
        await record_rejection(state, request, kind, exc.code, {})
        raise

    def save() -> Stored:
        with state.pool.connection() as conn:
            cipher = PiiCipher(state.keyring)
            stored = store(
                conn,
                cipher,
                InboundProvider.SIGNALWIRE,
                external_id=external_id,
                event_type=MESSAGE,
                body=body,
            )
            if not stored.duplicate:
                on_receipt(conn, cipher, data)  # a STOP holds once we answer
            return stored

    stored = await anyio.to_thread.run_sync(save)
    # A duplicate delivery was answered the first time: no second confirmation text.
    reply = None if stored.duplicate else reply_for(state.settings, data)
    return Response(laml_response(reply), media_type=XML)
