"""Store a verified webhook, once, and queue its processing in the same transaction."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass

from equity_connect.db import queries
from equity_connect.db.pool import Conn
from equity_connect.jobs import service as jobs
from equity_connect.replies.schemas import InboundProvider
from equity_connect.security.crypto import PiiCipher, aad_for

Q = queries.load("equity_connect.inbound")
PROCESS_EVENT = "inbound.process_event"
# A btree index entry holds at most ~2.7 KB, so a longer id would make the
# insert fail (a 500, retried by the provider forever); longer ids are kept
# as a readable prefix and the SHA-256 of the whole id, which still dedupes.
MAX_EXTERNAL_ID_CHARS = 200
MAX_EVENT_TYPE_CHARS = 200


@dataclass(frozen=True)
class Stored:
    """The stored event's id, and whether this delivery was a duplicate."""

    event_id: uuid.UUID
    duplicate: bool


def payload_aad(provider: InboundProvider, external_id: str) -> bytes:
    """Associated data of a stored payload: bound to its provider and delivery id."""
    return aad_for("inbound_events", "payload", f"{provider}:{external_id}")


def body_id(body: bytes) -> str:
    """A delivery id for events that carry none: the body's SHA-256."""
    return "sha256:" + hashlib.sha256(body).hexdigest()


def stored_external_id(external_id: str) -> str:
    """The id as stored: itself when short, else a prefix and the whole id's SHA-256."""
    if len(external_id) <= MAX_EXTERNAL_ID_CHARS:
        return external_id
    digest = hashlib.sha256(external_id.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{external_id[:100]}~sha256:{digest}"


def store(
    conn: Conn,
    cipher: PiiCipher,
    provider: InboundProvider,
    *,
    external_id: str,
    event_type: str,
    body: bytes,
) -> Stored:
    """Insert the event unless ``(provider, external_id)`` exists; enqueue its processing.

    A retried or duplicated delivery finds the first one and changes nothing:
    processing happens once, from the job queued with the first.
    """
    external_id = stored_external_id(external_id)
    row = conn.execute(
        Q["store_event"],
        {
            "provider": str(provider),
            "external_id": external_id,
            "event_type": event_type[:MAX_EVENT_TYPE_CHARS],
            "payload": cipher.encrypt(body.decode("utf-8"), payload_aad(provider, external_id)),
        },
    ).fetchone()
    if row is None:
        existing = conn.execute(
            Q["existing_event"], {"provider": str(provider), "external_id": external_id}
        ).fetchone()
        assert existing is not None  # the conflict means it exists
        return Stored(existing["id"], duplicate=True)
    jobs.enqueue(conn, PROCESS_EVENT, {"event_id": str(row["id"])})
    return Stored(row["id"], duplicate=False)
