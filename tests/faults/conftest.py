"""Fault injection on the real database: backends terminated, the network cut.

The worker and the API run as real processes (the shipped commands), so
what is tested is what a process manager would run. Their backends are
found by ``application_name`` and this test's database name only, so other
test sessions on the same server are never touched.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from equity_connect.db.pool import connect
from equity_connect.jobs import service
from equity_connect.security.crypto import generate_key
from tests.faults.proxy import SimulatedNetworkCut

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fault_db(fresh_database_url: str) -> str:
    """A migrated database with the table the fault task writes to."""
    with psycopg.connect(fresh_database_url, autocommit=True) as conn:
        conn.execute(
            "create table fault_results (job_id bigint primary key, n int not null, "
            "runs int not null default 1)"
        )
    return fresh_database_url


@pytest.fixture
def cuttable(fault_db: str) -> Iterator[SimulatedNetworkCut]:
    """A proxy between the process under test and PostgreSQL."""
    proxy = SimulatedNetworkCut(fault_db)
    yield proxy
    proxy.close()


def process_env(database_url: str, **settings: str) -> dict[str, str]:
    """The environment of a worker or API process under test."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EC_")}
    env.update(
        DATABASE_URL=database_url,
        EC_ENCRYPTION_KEYS=f"k1:{generate_key()}",
        EC_INDEX_KEY=generate_key(),
        EC_LOG_LEVEL="ERROR",
        EC_SCHEDULE_GRACE_HOURS="0",  # no scheduled campaign job joins the test's jobs
        PYTHONPATH=str(ROOT),
        **settings,
    )
    return env


class Proc:
    """A process under test with its output in files (a full pipe would block it)."""

    def __init__(self, args: list[str], env: dict[str, str], tmp: Path, name: str) -> None:
        self.out = tmp / f"{name}.out"
        self.err = tmp / f"{name}.err"
        with self.out.open("wb") as out, self.err.open("wb") as err:
            # Our own interpreter and module, with arguments the tests build.
            self.popen = subprocess.Popen(args, env=env, cwd=ROOT, stdout=out, stderr=err)  # noqa: S603

    @property
    def stderr(self) -> str:
        return self.err.read_text(errors="replace")

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM, as a process manager stops it; returns the exit code."""
        if self.alive():
            self.popen.terminate()
        return self.popen.wait(timeout=timeout)


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[..., Proc]]:
    """Start processes; any still running at the end are stopped."""
    started: list[Proc] = []

    def start(args: list[str], env: dict[str, str], name: str) -> Proc:
        proc = Proc(args, env, tmp_path, name)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.alive():
            proc.popen.kill()
            proc.popen.wait(timeout=10)


def start_worker(
    spawn: Callable[..., Proc], database_url: str, *args: str, **settings: str
) -> Proc:
    """``equity-connect worker`` (with the fault task registered) as its own process."""
    return spawn(
        [sys.executable, "-m", "tests.faults.worker_main", *args],
        process_env(database_url, **settings),
        "worker",
    )


def enqueue_results(url: str, count: int, *, sleep: float) -> list[int]:
    """``count`` fault jobs; returns their ids."""
    with connect(url) as conn:
        ids = [
            service.enqueue(conn, "faults.write_result", {"n": i, "sleep": sleep})
            for i in range(count)
        ]
        conn.commit()
    return [i for i in ids if i is not None]


def terminate_backends(server_url: str, database_url: str, application_name: str) -> int:
    """pg_terminate_backend on every backend of ``application_name`` in this test's database."""
    dbname = conninfo_to_dict(database_url)["dbname"]
    with psycopg.connect(server_url, autocommit=True) as admin:
        rows = admin.execute(
            "select pg_terminate_backend(pid) from pg_stat_activity "
            "where datname = %s and application_name = %s and pid <> pg_backend_pid()",
            [dbname, application_name],
        ).fetchall()
    return sum(1 for (ok,) in rows if ok)


def done_count(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "select count(*) from jobs where task = 'faults.write_result' and status = 'succeeded'"
        ).fetchone()
    assert row is not None
    return int(row[0])


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.05)


def outcome(url: str) -> dict[str, object]:
    """What became of the fault jobs: statuses, results, attempts, DLQ."""
    with psycopg.connect(url) as conn:
        statuses = dict(
            conn.execute(
                "select status::text, count(*) from jobs where task = 'faults.write_result' "
                "group by 1"
            ).fetchall()
        )
        missing = conn.execute(
            "select count(*) from jobs j where task = 'faults.write_result' "
            "and not exists (select 1 from fault_results r where r.job_id = j.id)"
        ).fetchone()
        cut = conn.execute(
            "select count(*) filter (where connection_losses > 0), "
            "count(*) filter (where connection_losses > 0 and attempts > 1) "
            "from jobs where task = 'faults.write_result'"
        ).fetchone()
        reruns = conn.execute("select coalesce(sum(runs - 1), 0) from fault_results").fetchone()
        dlq = conn.execute(
            "select count(*) from pipeline_dlq where source = 'faults.write_result'"
        ).fetchone()
    assert missing is not None and cut is not None and reruns is not None and dlq is not None
    return {
        "statuses": statuses,
        "lost": int(missing[0]),
        "cut_short": int(cut[0]),
        "cut_short_charged": int(cut[1]),
        "reruns": int(reruns[0]),
        "dlq": int(dlq[0]),
    }
