"""Ops decisions on grey-zone property matches (``match_reviews``).

The ingest never merges a pair scored between the review and merge
thresholds: the row became a lead of its own and the pair waits here. An
ops user decides:

- **apart**: the two leads are different properties. The decision is kept
  for the pair, so a later upload does not ask again, and the ingest never
  joins two existing leads.
- **merge**: the row's lead folds into the other: its lineage moves (match
  key ``probabilistic``), a contact the other lacks moves with it
  (re-encrypted for its new row), and the lead is deleted. Only a lead with
  no history of its own can fold: once it has replies, calls, consent,
  bookings, notes, skip-traced contacts or a campaign feed, merging would
  need reconciling those, and the decision is refused with the reason.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Literal

from equity_connect.db import queries
from equity_connect.db.pool import Conn
from equity_connect.errors import DomainError
from equity_connect.security.crypto import PiiCipher, aad_for

Q = queries.load("equity_connect.matching")

Decision = Literal["apart", "merge"]


class ReviewError(DomainError):
    """A review decision that cannot be taken (unknown, decided, or a lead with history)."""

    def __init__(self, detail: str) -> None:
        super().__init__(409, "review_refused", detail)


@dataclass(frozen=True)
class Decided:
    review_id: int
    status: str
    kept: uuid.UUID
    removed: uuid.UUID | None


def list_reviews(
    conn: Conn, *, status: str | None = "pending", limit: int = 100
) -> list[dict[str, Any]]:
    """Reviews, oldest first (pending ones by default)."""
    return conn.execute(Q["reviews"], {"status": status, "limit": limit}).fetchall()


def _history(conn: Conn, lead_id: uuid.UUID) -> list[str]:
    found = conn.execute(Q["lead_history"], {"id": lead_id}).fetchone()
    assert found is not None  # scalar subqueries always return a row
    reasons = [
        name for name in ("replies", "consents", "bookings", "notes", "contacts") if found[name]
    ]
    if found["fed"]:
        reasons.append("campaign feed")
    return reasons


def _move_contacts(conn: Conn, cipher: PiiCipher, source: uuid.UUID, target: uuid.UUID) -> None:
    rows = {r["id"]: r for r in conn.execute(Q["merge_pii_source"], {"ids": [source, target]})}
    src, dst = rows[source], rows[target]
    for channel, query in (("email", "set_lead_email"), ("phone", "set_lead_phone")):
        ciphertext = src[f"{channel}_ciphertext"]
        if ciphertext is None or dst[f"{channel}_ciphertext"] is not None:
            continue  # the kept lead's own contact wins, as in an ingest merge
        # Ciphertext is bound to its row (associated data): re-encrypt it for the kept lead.
        plain = cipher.decrypt(bytes(ciphertext), aad_for("leads", channel, source))
        moved = cipher.encrypt(plain, aad_for("leads", channel, target))
        # The deleted lead releases the (unique) blind index first.
        conn.execute(Q[query], {"id": source, "ciphertext": None, "index": None})
        conn.execute(
            Q[query], {"id": target, "ciphertext": moved, "index": src[f"{channel}_index"]}
        )


def decide(
    conn: Conn, cipher: PiiCipher, review_id: int, decision: Decision, *, who: str
) -> Decided:
    """Record an ops decision on a pending review, and carry out a merge."""
    review = conn.execute(Q["review_for_update"], {"id": review_id}).fetchone()
    if review is None:
        raise ReviewError(f"review {review_id} does not exist: list them with `matching reviews`")
    if review["status"] != "pending":
        raise ReviewError(f"review {review_id} was already decided ({review['status']})")
    lead, other = review["lead_id"], review["other_lead_id"]
    if decision == "apart":
        conn.execute(Q["decide_review"], {"id": review_id, "status": "apart", "who": who})
        return Decided(review_id, "apart", lead, None)
    history = _history(conn, lead)
    if history:
        raise ReviewError(
            f"lead {lead} already has {', '.join(history)} of its own, so it cannot be folded into "
            f"{other}; keep them apart, or reconcile them by hand"
        )
    conn.execute(Q["decide_review"], {"id": review_id, "status": "merged", "who": who})
    _move_contacts(conn, cipher, lead, other)
    conn.execute(Q["move_lineage"], {"from": lead, "into": other})
    conn.execute(Q["delete_lead"], {"id": lead})
    return Decided(review_id, "merged", other, lead)
