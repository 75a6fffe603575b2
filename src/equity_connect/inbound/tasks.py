"""Process a stored webhook event, once, in one transaction with its effects."""

from __future__ import annotations

import json
import uuid
from typing import Any

from equity_connect.booking.service import handle_calcom
from equity_connect.calls.service import handle_vapi
from equity_connect.config import Settings
from equity_connect.inbound.service import PROCESS_EVENT, Q, payload_aad
from equity_connect.jobs.registry import TaskContext, registry
from equity_connect.notifications.mailer import mailer_for
from equity_connect.replies.llm import LlmClassifier
from equity_connect.replies.schemas import InboundProvider
from equity_connect.replies.service import handle_instantly
from equity_connect.security.crypto import PiiCipher


def llm_for(settings: Settings) -> LlmClassifier | None:
    """The optional LLM classifier, when an endpoint is configured."""
    if not (settings.llm_base_url and settings.llm_api_key):
        return None
    return LlmClassifier(
        settings.llm_base_url,
        settings.llm_api_key,
        settings.llm_model,
        timeout=settings.llm_timeout_seconds,
    )


@registry.task(PROCESS_EVENT)
def process_event(ctx: TaskContext, args: dict[str, Any]) -> None:
    """Route one inbound event. The row lock and status check make a re-run a no-op."""
    event_id = uuid.UUID(args["event_id"])
    cipher = PiiCipher(ctx.keyring)
    with ctx.pool.connection() as conn:
        ev = conn.execute(Q["load_event"], {"id": event_id}).fetchone()
        if ev is None or ev["status"] != "received":
            return
        provider = InboundProvider(ev["provider"])
        body = cipher.decrypt(ev["payload_ciphertext"], payload_aad(provider, ev["external_id"]))
        payload = json.loads(body)
        if provider is InboundProvider.INSTANTLY:
            status, lead_id = handle_instantly(
                conn,
                cipher,
                ctx.settings,
                ev["event_type"],
                payload,
                event_id=event_id,
                mailer=ctx.services.get("mailer") or mailer_for(ctx.settings),
                llm=ctx.services.get("llm") or llm_for(ctx.settings),
            )
        elif provider is InboundProvider.VAPI:
            status, lead_id = handle_vapi(
                conn, cipher, ctx.settings, ev["event_type"], payload, event_id=event_id
            )
        else:
            status, lead_id = handle_calcom(
                conn,
                cipher,
                ctx.settings,
                ev["event_type"],
                payload,
                event_id=event_id,
                attempt=ctx.attempt,
            )
        conn.execute(
            Q["finish_event"], {"id": event_id, "status": status, "lead_id": lead_id, "error": None}
        )
