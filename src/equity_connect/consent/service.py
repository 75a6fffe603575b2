"""Consent tokens: a random nonce in the homeowner's link, only its hash stored.

Single use, expiring, bound to lead and broker. Redeeming records the
consent on the lead and an append-only consent record with the disclosure
version and where it came from (IP and user agent of a click, or a call id).
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from urllib.parse import urlencode

from equity_connect.db import queries
from equity_connect.db.pool import Conn
from equity_connect.errors import DomainError
from equity_connect.replies.schemas import ConsentMethod

Q = queries.load("equity_connect.consent")

# The text a homeowner agrees to (its version is EC_DISCLOSURE_VERSION): the consent page
# shows it, and the MCP server offers it as a resource.
DISCLOSURE = (
    "By clicking “I agree”, you agree that {brokerage} and its licensed loan officers may call and "
    "text you at the number you gave us, including with automated technology, about home-equity "
    "products. Consent is not a condition of any purchase. You can revoke it at any time by "
    "replying STOP or telling us on a call."
)
_NONCE_BYTES = 32


def nonce_hash(nonce: str) -> bytes:
    """SHA-256 of the nonce. Unkeyed is enough here: 256 random bits cannot be guessed."""
    return hashlib.sha256(nonce.encode()).digest()


@dataclass(frozen=True)
class IssuedToken:
    """A new token: ``nonce`` goes to the homeowner (only once), ``token_id`` is a public ref."""

    token_id: uuid.UUID
    nonce: str
    expires_at: datetime


@dataclass(frozen=True)
class Redeemed:
    """A successful redemption."""

    token_id: uuid.UUID
    lead_id: uuid.UUID
    broker_id: uuid.UUID | None
    record_id: int
    consented_at: datetime


def issue(
    conn: Conn, lead_id: uuid.UUID, broker_id: uuid.UUID | None, *, ttl_hours: int
) -> IssuedToken:
    """Create a token for the lead and broker; the nonce is never stored."""
    nonce = secrets.token_urlsafe(_NONCE_BYTES)
    row = conn.execute(
        Q["issue_token"],
        {
            "lead_id": lead_id,
            "broker_id": broker_id,
            "nonce_hash": nonce_hash(nonce),
            "ttl_hours": ttl_hours,
        },
    ).fetchone()
    assert row is not None  # INSERT … RETURNING
    return IssuedToken(row["id"], nonce, row["expires_at"])


def consent_link(base_url: str, nonce: str) -> str:
    """The link the homeowner opens to see the disclosure and consent."""
    return f"{base_url.rstrip('/')}/v1/consent/{nonce}"


def redeem(
    conn: Conn,
    nonce: str,
    *,
    method: ConsentMethod,
    disclosure_version: str,
    expected_lead_id: uuid.UUID | None = None,
    source_ip: str | None = None,
    user_agent: str | None = None,
    call_id: str | None = None,
) -> Redeemed:
    """Use a token once and record the consent; a clear refusal otherwise.

    404 unknown (forged) token, 410 expired, 409 already used, 403 bound to
    another lead than the one redeeming it (e.g. a call about another lead).
    """
    digest = nonce_hash(nonce)
    row = conn.execute(
        Q["redeem_token"], {"nonce_hash": digest, "lead_id": expected_lead_id}
    ).fetchone()
    if row is None:
        state = conn.execute(Q["token_state"], {"nonce_hash": digest}).fetchone()
        if state is None:
            raise DomainError(404, "unknown_token", "this consent link is not valid")
        if state["used_at"] is not None:
            raise DomainError(409, "token_used", "this consent link was already used")
        if state["expired"]:
            raise DomainError(410, "token_expired", "this consent link has expired")
        raise DomainError(403, "token_other_lead", "this consent link belongs to another lead")
    record = conn.execute(
        Q["record_consent"],
        {
            "lead_id": row["lead_id"],
            "broker_id": row["broker_id"],
            "token_id": row["id"],
            "method": str(method),
            "disclosure_version": disclosure_version,
            "source_ip": source_ip,
            "user_agent": (user_agent or "")[:500] or None,
            "call_id": call_id,
        },
    ).fetchone()
    assert record is not None  # INSERT … RETURNING
    conn.execute(
        Q["set_lead_consent"],
        {"lead_id": row["lead_id"], "at": record["consented_at"], "method": str(method)},
    )
    return Redeemed(
        row["id"], row["lead_id"], row["broker_id"], record["id"], record["consented_at"]
    )


def booking_link(calcom_event_url: str, token_id: uuid.UUID) -> str:
    """The broker's Cal.com event URL, carrying the token's public id in booking metadata.

    Cal.com copies ``metadata[...]`` query parameters into the booking's
    metadata, which comes back in the BOOKING_CREATED webhook: that is how a
    booking finds its lead. The id is a reference, not the secret nonce.
    """
    separator = "&" if "?" in calcom_event_url else "?"
    return f"{calcom_event_url}{separator}{urlencode({'metadata[ec_ref]': str(token_id)})}"


@dataclass(frozen=True)
class LinkState:
    """What a consent link is, as the page shows it before the homeowner clicks."""

    status: Literal["open", "unknown", "used", "expired"]
    broker_name: str | None = None


def link_state(conn: Conn, nonce: str) -> LinkState:
    """Whether the link can still be used, and the loan officer it is from (viewing uses
    nothing: only ``redeem`` does)."""
    row = conn.execute(Q["link_state"], {"nonce_hash": nonce_hash(nonce)}).fetchone()
    if row is None:
        return LinkState("unknown")
    if row["used_at"] is not None:
        return LinkState("used", row["broker_name"])
    if row["expired"]:
        return LinkState("expired", row["broker_name"])
    return LinkState("open", row["broker_name"])
