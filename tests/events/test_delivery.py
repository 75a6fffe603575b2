"""Deliveries to a real HTTP receiver on loopback, verified by the Standard Webhooks library."""

from __future__ import annotations

import json
import time

import pytest
from psycopg_pool import ConnectionPool
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from equity_connect.db.pool import Conn
from equity_connect.events import sender, service
from equity_connect.events.schemas import EventType
from equity_connect.security.crypto import Keyring, generate_key
from tests.events.helpers import (
    FAST,
    add_dead_letter,
    make_lead,
    reply_interested,
    rows,
    run_worker,
    subscribe,
)
from tests.outbound.fakeserver import Recorded, Reply, running_server, unused_port_url


def _verified(secret: str, request: Recorded) -> dict[str, object]:
    """The body, as the reference verifier accepts it (raises if it does not)."""
    payload = Webhook(secret).verify(request.body, request.headers)
    assert isinstance(payload, dict)
    return payload


def test_reference_verifier_accepts_our_delivery(
    pool: ConnectionPool[Conn], keyring: Keyring
) -> None:
    with running_server() as receiver:
        receiver.respond = lambda _r: Reply(204)
        endpoint = subscribe(pool, keyring, receiver.url + "/hook", [EventType.DLQ_ADDED])
        dlq_id = add_dead_letter(pool)
        run_worker(pool, keyring)
        [request] = receiver.requests
    assert endpoint.secret.startswith("whsec_")
    payload = _verified(endpoint.secret, request)
    assert payload["type"] == "dlq.added"
    assert payload["data"] == {
        "dlq_id": dlq_id,
        "source": "skiptrace.enrich_batch",
        "attempts": 8,
        "reason": "provider unavailable (HTTP 503)",
        "added_at": payload["data"]["added_at"],  # type: ignore[index]
    }
    assert request.headers["webhook-id"] == payload["id"]
    assert request.headers["content-type"] == "application/json"
    # Another key, or one changed byte, is refused by the same verifier.
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "A" * 43 + "=").verify(request.body, request.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(endpoint.secret).verify(request.body.replace(b"8", b"9"), request.headers)
    with pool.connection() as conn:
        [delivery] = service.deliveries(conn)
    assert delivery.status == "delivered"
    assert delivery.webhook_id == payload["id"]


def test_500_then_200_is_delivered_once_more_and_no_more(
    pool: ConnectionPool[Conn], keyring: Keyring
) -> None:
    with running_server() as receiver:
        receiver.queue(Reply(500, b"boom"), Reply(200))
        receiver.respond = lambda _r: Reply(200)  # anything more would be answered, and counted
        endpoint = subscribe(pool, keyring, receiver.url, [EventType.DLQ_ADDED])
        add_dead_letter(pool)
        run_worker(pool, keyring, idle_horizon=FAST.events_backoff_cap_seconds)
        run_worker(pool, keyring)  # nothing is left to send
        first, second = receiver.requests  # exactly two requests
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert _verified(endpoint.secret, first) == _verified(endpoint.secret, second)
    [d] = rows(pool, "select status, attempts from event_deliveries")
    assert (d["status"], d["attempts"]) == ("delivered", 2)
    log = rows(pool, "select attempt, outcome, status_code, error from event_delivery_attempts")
    assert [(a["attempt"], a["outcome"], a["status_code"], a["error"]) for a in log] == [
        (1, "retry", 500, "HTTP 500"),
        (2, "delivered", 200, None),
    ]


def test_retry_after_on_429_is_honoured(pool: ConnectionPool[Conn], keyring: Keyring) -> None:
    arrivals: list[float] = []

    def answer(_r: Recorded) -> Reply:
        arrivals.append(time.monotonic())
        if len(arrivals) == 1:
            return Reply(429, headers={"Retry-After": "1"})
        return Reply(200)

    with running_server() as receiver:
        receiver.respond = answer
        subscribe(pool, keyring, receiver.url, [EventType.DLQ_ADDED])
        add_dead_letter(pool)
        run_worker(pool, keyring, idle_horizon=2.0)
    assert len(arrivals) == 2
    # The backoff alone (base 0.05 s) would have come back within 0.05 s.
    assert arrivals[1] - arrivals[0] >= 1.0
    [d] = rows(pool, "select status from event_deliveries")
    assert d["status"] == "delivered"


def test_attempts_run_out_and_replay_from_the_log_delivers(
    pool: ConnectionPool[Conn], keyring: Keyring
) -> None:
    settings = FAST.model_copy(update={"events_max_attempts": 2, "events_breaker_threshold": 10})
    with running_server() as receiver:
        receiver.queue(Reply(503), Reply(502))
        receiver.respond = lambda _r: Reply(200)
        endpoint = subscribe(pool, keyring, receiver.url, [EventType.DLQ_ADDED])
        add_dead_letter(pool)
        run_worker(
            pool, keyring, settings=settings, idle_horizon=settings.events_backoff_cap_seconds
        )
        assert len(receiver.requests) == 2
        with pool.connection() as conn:
            [failed] = service.deliveries(conn, status="failed")  # type: ignore[arg-type]
            assert failed.last_status_code == 502
            # the job queue's DLQ is not where a failed delivery goes (no dlq.added loop)
            assert conn.execute("select count(*) as n from pipeline_dlq").fetchone() == {"n": 1}
            service.replay(conn, failed.id)
        run_worker(pool, keyring, settings=settings)
        assert len(receiver.requests) == 3
        ids = {r.headers["webhook-id"] for r in receiver.requests}
        assert ids == {failed.webhook_id}
        _verified(endpoint.secret, receiver.requests[-1])
    with pool.connection() as conn:
        detail = service.delivery(conn, failed.id)
    assert detail.status == "delivered"
    assert detail.replays == 1
    assert [(a.attempt, a.outcome) for a in detail.log] == [
        (1, "retry"),
        (2, "failed"),
        (1, "delivered"),
    ]


def test_dead_endpoint_opens_the_breaker_and_does_not_slow_the_others(
    pool: ConnectionPool[Conn], keyring: Keyring
) -> None:
    """A receiver that hangs past the timeout costs its threshold of attempts, then none."""
    events = 6
    with running_server() as dead, running_server() as healthy:
        dead.respond = lambda _r: Reply(200, delay=5.0)  # answers after our 0.5 s timeout
        healthy.respond = lambda _r: Reply(200)
        subscribe(pool, keyring, dead.url, [EventType.DLQ_ADDED])
        subscribe(pool, keyring, healthy.url, [EventType.DLQ_ADDED])
        for _ in range(events):
            add_dead_letter(pool)
        started = time.monotonic()
        run_worker(pool, keyring)
        elapsed = time.monotonic() - started
        dead_requests = len(dead.requests)
        assert len(healthy.requests) == events
    # Without the breaker every event would cost the dead endpoint a timeout
    # (0.5 s) on each of its attempts; with it, threshold 2 → 2 attempts (plus
    # at most one in flight on the other thread when it opened), and the
    # whole run, healthy deliveries included, takes less than one timeout per
    # event would.
    assert dead_requests <= FAST.events_breaker_threshold + 1
    assert elapsed < events * FAST.events_timeout_seconds
    states = rows(
        pool,
        "select e.url, d.status, count(*) as n from event_deliveries d "
        "join event_endpoints e on e.id = d.endpoint_id group by 1, 2",
    )
    by_state = {(r["url"] == dead.url, r["status"]): r["n"] for r in states}
    assert by_state == {(False, "delivered"): events, (True, "pending"): events}
    [breaker] = rows(
        pool,
        "select breaker_open_until > now() as open from event_endpoints where url = %s",
        [dead.url],
    )
    assert breaker["open"]


def test_breaker_lets_one_probe_through_after_the_cool_down(
    pool: ConnectionPool[Conn], keyring: Keyring
) -> None:
    settings = FAST.model_copy(update={"events_breaker_cooldown_seconds": 0.3})
    url = unused_port_url()  # connection refused
    subscribe(pool, keyring, url, [EventType.DLQ_ADDED], settings=settings)
    for _ in range(3):
        add_dead_letter(pool)
    with pool.connection() as conn:
        ids = [r["id"] for r in conn.execute("select id from event_deliveries order by id")]
    outcomes = [sender.deliver(pool, settings, keyring, i) for i in ids]
    # two failures open the breaker; the third is deferred without a request
    assert outcomes == ["retry", "retry", "deferred"]
    time.sleep(0.35)
    with pool.connection() as conn:
        conn.execute("update event_deliveries set next_attempt_at = null")
    # after the cool-down: one probe, the rest wait for it
    assert sender.deliver(pool, settings, keyring, ids[2]) == "retry"
    assert sender.deliver(pool, settings, keyring, ids[0]) == "deferred"
    attempts = rows(pool, "select count(*) as n from event_delivery_attempts")
    assert attempts == [{"n": 3}]


def test_no_pii_by_default_and_audited_pii_where_allowed(
    pool: ConnectionPool[Conn], keyring: Keyring
) -> None:
    with running_server() as receiver:
        receiver.respond = lambda _r: Reply(200)
        plain = subscribe(pool, keyring, receiver.url + "/plain", [EventType.LEAD_INTERESTED])
        pii = subscribe(
            pool, keyring, receiver.url + "/pii", [EventType.LEAD_INTERESTED], allow_pii=True
        )
        lead_id = make_lead(pool, keyring, email="ana.lopez@example.com", phone="+14155550123")
        reply_interested(pool, keyring, lead_id)
        run_worker(pool, keyring)
        by_path = {r.path: r for r in receiver.requests}
    plain_body = by_path["/plain"].body
    for secret in (b"ana.lopez", b"4155550123", b"Lopez", b"Main St"):
        assert secret not in plain_body
    plain_payload = _verified(plain.secret, by_path["/plain"])
    assert plain_payload["data"]["lead_id"] == str(lead_id)  # type: ignore[index]
    pii_payload = _verified(pii.secret, by_path["/pii"])
    contact = pii_payload["data"]["contact"]  # type: ignore[index]
    assert contact["email"] == "ana.lopez@example.com"
    assert contact["phone"] == "+14155550123"
    audits = rows(
        pool,
        "select action, after ->> 'endpoint_id' as endpoint from audit_log "
        "where action = 'events.pii_sent' and after ->> 'endpoint_id' in (%s, %s)",
        [str(plain.endpoint.id), str(pii.endpoint.id)],
    )
    assert audits == [{"action": "events.pii_sent", "endpoint": str(pii.endpoint.id)}]
    assert json.loads(plain_body)["id"] == pii_payload["id"]


def test_a_secret_that_no_longer_decrypts_fails_the_delivery_at_once(
    pool: ConnectionPool[Conn], keyring: Keyring
) -> None:
    with running_server() as receiver:
        receiver.respond = lambda _r: Reply(200)
        subscribe(pool, keyring, receiver.url, [EventType.DLQ_ADDED])
        add_dead_letter(pool)
        [d] = rows(pool, "select id from event_deliveries")
        other = Keyring.from_values(f"k9:{generate_key()}", generate_key())
        assert sender.deliver(pool, FAST, other, d["id"]) == "failed"
        assert receiver.requests == []  # nothing unsigned or mis-signed went out
    [state] = rows(pool, "select status, last_error from event_deliveries")
    assert state["status"] == "failed" and "does not decrypt" in state["last_error"]
