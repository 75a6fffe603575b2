"""A skip-trace lookup is paid once per lead and window, whatever re-runs the job.

The provider is Melissa's real adapter talking HTTP to a local fake that counts lookups per
lead; the last test kills a real ``equity-connect worker`` process with SIGKILL between the
provider's answer and the job's ack.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from equity_connect.config import Settings
from equity_connect.db.pool import Conn, connect, open_pool
from equity_connect.ingest.schemas import SignatureScheme
from equity_connect.ingest.service import UploadMeta, ingest
from equity_connect.jobs import service as jobs
from equity_connect.jobs.catalog import registry
from equity_connect.jobs.worker import run_pending
from equity_connect.security.crypto import Keyring, PiiCipher, generate_key
from equity_connect.skiptrace.melissa import MelissaPersonator
from equity_connect.skiptrace.service import enrich_leads, idempotency_key
from tests.ingest.helpers import csv_bytes, row
from tests.outbound.fakeserver import FakeServer
from tests.skiptrace.fake_melissa import FakeMelissa

ENCRYPTION_KEYS, INDEX_KEY = f"k1:{generate_key()}", generate_key()
KEYRING = Keyring.from_values(ENCRYPTION_KEYS, INDEX_KEY)
SETTINGS = Settings(pool_max_size=6, skiptrace_providers="melissa", skiptrace_batch_size=10)
LEADS = 20


def load(url: str, count: int = LEADS) -> list[uuid.UUID]:
    """``count`` leads without a MAK (the provider fills it in); the upload queues enrichment."""
    body = csv_bytes(
        [row(mak=None, property_address=f"{i + 1} Kill Nine Ave") for i in range(count)]
    )
    with connect(url) as conn:
        meta = UploadMeta(hashlib.sha256(body).digest(), len(body), SignatureScheme.LOCAL)
        ingest(conn, PiiCipher(KEYRING), [body], meta)
        conn.commit()
        ids = [r["id"] for r in conn.execute("select id from leads order by id")]
    assert len(ids) == count
    return ids


@pytest.fixture
def pool(fresh_database_url: str) -> Iterator[ConnectionPool[Conn]]:
    p = open_pool(SETTINGS, conninfo=fresh_database_url)
    yield p
    p.close()


@pytest.fixture
def melissa(server: FakeServer) -> Iterator[tuple[FakeMelissa, MelissaPersonator]]:
    fake = FakeMelissa()
    server.respond = fake
    client = MelissaPersonator("LICENSE-test", base_url=server.url, max_batch=10)
    yield fake, client
    client.close()


def run(pool: ConnectionPool[Conn], provider: MelissaPersonator) -> int:
    return run_pending(
        pool,
        registry,
        settings=SETTINGS,
        keyring=KEYRING,
        services={"skiptrace_providers": [provider], "skiptrace_buckets": {}},
        idle_horizon=5,
    )


def test_the_key_does_not_move_when_enrichment_fills_in_the_mak() -> None:
    now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    lead_id = uuid.uuid4()
    before = {"id": lead_id, "mak": None, "apn_normalized": None, "county_fips": None}
    after = {**before, "mak": "8008006244", "apn_normalized": "1234", "county_fips": "06037"}
    assert idempotency_key("melissa", before, window_days=30, now=now) == idempotency_key(
        "melissa", after, window_days=30, now=now
    )
    # …but it is the lead's and the provider's own, and a new window asks again.
    other = {**before, "id": uuid.uuid4()}
    assert idempotency_key("melissa", before, window_days=30, now=now) != idempotency_key(
        "melissa", other, window_days=30, now=now
    )
    assert idempotency_key("melissa", before, window_days=30, now=now) != idempotency_key(
        "batchdata", before, window_days=30, now=now
    )
    assert idempotency_key("melissa", before, window_days=30, now=now) != idempotency_key(
        "melissa", before, window_days=30, now=now + timedelta(days=30)
    )


def test_re_enqueuing_a_finished_batch_pays_for_nothing(
    pool: ConnectionPool[Conn],
    fresh_database_url: str,
    melissa: tuple[FakeMelissa, MelissaPersonator],
) -> None:
    fake, client = melissa
    lead_ids = load(fresh_database_url)
    run(pool, client)
    assert sorted(fake.lookups) == sorted(str(i) for i in lead_ids)
    assert set(fake.lookups.values()) == {1}
    with connect(fresh_database_url) as conn:
        filled = conn.execute("select count(*) as n from leads where mak is not null").fetchone()
        assert filled == {"n": LEADS}  # every key input the old key hashed has now changed
        jobs.enqueue(conn, "skiptrace.enrich_batch", {"lead_ids": [str(i) for i in lead_ids]})
        conn.commit()
    assert run(pool, client) == 1
    assert set(fake.lookups.values()) == {1}, "a finished batch, re-run, paid again"


def test_an_answer_from_the_previous_window_is_still_used(
    pool: ConnectionPool[Conn],
    fresh_database_url: str,
    melissa: tuple[FakeMelissa, MelissaPersonator],
) -> None:
    fake, client = melissa
    lead_ids = load(fresh_database_url, 5)
    window = 30 * 86_400
    # One minute before a window boundary, then (the retry after a crash) one minute after.
    boundary = datetime.fromtimestamp((time.time() // window + 1) * window, UTC)
    first, retry = boundary - timedelta(minutes=1), boundary + timedelta(minutes=1)
    enrich_leads(pool, PiiCipher(KEYRING), [client], lead_ids, now=first, window_days=30)
    with connect(fresh_database_url) as conn:
        conn.execute("update skiptrace_requests set created_at = %s", [first])
        conn.commit()
    enrich_leads(pool, PiiCipher(KEYRING), [client], lead_ids, now=retry, window_days=30)
    assert set(fake.lookups.values()) == {1} and len(fake.lookups) == 5
    # A whole window later the lead is looked up again, once.
    later = first + timedelta(days=30, minutes=2)
    enrich_leads(pool, PiiCipher(KEYRING), [client], lead_ids, now=later, window_days=30)
    assert set(fake.lookups.values()) == {2}


# --- kill -9 of a real worker process ------------------------------------------------------


def _worker_env(url: str, provider_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EC_")}
    env.update(
        {
            "DATABASE_URL": url,
            "EC_ENCRYPTION_KEYS": ENCRYPTION_KEYS,
            "EC_INDEX_KEY": INDEX_KEY,
            "EC_SKIPTRACE_PROVIDERS": "melissa",
            "EC_MELISSA_LICENSE": "LICENSE-test",
            "EC_MELISSA_BASE_URL": provider_url,
            "EC_SKIPTRACE_BATCH_SIZE": "10",
            "EC_WORKER_CONCURRENCY": "1",
            "EC_JOB_LEASE_SECONDS": "2",
            # No scheduled feed or refresh may be enqueued by this worker's scheduler tick.
            "EC_SCHEDULE_GRACE_HOURS": "0",
        }
    )
    return env


def _worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    cli = Path(sys.executable).with_name("equity-connect")
    with log.open("ab") as out:
        # The argument list is ours (no shell, no outside input).
        return subprocess.Popen(  # noqa: S603
            [str(cli), "worker", "--until-idle"], env=env, stdout=out, stderr=subprocess.STDOUT
        )


def _blocked_on(url: str, query_part: str, deadline: float) -> bool:
    """Whether a backend of this database waits on a lock while running ``…query_part…``."""
    with psycopg.connect(url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            found = conn.execute(
                "select 1 from pg_stat_activity where datname = current_database() "
                "and wait_event_type = 'Lock' and query ilike %s",
                ["%" + query_part + "%"],
            ).fetchone()
            if found:
                return True
            time.sleep(0.05)
    return False


# Where the worker is caught: blocked on its ack (the answers stored and applied, the lead's
# MAK filled in), or blocked applying the answers (stored, not yet applied).
TRAPS = {
    "before_the_ack": (
        "select id from jobs where task = 'skiptrace.enrich_batch' and status = 'running' "
        "for update",
        "update jobs set status = 'succeeded'",
    ),
    "before_the_apply": (
        "select id from leads where id = any(%(ids)s::uuid[]) for update",
        "insert into lead_contacts",
    ),
}


@pytest.mark.parametrize("trap", sorted(TRAPS))
def test_kill_9_after_the_provider_call_never_pays_twice(
    trap: str, fresh_database_url: str, server: FakeServer, tmp_path: Path
) -> None:
    url = fresh_database_url
    lead_ids = load(url)
    fake = FakeMelissa()
    server.respond = fake
    lock_sql, blocked_query = TRAPS[trap]
    holder = psycopg.connect(url)  # holds the trap's row locks in an open transaction

    def set_trap(ids: list[str]) -> None:
        # Runs in the fake provider while the worker waits for the answer: the worker gets
        # its answer, and then cannot finish the job.
        holder.execute(lock_sql, {"ids": ids})

    fake.before_reply = set_trap
    env = _worker_env(url, server.url)
    log = tmp_path / "workers.log"
    try:
        victim = _worker(env, log)
        caught = _blocked_on(url, blocked_query, time.monotonic() + 60)
        assert caught, f"the worker never reached the trap; log:\n{log.read_text()}"
        os.kill(victim.pid, signal.SIGKILL)
        assert victim.wait(timeout=30) == -signal.SIGKILL
    finally:
        holder.rollback()
        holder.close()
    first_call = dict(fake.lookups)
    assert len(first_call) == 10  # the victim was paid for one batch of 10, then died
    with psycopg.connect(url) as conn:
        state = conn.execute(
            "select status::text, count(*) from jobs where task = 'skiptrace.enrich_batch' "
            "group by 1 order by 1"
        ).fetchall()
        stored = conn.execute("select count(*) from skiptrace_requests").fetchone()
    assert ("running", 1) in state  # its ack never landed
    assert stored == (10,)  # the answers it was paid for are kept

    rescuer = _worker(env, log)
    assert rescuer.wait(timeout=180) == 0, log.read_text()

    assert sorted(fake.lookups) == sorted(str(i) for i in lead_ids)
    assert set(fake.lookups.values()) == {1}, f"paid twice: {fake.lookups}"
    with psycopg.connect(url) as conn:
        state = conn.execute("select status::text, count(*) from jobs group by 1").fetchall()
        dead = conn.execute("select count(*) from pipeline_dlq").fetchone()
        open_leads = conn.execute(
            "select count(*) from leads where enrichment_attempted_at is null"
        ).fetchone()
        attempts = conn.execute(
            "select max(attempts) from jobs where task = 'skiptrace.enrich_batch'"
        ).fetchone()
    assert state == [("succeeded", 3)]  # the fan-out and both batches; nothing lost
    assert dead == (0,) and open_leads == (0,)
    assert attempts == (2,)  # the killed batch ran again, and found its answers
