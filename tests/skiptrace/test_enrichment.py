"""Enrichment end to end on the real database: queue → providers → contacts, flags, score."""

from __future__ import annotations

import hashlib
import multiprocessing
import threading
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from equity_connect.config import Settings
from equity_connect.db.pool import Conn, connect, open_pool
from equity_connect.ingest.schemas import SignatureScheme
from equity_connect.ingest.service import UploadMeta, ingest
from equity_connect.jobs.catalog import registry
from equity_connect.jobs.worker import RetryPolicy, Worker, run_pending
from equity_connect.outbound.retry import RateLimited
from equity_connect.security.crypto import Keyring, PiiCipher, aad_for, generate_key
from equity_connect.skiptrace.schemas import SkipTraceRequest, SkipTraceResult
from equity_connect.skiptrace.simulator import SimulatedSkipTrace
from equity_connect.verification.service import rederive
from tests.ingest.helpers import csv_bytes, row

KEYRING = Keyring.from_values(f"k1:{generate_key()}", generate_key())
SETTINGS = Settings(pool_max_size=12, skiptrace_providers="simulator", skiptrace_batch_size=25)


class RecordingProvider:
    """The simulator, recording every lead it is asked about in the test database."""

    def __init__(self, url: str, name: str = "simulator", *, fail_first: int = 0) -> None:
        self.url = url
        self.name = name
        self.max_batch = 25
        self.fail_first = fail_first
        self._inner = SimulatedSkipTrace(max_batch=25)

    def lookup(self, requests: Sequence[SkipTraceRequest]) -> list[SkipTraceResult]:
        with psycopg.connect(self.url, autocommit=True) as conn:
            calls = conn.execute("select count(distinct call) from test_provider_calls").fetchone()
            if calls is not None and calls[0] < self.fail_first:
                conn.execute(
                    "insert into test_provider_calls (call, lead_id) values (%s, null)",
                    [uuid.uuid4()],
                )
                raise RateLimited(self.name, "slow down", status_code=429, retry_after=0.01)
            call = uuid.uuid4()
            for r in requests:
                conn.execute(
                    "insert into test_provider_calls (call, lead_id) values (%s, %s)",
                    [call, r.lead_id],
                )
        return [
            SkipTraceResult(
                provider=self.name,
                lead_id=r.lead_id,
                matched=r.matched,
                mak=r.mak,
                phones=r.phones,
                emails=r.emails,
                result_codes=r.result_codes,
                raw=r.raw,
            )
            for r in self._inner.lookup(requests)
        ]


@pytest.fixture
def db(fresh_database_url: str) -> str:
    with psycopg.connect(fresh_database_url, autocommit=True) as conn:
        conn.execute("create table test_provider_calls (call uuid, lead_id text)")
    return fresh_database_url


@pytest.fixture
def pool(db: str) -> Iterator[ConnectionPool[Conn]]:
    p = open_pool(SETTINGS, conninfo=db)
    yield p
    p.close()


def load(url: str, count: int) -> uuid.UUID:
    body = csv_bytes(
        [
            row(
                mak=f"77{i:08d}",
                property_address=f"{i + 1} Test Ave",
                owner_age=str(60 + i % 20),
                estimated_value="500000",
                estimated_equity=str(100_000 + i * 1000),
            )
            for i in range(count)
        ]
    )
    with connect(url) as conn:
        meta = UploadMeta(hashlib.sha256(body).digest(), len(body), SignatureScheme.LOCAL)
        report = ingest(conn, PiiCipher(KEYRING), [body], meta)
        conn.commit()
    return report.upload_id


def calls(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return [
            r[0]
            for r in conn.execute(
                "select lead_id from test_provider_calls where lead_id is not null"
            )
        ]


def run(pool: ConnectionPool[Conn], provider: Any, **kw: Any) -> int:
    return run_pending(
        pool,
        registry,
        settings=SETTINGS,
        keyring=KEYRING,
        services={"skiptrace_providers": [provider], "skiptrace_buckets": {}},
        idle_horizon=5,
        **kw,
    )


def test_upload_enqueues_enrichment_and_leads_get_enriched(
    pool: ConnectionPool[Conn], db: str
) -> None:
    load(db, 60)
    ran = run(pool, RecordingProvider(db))
    assert ran == 1 + 3  # the fan-out job and three batches of 25 or fewer
    asked = calls(db)
    assert len(asked) == 60 and len(set(asked)) == 60
    with connect(db) as conn:
        leads = conn.execute(
            "select id, enriched_at, enrichment_attempted_at, lead_score, phone_verified, "
            "email_verified, phone_ciphertext, phone_index, phone_dnc, score_breakdown from leads"
        ).fetchall()
        contacts = conn.execute("select * from lead_contacts").fetchall()
        events = {
            (r["stage"], r["outcome"]): r["n"]
            for r in conn.execute(
                "select stage, outcome, sum(count) as n from pipeline_events group by 1, 2"
            )
        }
        dnc = conn.execute("select count(*) as n from suppressions where reason = 'dnc'").fetchone()
    assert all(lead["enrichment_attempted_at"] is not None for lead in leads)
    matched = [lead for lead in leads if lead["enriched_at"] is not None]
    assert 0 < len(matched) < 60  # the simulator leaves some unmatched
    assert any(lead["phone_verified"] for lead in leads)
    assert all(lead["lead_score"] == lead["score_breakdown"]["total"] for lead in leads)
    assert events[("skiptrace", "requested")] == 60
    assert events[("skiptrace", "matched")] == len(matched)
    cipher = PiiCipher(KEYRING)
    for c in contacts:
        aad = aad_for(
            "lead_contacts", c["channel"], f"{c['lead_id']}:{bytes(c['value_index']).hex()}"
        )
        value = cipher.decrypt(c["value_ciphertext"], aad)
        assert cipher.blind_index(c["channel"], value) == c["value_index"]
    for lead in leads:
        if lead["phone_ciphertext"] is not None:
            phone = cipher.decrypt(lead["phone_ciphertext"], aad_for("leads", "phone", lead["id"]))
            assert phone.startswith("+1")
    assert dnc is not None
    dnc_contacts = sum(1 for c in contacts if c["dnc"])
    assert dnc["n"] == len({bytes(c["value_index"]) for c in contacts if c["dnc"]})
    assert dnc_contacts > 0


def test_a_retried_or_replayed_enrichment_never_asks_twice(
    pool: ConnectionPool[Conn], db: str
) -> None:
    upload = load(db, 30)
    run(pool, RecordingProvider(db))
    with connect(db) as conn:
        conn.execute("update leads set enriched_at = null")  # force the upload's leads to qualify
        from equity_connect.jobs import service

        service.enqueue(conn, "skiptrace.enrich_upload", {"upload_id": str(upload)})
        conn.commit()
    run(pool, RecordingProvider(db))
    assert len(calls(db)) == 30  # answers came from the request log the second time


def test_rate_limited_provider_is_retried_then_succeeds(
    pool: ConnectionPool[Conn], db: str
) -> None:
    load(db, 10)
    worker_policy = RetryPolicy(base_seconds=0.01, cap_seconds=0.05)
    provider = RecordingProvider(db, fail_first=2)
    w = Worker(
        pool,
        registry,
        settings=SETTINGS,
        keyring=KEYRING,
        poll_seconds=0.02,
        policy=worker_policy,
        services={"skiptrace_providers": [provider], "skiptrace_buckets": {}},
    )
    w.run(threading.Event(), until_idle=True, idle_horizon=5)
    assert sorted(set(calls(db))) == sorted(calls(db)) and len(calls(db)) == 10
    with connect(db) as conn:
        events = conn.execute(
            "select count(*) as n from pipeline_events where outcome = 'rate_limited'"
        ).fetchone()
        attempts = conn.execute(
            "select max(attempts) as n from jobs where task = 'skiptrace.enrich_batch'"
        ).fetchone()
    assert events == {"n": 2}
    assert attempts == {"n": 3}


def test_fallback_asks_the_next_provider_only_for_unmatched(
    pool: ConnectionPool[Conn], db: str
) -> None:
    load(db, 40)
    first, second = RecordingProvider(db, "simulator"), RecordingProvider(db, "second")
    run_pending(
        pool,
        registry,
        settings=SETTINGS,
        keyring=KEYRING,
        idle_horizon=5,
        services={"skiptrace_providers": [first, second], "skiptrace_buckets": {}},
    )
    with connect(db) as conn:
        unmatched_first = conn.execute(
            "select count(*) as n from skiptrace_requests where provider = 'simulator' "
            "and not matched"
        ).fetchone()
        asked_second = conn.execute(
            "select count(*) as n from skiptrace_requests where provider = 'second'"
        ).fetchone()
    assert unmatched_first is not None and unmatched_first["n"] > 0
    assert asked_second == unmatched_first


def _worker_process(url: str) -> None:
    p = open_pool(SETTINGS, conninfo=url)
    try:
        Worker(
            p,
            registry,
            settings=SETTINGS,
            keyring=KEYRING,
            concurrency=3,
            poll_seconds=0.02,
            services={"skiptrace_providers": [RecordingProvider(url)], "skiptrace_buckets": {}},
        ).run(threading.Event(), until_idle=True, idle_horizon=2)
    finally:
        p.close()


def test_two_worker_processes_enrich_1000_leads_exactly_once(db: str) -> None:
    load(db, 1000)
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_worker_process, args=(db,)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
        assert p.exitcode == 0
    asked = calls(db)
    assert len(asked) == 1000 and len(set(asked)) == 1000
    with connect(db) as conn:
        pending = conn.execute(
            "select count(*) as n from leads where enrichment_attempted_at is null"
        ).fetchone()
        assert pending == {"n": 0}


def test_a_new_code_map_version_rederives_flags(pool: ConnectionPool[Conn], db: str) -> None:
    load(db, 40)
    run(pool, RecordingProvider(db))
    with connect(db) as conn:
        before = conn.execute("select count(*) as n from leads where phone_verified").fetchone()
        assert before is not None and before["n"] > 0
        # Version 2 says PS01/PS07/PS08/PS03 no longer verify a phone on their own.
        conn.execute(
            "insert into verification_code_map (provider, channel, code, version, is_verified) "
            "select provider, channel, code, 2, false from verification_code_map "
            "where provider = 'simulator' and channel = 'phone'"
        )
        changed = rederive(conn, now=datetime.now(UTC))
        after = conn.execute("select count(*) as n from leads where phone_verified").fetchone()
        conn.commit()
        scores = conn.execute(
            "select count(*) as n from leads where (score_breakdown->>'phone')::int > 0"
        ).fetchone()
    assert after == {"n": 0}
    assert len(changed) == before["n"]
    assert scores == {"n": 0}  # re-scored: no phone points without a verified phone


def test_crash_after_the_provider_answered_does_not_ask_again(
    pool: ConnectionPool[Conn], db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    load(db, 10)
    from equity_connect.skiptrace import service as enrichment

    real_apply = enrichment.apply_result
    crashes = {"left": 1}

    def crash_once(*args: Any, **kwargs: Any) -> tuple[bool, bool]:
        if crashes["left"]:
            crashes["left"] -= 1
            raise ConnectionError("worker lost between the provider call and the ack")
        return real_apply(*args, **kwargs)

    monkeypatch.setattr(enrichment, "apply_result", crash_once)
    w = Worker(
        pool,
        registry,
        settings=SETTINGS,
        keyring=KEYRING,
        poll_seconds=0.02,
        policy=RetryPolicy(base_seconds=0.01, cap_seconds=0.05),
        services={"skiptrace_providers": [RecordingProvider(db)], "skiptrace_buckets": {}},
    )
    w.run(threading.Event(), until_idle=True, idle_horizon=5)
    assert len(calls(db)) == 10  # one provider request per lead, despite the retry
    with connect(db) as conn:
        row = conn.execute(
            "select count(*) as n from leads where enrichment_attempted_at is null"
        ).fetchone()
    assert row == {"n": 0}
