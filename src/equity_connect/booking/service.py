"""Cal.com booking events: match the booking to its lead, keep the booking, notify the broker.

Cal.com sends each trigger as its own HTTP request, so CREATED, RESCHEDULED and
CANCELLED of one booking can arrive, and be processed, in any order and at
once. Three rules make the outcome the same whatever the order:

* Events touching the same booking uid run one at a time: each takes a
  transaction-scoped advisory lock per uid it touches (``uid`` and, for a
  reschedule, ``rescheduleUid``), in one global order, so no two can deadlock.
  The lock is taken before anything is read, so the second event sees what the
  first committed.
* An event about a booking we do not have yet waits for it
  (:class:`BookingNotYetKnown`, retried with backoff) instead of being ignored,
  unless the event that introduced that booking came and was ignored (it is
  not one of our leads' bookings). A wait that never ends reaches the DLQ with
  its reason when the job's attempts run out.
* A booking's status only moves forward: ``accepted`` → ``rescheduled`` /
  ``cancelled``; a late or replayed event never brings it back. A lead is
  converted while it has an ``accepted`` booking, and only then.

Which uid is which, from cal.com's source (see docs/providers.md (Cal.com)): in
``BOOKING_RESCHEDULED``, ``uid`` is the *new* booking (``evt.uid`` is set from
the booking just created) and ``rescheduleUid`` the *old* one it replaces (the
request's ``rescheduleUid``; the new booking's ``fromReschedule``). Cal.com
sends no ``BOOKING_CANCELLED`` for the old booking: it marks it cancelled
itself and sends only the RESCHEDULED. A later ``BOOKING_CANCELLED`` names the
new booking's uid.
"""

from __future__ import annotations

import random
import uuid
from datetime import datetime
from typing import Any

from equity_connect.config import Settings
from equity_connect.consent.service import Q as CONSENT_Q
from equity_connect.db import queries
from equity_connect.db.locks import LockKey
from equity_connect.db.pool import Conn
from equity_connect.jobs.worker import RetryLater
from equity_connect.normalize.email import normalize_email
from equity_connect.notifications import service as notifications
from equity_connect.replies.routing import Q as REPLIES_Q
from equity_connect.replies.routing import event
from equity_connect.security.crypto import PiiCipher
from equity_connect.sms import service as texts

Q = queries.load("equity_connect.booking")

CREATED = "BOOKING_CREATED"
RESCHEDULED = "BOOKING_RESCHEDULED"
CANCELLED = "BOOKING_CANCELLED"
BOOKING_TRIGGERS = frozenset({CREATED, RESCHEDULED, CANCELLED})

_rng = random.SystemRandom()


class BookingNotYetKnown(RetryLater):
    """The event refers to a Cal.com booking whose own event has not been processed yet."""


def wait_delay(settings: Settings, attempt: int, rng: random.Random = _rng) -> float:
    """Seconds before attempt ``attempt + 1`` of an event that waits for its booking.

    ``base·2^(attempt-1)``, capped, times a factor in [0.5, 1]: "equal" rather
    than full jitter, because a full-jitter draw near zero would spend an
    attempt at once, and the attempts are what bounds the wait.
    """
    nominal = settings.calcom_wait_base_seconds * 2.0 ** min(max(attempt - 1, 0), 32)
    return min(settings.calcom_wait_cap_seconds, nominal) * rng.uniform(0.5, 1.0)


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


# Cal.com uids are short-uuid strings (22 characters); a longer one is not a
# uid, and one over ~2,700 bytes could not even be indexed.
_MAX_UID = 200
_BIGINT = range(-(2**63), 2**63)


def _str(value: object, limit: int = _MAX_UID) -> str | None:
    """A usable text value: a non-empty string PostgreSQL can store (no NUL), not too long."""
    if not isinstance(value, str) or not value or len(value) > limit or "\x00" in value:
        return None
    return value


def _bigint(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or value not in _BIGINT:
        return None
    return value


def _time(value: object) -> datetime | None:
    """An ISO time with its offset (Cal.com sends ``Z`` or ``+00:00``); anything else: None."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.utcoffset() is not None else None


def _match(
    conn: Conn, cipher: PiiCipher, p: dict[str, Any]
) -> tuple[uuid.UUID, uuid.UUID | None] | None:
    """(lead, broker): by the consent token ref in metadata, else by an attendee's email."""
    ref = _dict(p.get("metadata")).get("ec_ref")
    if isinstance(ref, str):
        try:
            token = conn.execute(CONSENT_Q["token_by_id"], {"id": uuid.UUID(ref)}).fetchone()
        except ValueError:
            token = None
        if token is not None:
            return token["lead_id"], token["broker_id"]
    attendees = p.get("attendees")
    for attendee in attendees if isinstance(attendees, list) else []:
        email = normalize_email(
            _dict(attendee).get("email") if isinstance(_dict(attendee).get("email"), str) else None
        )
        if email is None:
            continue
        leads = conn.execute(
            REPLIES_Q["leads_by_email"], {"index": cipher.blind_index("email", email)}
        ).fetchall()
        if leads:
            return leads[0]["id"], leads[0]["assigned_broker_id"]
    return None


def _lock(conn: Conn, uids: list[str]) -> None:
    """Serialize with every other event touching one of ``uids`` (until commit)."""
    keys = conn.execute(Q["booking_lock_keys"], {"uids": uids}).fetchall()
    for row in keys:
        conn.execute(
            Q["lock_booking"], {"namespace": int(LockKey.CALCOM_BOOKING), "key": row["key"]}
        )


def _known(conn: Conn, uid: str) -> dict[str, Any] | None:
    return conn.execute(Q["booking_by_uid"], {"uid": uid}).fetchone()


def _not_ours(conn: Conn, uid: str) -> bool:
    row = conn.execute(Q["introduction_ignored"], {"uid": uid}).fetchone()
    return bool(row and row["ignored"])


def _settle(conn: Conn, lead_id: uuid.UUID) -> None:
    """Converted while the lead has an accepted booking; back to replied when none is left."""
    conn.execute(Q["lock_lead"], {"lead_id": lead_id})
    conn.execute(Q["mark_booked"], {"lead_id": lead_id})
    conn.execute(Q["unbook"], {"lead_id": lead_id})


def handle_calcom(
    conn: Conn,
    cipher: PiiCipher,
    settings: Settings,
    event_type: str,
    payload: dict[str, Any],
    *,
    event_id: uuid.UUID,
    attempt: int = 1,
) -> tuple[str, uuid.UUID | None]:
    """Process one stored Cal.com event; returns (inbound status, lead id).

    Raises :class:`BookingNotYetKnown` (nothing written) when the event needs a
    booking that has not been processed yet; the job retries it later.
    """
    p = _dict(payload.get("payload"))
    uid = _str(p.get("uid"))
    if uid is None or event_type not in BOOKING_TRIGGERS:
        return "ignored", None
    old_uid = _str(p.get("rescheduleUid")) if event_type == RESCHEDULED else None
    if old_uid == uid:
        old_uid = None
    _lock(conn, [u for u in (uid, old_uid) if u])

    delay = wait_delay(settings, attempt)  # if this event has to wait for its booking
    booking = _known(conn, uid)
    if event_type == CANCELLED:
        return _cancel(conn, uid, booking, event_id=event_id, delay=delay)
    matched = _owner(conn, cipher, p, booking, old_uid=old_uid, delay=delay)
    if matched is None:
        return "ignored", None
    lead_id, broker_id = matched
    if old_uid is not None:
        conn.execute(Q["reschedule_old"], {"uid": old_uid})
    row = conn.execute(
        Q["upsert_booking"],
        {
            "lead_id": lead_id,
            "broker_id": broker_id,
            "uid": uid,
            "booking_id": _bigint(p.get("bookingId")),
            "start": _time(p.get("startTime")),
            "end": _time(p.get("endTime")),
            "event_type": _str(p.get("type")),
            "rescheduled_from": old_uid,
        },
    ).fetchone()
    _settle(conn, lead_id)
    rescheduled = event_type == RESCHEDULED
    if row is not None and row["created"]:
        outcome = "rescheduled" if rescheduled else "created"
        event(conn, "booked", outcome, **_common(lead_id, broker_id, event_id))
        # A one-line confirmation by text (once per booking uid; guards at send time).
        texts.queue_text(
            conn, settings, lead_id, texts.BOOKING_CONFIRMATION, f"booked:{uid}", booking_uid=uid
        )
    kind = "booking_rescheduled" if rescheduled else "booking_created"
    _notify(conn, broker_id, lead_id, kind, uid)
    return "processed", lead_id


def _cancel(
    conn: Conn,
    uid: str,
    booking: dict[str, Any] | None,
    *,
    event_id: uuid.UUID,
    delay: float,
) -> tuple[str, uuid.UUID | None]:
    if booking is None:
        if _not_ours(conn, uid):
            return "ignored", None
        raise BookingNotYetKnown(
            f"{CANCELLED} for booking {uid}, which has not been received yet", delay
        )
    lead_id, broker_id = booking["lead_id"], booking["broker_id"]
    changed = conn.execute(Q["cancel_booking"], {"uid": uid}).fetchone() is not None
    _settle(conn, lead_id)
    if changed:
        event(conn, "booked", "cancelled", **_common(lead_id, broker_id, event_id))
    _notify(conn, broker_id, lead_id, "booking_cancelled", uid)
    return "processed", lead_id


def _owner(
    conn: Conn,
    cipher: PiiCipher,
    p: dict[str, Any],
    booking: dict[str, Any] | None,
    *,
    old_uid: str | None,
    delay: float,
) -> tuple[uuid.UUID, uuid.UUID | None] | None:
    """Whose booking this is: the booking's (or the one it replaces) lead, else the payload's."""
    if booking is not None:
        return booking["lead_id"], booking["broker_id"]
    old = _known(conn, old_uid) if old_uid else None
    if old is not None:
        return old["lead_id"], old["broker_id"]
    if old_uid is not None and not _not_ours(conn, old_uid):
        raise BookingNotYetKnown(
            f"{RESCHEDULED} replaces booking {old_uid}, which has not been received yet", delay
        )
    # A new booking, or one replacing a booking that was not a lead's: whose
    # it is comes from the payload.
    return _match(conn, cipher, p)


def _common(lead_id: uuid.UUID, broker_id: uuid.UUID | None, event_id: uuid.UUID) -> dict[str, Any]:
    return {
        "provider": "calcom",
        "lead_id": lead_id,
        "broker_id": broker_id,
        "correlation_id": str(event_id),
    }


def _notify(
    conn: Conn, broker_id: uuid.UUID | None, lead_id: uuid.UUID, kind: str, uid: str
) -> None:
    if broker_id is not None:
        notifications.queue(conn, broker_id, lead_id, kind, f"{kind}:{uid}")
