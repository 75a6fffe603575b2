"""Text jobs."""

from __future__ import annotations

from typing import Any

from equity_connect.config import Settings
from equity_connect.db.pool import Conn
from equity_connect.jobs.registry import TaskContext, registry
from equity_connect.jobs.worker import PermanentJobError
from equity_connect.security.crypto import PiiCipher
from equity_connect.sms.client import now_utc, sender_for
from equity_connect.sms.service import SEND, Q, send_text


@registry.task(SEND)
def send_text_job(ctx: TaskContext, args: dict[str, Any]) -> None:
    """Send one text, or defer it to the next allowed time (retried by the queue on a
    provider failure that surely sent nothing).

    ``ctx.services`` may carry ``sms_sender`` (a sender to use) and ``clock`` (tests).
    """
    sender = ctx.services.get("sms_sender") or sender_for(ctx.settings)
    clock = ctx.services.get("clock") or now_utc
    try:
        send_text(
            ctx.pool,
            PiiCipher(ctx.keyring),
            ctx.settings,
            int(args["message_id"]),
            sender,
            clock=clock,
        )
    except ValueError as exc:  # a SignalWire setting is missing: fix it, then replay
        raise PermanentJobError(f"texts are not configured: {exc}") from None


_REQUIRED = ("space_url", "project_id", "api_token", "from_number")


@registry.preflight
def _signalwire_configured(conn: Conn, settings: Settings) -> str | None:
    """Refuse to start a worker that would send through SignalWire without its settings."""
    if settings.sms_provider != "signalwire":
        return None
    missing = [n for n in _REQUIRED if not getattr(settings, f"signalwire_{n}")]
    if not missing:
        return None
    queued = conn.execute(Q["queued_texts"]).fetchone()
    if queued is None or not queued["n"]:
        return None
    names = ", ".join(f"EC_SIGNALWIRE_{n.upper()}" for n in missing)
    return f"EC_SMS_PROVIDER=signalwire but {names} is not set: set it, or unset EC_SMS_PROVIDER"
