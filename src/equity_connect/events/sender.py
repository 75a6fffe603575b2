"""Sending one delivery: at most one HTTP attempt per job, never blocking on a broken endpoint.

A job runs :func:`deliver` for one delivery id:

1. In a short transaction: lock the delivery; skip it if it is finished, not
   due (another job is queued for it) or leased (an attempt is in flight).
   If the endpoint's breaker is open, move the delivery to when it closes
   and queue a job then: no request, no attempt spent, no thread held. After
   the cool-down one delivery becomes the probe (the breaker is re-armed so
   the others keep waiting). Otherwise lease the delivery and count the attempt.
2. Outside any transaction: sign and POST the event (one timeout bounds it).
3. In a second transaction: log the attempt; on a 2xx the delivery is done
   and the breaker reset; otherwise the breaker counts the failure and the
   delivery is retried after exponential backoff with full jitter (or the
   receiver's ``Retry-After`` on 429/503), as a new job queued in the same
   transaction, until its attempts are spent: then it is ``failed``, kept in
   the delivery log for ops to replay. It never reaches the DLQ (a dead
   endpoint would otherwise feed ``dlq.added`` events about itself).

The event id, and so ``webhook-id``, is the same on every attempt and
replay, so a receiver that deduplicates on it sees each event once even if a
worker dies between the receiver's 2xx and our commit.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
from psycopg_pool import ConnectionPool

from equity_connect.audit.service import audit
from equity_connect.auth.principal import Principal
from equity_connect.config import Settings
from equity_connect.db.pool import Conn
from equity_connect.events.schemas import webhook_id
from equity_connect.events.service import DELIVER_TASK, Q, endpoint_secret, policy_of
from equity_connect.events.signer import signed_headers
from equity_connect.events.targets import TargetPolicy, guarded_client
from equity_connect.jobs import service as jobs
from equity_connect.jobs.worker import RetryLater
from equity_connect.outbound.retry import backoff_delay, parse_retry_after
from equity_connect.security.crypto import DecryptionError, Keyring, PiiCipher
from equity_connect.security.pii import lead_contact

_log = logging.getLogger(__name__)
_rng = random.SystemRandom()
SENDER = Principal("ops", "worker:events")
USER_AGENT = "equity-connect-events/1"

# One client per (policy, timeout), shared by the worker's threads (httpx
# clients are thread-safe): connections to a receiver are reused.
_clients: dict[tuple[TargetPolicy, float], httpx.Client] = {}
_clients_lock = threading.Lock()


def _client(policy: TargetPolicy, timeout: float) -> httpx.Client:
    with _clients_lock:
        client = _clients.get((policy, timeout))
        if client is None:
            client = _clients[(policy, timeout)] = guarded_client(policy, timeout)
        return client


def retry_delay(
    settings: Settings, attempt: int, retry_after: float | None, rng: random.Random
) -> float:
    """Seconds before the next attempt after failed attempt number ``attempt`` (1-based).

    Full-jitter exponential backoff; a receiver's ``Retry-After`` is a floor
    (plus a little jitter so receivers told one instant are not hit at once),
    never shortened to the backoff cap: a receiver asking for two hours gets two hours,
    and the wait only delays its own deliveries.
    """
    base, cap = settings.events_backoff_base_seconds, settings.events_backoff_cap_seconds
    if retry_after is not None:
        return retry_after + rng.uniform(0.0, min(base, 1.0))
    return backoff_delay(max(0, attempt - 1), base=base, cap=cap, rng=rng)


def _contact(conn: Conn, cipher: PiiCipher, lead_id: uuid.UUID) -> dict[str, Any] | None:
    row = conn.execute(Q["lead_contact"], {"id": lead_id}).fetchone()
    if row is None:
        return None
    return {
        "first_name": row["owner_first_name"],
        "last_name": row["owner_last_name"],
        "email": lead_contact(cipher, row, "email"),
        "phone": lead_contact(cipher, row, "phone"),
        "property_address": row["property_address"],
        "property_unit": row["property_unit"],
        "property_city": row["property_city"],
        "property_state": row["property_state"],
        "property_zip": row["property_zip"],
    }


def body_of(d: dict[str, Any], contact: dict[str, Any] | None) -> bytes:
    """The JSON body: the event envelope, plus the lead's contact only where allowed."""
    data = dict(d["data"])
    if contact is not None:
        data["contact"] = contact
    envelope = {
        "id": webhook_id(d["event_id"]),
        "type": d["event_type"],
        "timestamp": d["occurred_at"].astimezone(UTC).isoformat(),
        "data": data,
    }
    return json.dumps(envelope, separators=(",", ":"), sort_keys=True).encode()


def _prepare(
    pool: ConnectionPool[Conn], settings: Settings, delivery_id: int, rng: random.Random
) -> dict[str, Any] | str:
    """Step 1: the leased delivery to send, or the outcome when nothing is sent now."""
    with pool.connection() as conn:
        d = conn.execute(Q["take_delivery"], {"id": delivery_id}).fetchone()
        if d is None or d["status"] != "pending" or d["not_due"]:
            return "skipped"  # gone, finished, or another job is queued for its time
        if d["leased"]:
            raise RetryLater("an attempt of this delivery is in flight", d["lease_left"] + 1)
        if not d["enabled"]:
            conn.execute(
                Q["mark_failed"],
                {"id": delivery_id, "status_code": None, "error": "endpoint disabled"},
            )
            return "failed"
        if d["consecutive_failures"] >= settings.events_breaker_threshold:
            probe = None
            if not d["breaker_open"]:
                probe = conn.execute(
                    Q["claim_probe"],
                    {"id": d["endpoint_id"], "cooldown": settings.events_breaker_cooldown_seconds},
                ).fetchone()
            if probe is None:
                _defer(conn, d, settings, rng)
                return "deferred"
        leased = conn.execute(
            Q["lease_delivery"],
            {"id": delivery_id, "lease": settings.events_timeout_seconds + 30},
        ).fetchone()
        assert leased is not None  # the row is locked by this transaction
        return {**d, "attempts": leased["attempts"]}


def _defer(conn: Conn, d: dict[str, Any], settings: Settings, rng: random.Random) -> None:
    """The breaker is open: wait (as a queued job, not a thread) until it may close."""
    row = conn.execute(
        Q["defer_delivery"],
        {
            "id": d["id"],
            # spread the waiting deliveries a little past the probe
            "jitter": rng.uniform(0.0, max(0.05, settings.events_breaker_cooldown_seconds / 10)),
            "reason": "deferred: the endpoint's circuit breaker is open",
        },
    ).fetchone()
    assert row is not None
    jobs.enqueue(conn, DELIVER_TASK, {"delivery_id": d["id"]}, run_at=row["next_attempt_at"])


def deliver(
    pool: ConnectionPool[Conn],
    settings: Settings,
    keyring: Keyring,
    delivery_id: int,
    *,
    rng: random.Random = _rng,
) -> str:
    """Make (at most) one attempt of a delivery; its outcome.

    ``delivered``, ``retry`` (a job is queued for the next attempt),
    ``failed`` (attempts spent, or endpoint disabled), ``deferred`` (breaker
    open: queued for when it may close) or ``skipped`` (nothing to do).
    """
    prepared = _prepare(pool, settings, delivery_id, rng)
    if isinstance(prepared, str):
        return prepared
    d = prepared
    cipher = PiiCipher(keyring)
    contact = None
    if d["allow_pii"] and d["lead_id"] is not None:
        with pool.connection() as conn:
            contact = _contact(conn, cipher, d["lead_id"])
    body = body_of(d, contact)
    msg_id = webhook_id(d["event_id"])
    try:
        secret = endpoint_secret(cipher, d["endpoint_id"], d["secret_ciphertext"])
    except DecryptionError:
        # Retrying cannot help until the key is configured again: fail it, replayable.
        return _record(
            pool,
            settings,
            d,
            status_code=None,
            error="the endpoint's secret does not decrypt (its key is not configured)",
            retry_after=None,
            duration_ms=0.0,
            pii_sent=False,
            rng=rng,
            final=True,
        )
    headers = {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        **signed_headers(secret, msg_id, int(time.time()), body),
    }
    status_code: int | None = None
    retry_after: float | None = None
    error: str | None = None
    started = time.perf_counter()
    try:
        response = _client(policy_of(settings), settings.events_timeout_seconds).post(
            d["url"], content=body, headers=headers
        )
        status_code = response.status_code
        if not 200 <= status_code < 300:
            error = f"HTTP {status_code}"
            if status_code in (429, 503):
                retry_after = parse_retry_after(
                    response.headers.get("retry-after"), datetime.now(UTC)
                )
    except httpx.HTTPError as exc:
        # The exception's text can quote the URL (a token in its query): its type only.
        error = f"no response ({type(exc).__name__})"
    duration_ms = (time.perf_counter() - started) * 1000
    return _record(
        pool,
        settings,
        d,
        status_code=status_code,
        error=error,
        retry_after=retry_after,
        duration_ms=duration_ms,
        pii_sent=contact is not None,
        rng=rng,
    )


def _record(
    pool: ConnectionPool[Conn],
    settings: Settings,
    d: dict[str, Any],
    *,
    status_code: int | None,
    error: str | None,
    retry_after: float | None,
    duration_ms: float,
    pii_sent: bool,
    rng: random.Random,
    final: bool = False,
) -> str:
    """Step 3: the attempt's log line, the delivery's new state and the breaker's."""
    attempt = int(d["attempts"])
    with pool.connection() as conn:
        if pii_sent:
            audit(
                conn,
                SENDER,
                "events.pii_sent",
                "event_deliveries",
                d["id"],
                after={"endpoint_id": str(d["endpoint_id"]), "event_id": str(d["event_id"])},
            )
        if error is None:
            outcome = "delivered"
            conn.execute(Q["mark_delivered"], {"id": d["id"], "status_code": status_code})
            conn.execute(Q["endpoint_succeeded"], {"id": d["endpoint_id"]})
        else:
            conn.execute(
                Q["endpoint_failed"],
                {
                    "id": d["endpoint_id"],
                    "threshold": settings.events_breaker_threshold,
                    "cooldown": settings.events_breaker_cooldown_seconds,
                },
            )
            if attempt < settings.events_max_attempts and not final:
                outcome = "retry"
                delay = retry_delay(settings, attempt, retry_after, rng)
                row = conn.execute(
                    Q["mark_retry"],
                    {"id": d["id"], "status_code": status_code, "error": error, "delay": delay},
                ).fetchone()
                assert row is not None
                jobs.enqueue(
                    conn, DELIVER_TASK, {"delivery_id": d["id"]}, run_at=row["next_attempt_at"]
                )
            else:
                outcome = "failed"
                conn.execute(
                    Q["mark_failed"], {"id": d["id"], "status_code": status_code, "error": error}
                )
        conn.execute(
            Q["log_attempt"],
            {
                "delivery_id": d["id"],
                "round": d["replays"],
                "attempt": attempt,
                "outcome": outcome,
                "status_code": status_code,
                "error": error,
                "duration_ms": duration_ms,
            },
        )
    _log.info(
        "event delivery attempt",
        extra={
            "delivery_id": d["id"],
            "outcome": outcome,
            "status": status_code,
            "ms": duration_ms,
        },
    )
    return outcome
