"""Process a stored webhook event, once, in one transaction with its effects.

An event whose content cannot be processed (it does not decode, or a
handler trips over a value of an unexpected type) fails the same way on
every attempt, so it is not retried: the event is marked ``failed`` with the
reason and its job goes to the DLQ once. Replaying the DLQ entry after a
code fix processes it, since a failed event is processed again.
"""

from __future__ import annotations

import uuid
from typing import Any

import psycopg

from equity_connect.booking.service import handle_calcom
from equity_connect.calls.service import handle_vapi
from equity_connect.config import Settings
from equity_connect.errors import DomainError
from equity_connect.inbound.decode import decode_body
from equity_connect.inbound.service import PROCESS_EVENT, Q, payload_aad
from equity_connect.jobs.registry import TaskContext, registry
from equity_connect.jobs.worker import PermanentJobError
from equity_connect.notifications.mailer import mailer_for
from equity_connect.replies.llm import LlmClassifier
from equity_connect.replies.schemas import InboundProvider
from equity_connect.replies.service import handle_instantly
from equity_connect.security.crypto import PiiCipher
from equity_connect.sms.inbound import decode_form, handle_signalwire


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


# Failures that come from the event's content and so recur on every attempt:
# our refusals, a handler meeting a value of a type it did not expect
# (``"attendees": 5``), a value PostgreSQL refuses (a DataError, a CHECK or
# NOT NULL). Connection losses, deadlocks, unique and foreign-key races,
# provider and SMTP errors are not among them: they pass, and are retried.
CONTENT_ERRORS: tuple[type[Exception], ...] = (
    DomainError,
    TypeError,
    AttributeError,
    LookupError,
    ValueError,
    ArithmeticError,
    psycopg.DataError,
    psycopg.errors.CheckViolation,
    psycopg.errors.NotNullViolation,
)
# A failed event is processed again when its DLQ entry is replayed.
PROCESSABLE = ("received", "failed")


def content_failure(exc: Exception) -> str:
    """The reason stored on a failed event and in the DLQ; never the data itself."""
    if isinstance(exc, DomainError):
        return f"{exc.code}: {exc.detail}"[:500]
    # Other messages can quote the payload (PII), so only the type is kept.
    return f"{type(exc).__name__} processing the event (message withheld: it may quote data)"


@registry.task(PROCESS_EVENT)
def process_event(ctx: TaskContext, args: dict[str, Any]) -> None:
    """Route one inbound event; mark it failed, and bury its job, if its content cannot be."""
    event_id = uuid.UUID(args["event_id"])
    try:
        _process_event(ctx, event_id)
    except CONTENT_ERRORS as exc:
        reason = content_failure(exc)
        # The handler's writes were rolled back with its transaction; this
        # one records the failure, unless another run processed the event meanwhile.
        with ctx.pool.connection() as conn:
            conn.execute(Q["fail_event"], {"id": event_id, "error": reason})
        # The reason first: `dlq list` shows the first 80 characters.
        raise PermanentJobError(f"{reason}; inbound event {event_id}") from exc


def _process_event(ctx: TaskContext, event_id: uuid.UUID) -> None:
    """Route one inbound event. The row lock and status check make a re-run a no-op."""
    cipher = PiiCipher(ctx.keyring)
    with ctx.pool.connection() as conn:
        ev = conn.execute(Q["load_event"], {"id": event_id}).fetchone()
        if ev is None or ev["status"] not in PROCESSABLE:
            return
        provider = InboundProvider(ev["provider"])
        body = cipher.decrypt(ev["payload_ciphertext"], payload_aad(provider, ev["external_id"]))
        if provider is InboundProvider.SIGNALWIRE:  # a form, not JSON
            payload: dict[str, Any] = dict(decode_form(body.encode("utf-8")))
        else:
            payload = decode_body(body.encode("utf-8"))
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
        elif provider is InboundProvider.SIGNALWIRE:
            status, lead_id = handle_signalwire(
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
