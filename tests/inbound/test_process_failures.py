"""An event whose content cannot be processed fails once, into the DLQ, and replays after a fix.

Issue 13 item 3: such events used to stay ``received`` and fail on every attempt.
"""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from equity_connect.db.faults import is_connection_lost
from equity_connect.db.pool import connect
from equity_connect.errors import DomainError
from equity_connect.inbound import tasks
from equity_connect.inbound.service import store
from equity_connect.jobs import service as jobs
from equity_connect.replies.schemas import InboundProvider
from equity_connect.security import signatures
from equity_connect.security.crypto import PiiCipher
from tests.inbound.conftest import CALCOM_SECRET, INSTANTLY_SECRET
from tests.inbound.malformed import RECEIVERS

CALCOM = next(r for r in RECEIVERS if r.name == "calcom")


def rows(url: str, sql: str) -> list[dict[str, Any]]:
    with psycopg.connect(url, row_factory=psycopg.rows.dict_row) as conn:
        return conn.execute(sql).fetchall()


def post_calcom(client: TestClient, payload: dict[str, Any]) -> Any:
    body = json.dumps(payload).encode()
    sig = signatures.sign_calcom(CALCOM_SECRET.encode(), body)
    headers = {"X-Cal-Signature-256": sig}
    response = client.post("/v1/webhooks/calcom", content=body, headers=headers)
    assert response.status_code == 200, response.text
    return response


def event_and_jobs(url: str) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    [event] = rows(url, "select status, error from inbound_events")
    return (
        event,
        rows(url, "select status, attempts, last_error from jobs order by id"),
        rows(url, "select id, reason, attempts, status from pipeline_dlq order by id"),
    )


def test_attendees_not_a_list_is_settled_not_retried_forever(
    client: TestClient, fresh_database_url: str, run_jobs: Any
) -> None:
    # The example. The booking handler may come to tolerate it; either
    # way the event must not stay "received" with its job retrying.
    post_calcom(client, CALCOM.with_value(("payload", "attendees"), 5))
    run_jobs()
    event, job_rows, dlq = event_and_jobs(fresh_database_url)
    assert event["status"] != "received"
    assert [j["attempts"] for j in job_rows] == [1]
    if event["status"] == "failed":
        assert "TypeError" in event["error"]
        assert len(dlq) == 1 and dlq[0]["attempts"] == 1 and "TypeError" in dlq[0]["reason"]


def test_a_handler_bug_fails_the_event_once_and_replay_after_the_fix_processes_it(
    client: TestClient,
    fresh_database_url: str,
    run_jobs: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fixed = tasks.handle_calcom

    def buggy(*args: Any, **kwargs: Any) -> Any:
        raise TypeError("'int' object is not iterable (simulated handler bug)")

    monkeypatch.setattr(tasks, "handle_calcom", buggy)
    post_calcom(client, CALCOM.base)
    run_jobs()
    event, job_rows, dlq = event_and_jobs(fresh_database_url)
    assert event["status"] == "failed"
    assert event["error"].startswith("TypeError") and "simulated" not in event["error"]
    assert [(j["status"], j["attempts"]) for j in job_rows] == [("dead", 1)]
    assert [(d["status"], d["attempts"]) for d in dlq] == [("pending", 1)]
    assert dlq[0]["reason"].startswith("PermanentJobError: TypeError processing the event")

    with connect(fresh_database_url) as conn:  # replayed too early: fails again, once
        assert jobs.replay_dlq(conn, dlq[0]["id"]) == [dlq[0]["id"]]
        conn.commit()
    run_jobs()
    event, job_rows, dlq = event_and_jobs(fresh_database_url)
    assert event["status"] == "failed"
    assert [(j["status"], j["attempts"]) for j in job_rows] == [("dead", 1), ("dead", 1)]
    assert [d["status"] for d in dlq] == ["replayed", "pending"]

    monkeypatch.setattr(tasks, "handle_calcom", fixed)  # the code fix is deployed
    with connect(fresh_database_url) as conn:
        assert jobs.replay_dlq(conn, dlq[1]["id"]) == [dlq[1]["id"]]
        conn.commit()
    run_jobs()
    event, job_rows, dlq = event_and_jobs(fresh_database_url)
    assert event["status"] in ("processed", "ignored") and event["error"] is None
    assert [j["status"] for j in job_rows] == ["dead", "dead", "succeeded"]
    assert [d["status"] for d in dlq] == ["replayed", "replayed"]


@pytest.mark.parametrize(
    "error",
    [
        psycopg.OperationalError("server closed the connection (simulated)"),
        psycopg.errors.DeadlockDetected("deadlock detected (simulated)"),
        psycopg.errors.UniqueViolation("a concurrent insert won (simulated)"),
        OSError("SMTP connection refused (simulated)"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_a_passing_failure_is_retried_not_failed(
    client: TestClient,
    fresh_database_url: str,
    run_jobs: Any,
    monkeypatch: pytest.MonkeyPatch,
    error: Exception,
) -> None:
    real = tasks.handle_calcom
    calls: list[int] = []

    def flaky(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise error
        return real(*args, **kwargs)

    monkeypatch.setattr(tasks, "handle_calcom", flaky)
    post_calcom(client, CALCOM.base)
    run_jobs()
    event, job_rows, dlq = event_and_jobs(fresh_database_url)
    assert event["status"] in ("processed", "ignored")
    # A lost connection is handed back without spending the attempt (jobs/worker.py);
    # every other passing failure spends one.
    attempts = 1 if is_connection_lost(error) else 2
    assert [(j["status"], j["attempts"]) for j in job_rows] == [("succeeded", attempts)]
    assert dlq == []


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (KeyError("email"), "KeyError processing the event"),
        (psycopg.errors.CheckViolation("simulated"), "CheckViolation processing the event"),
        (psycopg.errors.UntranslatableCharacter("simulated"), "UntranslatableCharacter"),
        (DomainError(422, "bad_booking", "the booking has no start time"), "bad_booking: the"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_content_failures_are_not_retried(
    client: TestClient,
    fresh_database_url: str,
    run_jobs: Any,
    monkeypatch: pytest.MonkeyPatch,
    error: Exception,
    reason: str,
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise error

    monkeypatch.setattr(tasks, "handle_calcom", broken)
    post_calcom(client, CALCOM.base)
    run_jobs()
    event, job_rows, dlq = event_and_jobs(fresh_database_url)
    assert event["status"] == "failed" and event["error"].startswith(reason)
    assert [(j["status"], j["attempts"]) for j in job_rows] == [("dead", 1)]
    assert len(dlq) == 1 and "simulated" not in dlq[0]["reason"]


def test_a_stored_body_the_decoder_now_refuses_fails_with_its_reason(
    fresh_database_url: str, cipher: PiiCipher, run_jobs: Any
) -> None:
    # Stored before the receiver decoded strictly: NaN, which json.loads took.
    with connect(fresh_database_url) as conn:
        store(
            conn,
            cipher,
            InboundProvider.CALCOM,
            external_id="BOOKING_CREATED:old",
            event_type="BOOKING_CREATED",
            body=b'{"triggerEvent":"BOOKING_CREATED","payload":{"uid":"old","price":NaN}}',
        )
        conn.commit()
    run_jobs()
    event, job_rows, dlq = event_and_jobs(fresh_database_url)
    assert event["status"] == "failed" and event["error"].startswith("number_out_of_range")
    assert [j["attempts"] for j in job_rows] == [1] and len(dlq) == 1


@pytest.mark.parametrize("text", ["unsubscribe\\u0000", "please unsubscribe me \\ud83d"])
def test_an_opt_out_with_nul_or_a_cut_emoji_is_acted_on(
    client: TestClient, fresh_database_url: str, run_jobs: Any, text: str
) -> None:
    # \u0000 and an unpaired surrogate are accepted (replaced by U+FFFD), never
    # refused: refusing would lose the opt-out.
    body = (
        b'{"event_type": "reply_received", "email_id": "m-9", '
        b'"lead_email": "gone@example.com", "reply_text": "' + text.encode() + b'"}'
    )
    response = client.post(
        "/v1/webhooks/instantly", content=body, headers={"X-Webhook-Secret": INSTANTLY_SECRET}
    )
    assert response.status_code == 200
    run_jobs()
    [event] = rows(fresh_database_url, "select status from inbound_events")
    assert event["status"] == "processed"
    assert len(rows(fresh_database_url, "select id from suppressions")) == 1
