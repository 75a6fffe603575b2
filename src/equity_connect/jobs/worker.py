"""The worker: threads that claim jobs, run them, and retry, bury or finish them.

A heartbeat thread extends the leases of running jobs and, on every worker,
brings back jobs whose lease expired (their worker died). Any number of
workers on any number of machines may run against one database.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from psycopg_pool import ConnectionPool

from equity_connect.config import Settings
from equity_connect.db.pool import Conn
from equity_connect.jobs import service
from equity_connect.jobs.registry import Registry, TaskContext
from equity_connect.outbound.retry import ProviderError, backoff_delay, next_delay
from equity_connect.security.crypto import Keyring

_log = logging.getLogger(__name__)


class PermanentJobError(Exception):
    """A failure that retrying cannot fix: the job goes straight to the DLQ."""


class RetryLater(Exception):
    """The job cannot run yet: it waits for something still to arrive; try again later.

    It counts as an attempt, so a wait that never ends reaches the DLQ with this
    message as its reason (write it without data: it is shown to operators).
    """

    def __init__(self, reason: str, delay_seconds: float) -> None:
        super().__init__(reason)
        self.delay_seconds = delay_seconds


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff for failed jobs: full jitter, capped; provider Retry-After honoured."""

    base_seconds: float = 2.0
    cap_seconds: float = 600.0

    def delay(self, exc: BaseException, attempt: int, rng: random.Random) -> float | None:
        """Seconds until the next try, or None if the job must not be retried."""
        if isinstance(exc, PermanentJobError):
            return None
        if isinstance(exc, RetryLater):  # the task knows how long its wait should be
            return max(0.0, exc.delay_seconds)
        if isinstance(exc, ProviderError):
            return next_delay(
                exc, max(0, attempt - 1), base=self.base_seconds, cap=self.cap_seconds, rng=rng
            )
        # Unknown errors (a deadlock, a dropped connection) are usually passing.
        return backoff_delay(
            max(0, attempt - 1), base=self.base_seconds, cap=self.cap_seconds, rng=rng
        )


def _describe(exc: BaseException) -> str:
    """What is stored in jobs.last_error and the DLQ, shown to operators.

    Only messages we wrote (provider errors' fixed reasons, permanent job
    errors) are kept; any other exception is named by its type alone, since
    its text can quote data (an SMTP refusal names the recipient's address).
    """
    if isinstance(exc, ProviderError | PermanentJobError | RetryLater):
        return f"{type(exc).__name__}: {exc}"[:2000]
    return f"{type(exc).__name__} (message withheld: it may quote data)"


class Worker:
    """Runs jobs from ``queues`` with ``concurrency`` threads."""

    def __init__(
        self,
        pool: ConnectionPool[Conn],
        registry: Registry,
        *,
        settings: Settings,
        keyring: Keyring,
        queues: list[str] | None = None,
        concurrency: int = 1,
        lease_seconds: float = 60.0,
        poll_seconds: float = 1.0,
        policy: RetryPolicy | None = None,
        services: dict[str, Any] | None = None,
        periodic: list[Callable[[], None]] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.pool = pool
        self.registry = registry
        self.settings = settings
        self.keyring = keyring
        self.queues = queues or ["default"]
        self.concurrency = concurrency
        self.lease_seconds = lease_seconds
        self.poll_seconds = poll_seconds
        self.policy = policy or RetryPolicy()
        self.services = services or {}
        # Called on every heartbeat (e.g. the scheduler's tick); failures are logged, not fatal.
        self.periodic = periodic or []
        self.rng = rng or random.SystemRandom()
        self.id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._running: set[int] = set()
        self._lock = threading.Lock()
        self.processed = 0

    # -- one job ---------------------------------------------------------------
    def run_one(self) -> bool:
        """Claim and run one due job; False when none was due."""
        with self.pool.connection() as conn:
            jobs = service.claim(
                conn, self.id, queues=self.queues, limit=1, lease_seconds=self.lease_seconds
            )
        if not jobs:
            return False
        job = jobs[0]
        with self._lock:
            self._running.add(job.id)
        try:
            self._execute(job)
        finally:
            with self._lock:
                self._running.discard(job.id)
                self.processed += 1
        return True

    def _execute(self, job: service.ClaimedJob) -> None:
        fn = self.registry.get(job.task)
        started = time.perf_counter()
        if fn is None:
            self._failed(job, PermanentJobError(f"no task named {job.task!r} is registered"))
            return
        try:
            fn(
                TaskContext(
                    self.pool, self.settings, self.keyring, job.id, job.attempts, self.services
                ),
                job.args,
            )
        except Exception as exc:  # every failure is retried, buried or logged
            self._failed(job, exc)
            return
        with self.pool.connection() as conn:
            service.succeed(conn, job.id, self.id)
        _log.info(
            "job done",
            extra={"job_id": job.id, "task": job.task, "ms": (time.perf_counter() - started) * 1e3},
        )

    def _failed(self, job: service.ClaimedJob, exc: Exception) -> None:
        delay = self.policy.delay(exc, job.attempts, self.rng)
        error = _describe(exc)
        _log.warning(
            "job failed",
            extra={"job_id": job.id, "task": job.task, "attempt": job.attempts, "error": error},
        )
        with self.pool.connection() as conn:
            if delay is not None and job.attempts < job.max_attempts:
                service.retry_later(conn, job.id, self.id, error, delay)
            else:
                service.bury(conn, job.id, self.id, error)

    # -- the loop --------------------------------------------------------------
    def beat(self) -> None:
        """Extend running leases, record liveness, recover jobs of dead workers."""
        with self._lock:
            ids = list(self._running)
        with self.pool.connection() as conn:
            conn.execute(
                service.Q["heartbeat"],
                {"id": self.id, "hostname": socket.gethostname(), "pid": os.getpid()},
            )
            if ids:
                conn.execute(
                    service.Q["extend_lease"],
                    {"ids": ids, "worker": self.id, "lease_seconds": self.lease_seconds},
                )
            service.recover_stalled(conn)
        for tick in self.periodic:
            tick()

    def idle(self, horizon_seconds: float) -> bool:
        """No job is running, and none is due within ``horizon_seconds``."""
        with self.pool.connection() as conn:
            row = conn.execute(service.Q["seconds_to_next_job"], {"queues": self.queues}).fetchone()
        assert row is not None  # an aggregate always returns a row
        if row["running"]:
            return False
        return row["seconds"] is None or row["seconds"] > horizon_seconds

    def run(
        self, stop: threading.Event, *, until_idle: bool = False, idle_horizon: float = 0.0
    ) -> None:
        """Work until ``stop`` is set, or with ``until_idle`` until nothing is left to do.

        "Nothing left" means no job runs anywhere and none is due within
        ``idle_horizon`` seconds (so retries due soon are still waited for).
        """
        self.beat()
        beat_stop = threading.Event()
        beater = threading.Thread(target=self._beat_loop, args=(beat_stop,), daemon=True)
        beater.start()
        idle = [False] * self.concurrency

        def slot(i: int) -> None:
            while not stop.is_set():
                worked = self.run_one()
                idle[i] = not worked
                if not worked:
                    if until_idle and all(idle) and self.idle(idle_horizon):
                        return
                    stop.wait(self.poll_seconds)

        threads = [
            threading.Thread(target=slot, args=(i,), name=f"ec-worker-{i}")
            for i in range(self.concurrency)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        beat_stop.set()
        beater.join()
        with self.pool.connection() as conn:
            conn.execute(service.Q["worker_gone"], {"id": self.id})

    def _beat_loop(self, stop: threading.Event) -> None:
        interval = max(0.5, self.lease_seconds / 3)
        while not stop.wait(interval):
            try:
                self.beat()
            except Exception:  # a missed beat is retried next interval
                _log.exception("heartbeat failed")


def run_pending(
    pool: ConnectionPool[Conn],
    registry: Registry,
    *,
    settings: Settings,
    keyring: Keyring,
    concurrency: int = 1,
    services: dict[str, Any] | None = None,
    idle_horizon: float = 30.0,
    on_idle: Callable[[], None] | None = None,
) -> int:
    """Run jobs until none is left (retries due within ``idle_horizon`` s are waited for).

    Returns how many ran. For the demo and cron-style use; production runs
    ``equity-connect worker``.
    """
    worker = Worker(
        pool,
        registry,
        settings=settings,
        keyring=keyring,
        concurrency=concurrency,
        poll_seconds=0.05,
        services=services,
    )
    worker.run(threading.Event(), until_idle=True, idle_horizon=idle_horizon)
    if on_idle is not None:
        on_idle()
    return worker.processed
