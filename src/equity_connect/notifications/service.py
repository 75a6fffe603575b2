"""Tell a broker something happened to one of their leads: email (SMTP) and/or webhook.

Queued in the transaction of the event that causes it (deduplicated by key),
sent by a job with the queue's retries. The message names the lead and links
to it; it carries no contact details (those stay behind the broker's login).
"""

from __future__ import annotations

import uuid
from email.message import EmailMessage
from typing import Any

import httpx

from equity_connect.config import Settings
from equity_connect.db import queries
from equity_connect.db.pool import Conn
from equity_connect.jobs import service as jobs
from equity_connect.notifications.mailer import Mailer, mailer_for

Q = queries.load("equity_connect.notifications")
SEND = "notifications.send_notification"

SUBJECTS = {
    "reply_interested": "A homeowner is interested",
    "reply_question": "A homeowner has a question",
    "booking_created": "New booking",
    "booking_rescheduled": "Booking rescheduled",
    "booking_cancelled": "Booking cancelled",
}


def queue(
    conn: Conn, broker_id: uuid.UUID, lead_id: uuid.UUID | None, kind: str, dedupe_key: str
) -> int | None:
    """Queue a notification (once per ``dedupe_key``) and its sending job."""
    row = conn.execute(
        Q["queue_notification"],
        {"broker_id": broker_id, "lead_id": lead_id, "kind": kind, "dedupe_key": dedupe_key},
    ).fetchone()
    if row is None:
        return None
    jobs.enqueue(conn, SEND, {"notification_id": row["id"]})
    return int(row["id"])


def compose(n: dict[str, Any], settings: Settings) -> EmailMessage:
    """The email to the broker."""
    msg = EmailMessage()
    msg["Subject"] = SUBJECTS.get(n["kind"], n["kind"].replace("_", " "))
    msg["From"] = settings.smtp_from
    msg["To"] = n["broker_email"]
    place = ", ".join(p for p in (n["property_city"], n["property_state"]) if p)
    link = f"{settings.public_base_url.rstrip('/')}/dashboard/leads/{n['lead_id']}"
    msg.set_content(
        f"Hello {n['broker_name']},\n\n"
        f"{msg['Subject']}: {n['owner_first_name'] or 'a homeowner'}"
        f"{f' in {place}' if place else ''}.\n"
        f"Open the lead: {link}\n"
    )
    return msg


def send(
    conn: Conn, settings: Settings, notification_id: int, *, mailer: Mailer | None = None
) -> str:
    """Send one notification by email and, if the broker has one, webhook.

    A channel failure raises, and the job retries.
    """
    n = conn.execute(Q["load_notification"], {"id": notification_id}).fetchone()
    if n is None or n["status"] == "sent":
        return "sent" if n else "missing"
    (mailer or mailer_for(settings)).send(compose(n, settings))
    if n["notify_webhook_url"]:
        response = httpx.post(
            n["notify_webhook_url"],
            json={"kind": n["kind"], "lead_id": str(n["lead_id"]), "broker": n["broker_name"]},
            timeout=10,
        )
        response.raise_for_status()
    conn.execute(Q["mark_notification"], {"id": notification_id, "status": "sent", "error": None})
    return "sent"
