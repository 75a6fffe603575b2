"""The worker: threads that claim jobs, run them, and retry, bury or finish them.

A heartbeat thread extends the leases of running jobs and, on every worker,
brings back jobs whose lease expired (their worker died). Any number of
workers on any number of machines may run against one database.

Connections die under a worker (pooler restarts, failovers, idle timeouts).
Each job thread runs under a supervisor loop that catches the error, backs
off with jitter and goes on; a thread that dies anyway is started again; a
job whose run a lost connection cut short is handed back without spending
an attempt. Only when the database stays unreachable for longer than
``max_db_outage_seconds`` does the worker stop, with ``fatal`` saying why,
so its command exits non-zero and a process manager restarts it.
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
from equity_connect.db.faults import describe_connection_error, is_connection_lost
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


class WorkerGaveUp(Exception):
    """The database stayed away past the worker's limit; the message says what to do."""


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
        max_db_outage_seconds: float = 300.0,
        backoff_cap_seconds: float = 5.0,
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
        self.max_db_outage_seconds = max_db_outage_seconds
        self.backoff_cap_seconds = backoff_cap_seconds
        self._running: set[int] = set()
        # Jobs cut short by a lost connection, to hand back once the database answers.
        self._lost: set[int] = set()
        self._lock = threading.Lock()
        self.processed = 0
        # What the heartbeat reports (and /metrics shows), counted since start.
        self.loop_errors = 0
        self.db_reconnects = 0
        self.thread_restarts = 0
        self.slots_alive = 0
        self._db_down_since: float | None = None
        # Set when the worker gives up: one sentence for the operator.
        self.fatal: str | None = None

    # -- one job ---------------------------------------------------------------
    def run_one(self) -> bool:
        """Claim and run one due job; False when none was due.

        Raises what the database raised when it cannot be reached; the job
        loop (``run``) catches it, backs off and tries again.
        """
        with self.pool.connection() as conn:
            self._release_lost(conn)
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
        except Exception as exc:
            if is_connection_lost(exc):
                # Not the job's fault: hand it back (attempt refunded) when the DB answers.
                with self._lock:
                    self._lost.add(job.id)
                _log.warning(
                    "job cut short by a lost database connection",
                    extra={"job_id": job.id, "task": job.task},
                )
            raise
        finally:
            with self._lock:
                self._running.discard(job.id)
                self.processed += 1
        return True

    def _release_lost(self, conn: Conn) -> None:
        with self._lock:
            ids = sorted(self._lost)
        if not ids:
            return
        service.release_lost(conn, ids, self.id)
        conn.commit()
        with self._lock:
            self._lost.difference_update(ids)

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
            if is_connection_lost(exc):
                raise  # run_one hands the job back once the database answers again
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

    # -- health ----------------------------------------------------------------
    def _db_failed(self, exc: BaseException) -> None:
        """Count a failed round; give up once the database has been away too long."""
        now = time.monotonic()
        with self._lock:
            self.loop_errors += 1
            if not is_connection_lost(exc):
                return
            if self._db_down_since is None:
                self._db_down_since = now
            away = now - self._db_down_since
            if away > self.max_db_outage_seconds and self.fatal is None:
                self.fatal = (
                    f"the database has been unreachable for {away:.0f} s "
                    f"(limit EC_WORKER_MAX_DB_OUTAGE_SECONDS={self.max_db_outage_seconds:g}; "
                    f"last error {describe_connection_error(exc)}): check that it is up; "
                    "the worker exits so its process manager restarts it"
                )

    def _db_ok(self) -> None:
        with self._lock:
            if self._db_down_since is not None:
                self._db_down_since = None
                self.db_reconnects += 1

    def _pause(self, failures: int) -> float:
        """Full-jitter backoff between failed rounds of one job thread."""
        return backoff_delay(
            min(failures - 1, 30), base=0.1, cap=self.backoff_cap_seconds, rng=self.rng
        )

    @property
    def state(self) -> str:
        """working, or degraded when a job thread is down or the database is away."""
        with self._lock:
            down = self._db_down_since is not None
        return "degraded" if down or self.slots_alive < self.concurrency else "working"

    # -- the loop --------------------------------------------------------------
    def beat(self) -> None:
        """Extend running leases, record liveness, recover jobs of dead workers."""
        with self._lock:
            ids = list(self._running)
        with self.pool.connection() as conn:
            conn.execute(
                service.Q["heartbeat"],
                {
                    "id": self.id,
                    "hostname": socket.gethostname(),
                    "pid": os.getpid(),
                    "state": self.state,
                    "slots": self.concurrency,
                    "slots_alive": self.slots_alive,
                    "loop_errors": self.loop_errors,
                    "db_reconnects": self.db_reconnects,
                    "thread_restarts": self.thread_restarts,
                },
            )
            if ids:
                conn.execute(
                    service.Q["extend_lease"],
                    {"ids": ids, "worker": self.id, "lease_seconds": self.lease_seconds},
                )
            service.recover_stalled(conn)
            conn.commit()
            self._release_lost(conn)
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
        Returns early, with ``fatal`` set, when the database stayed away for
        longer than ``max_db_outage_seconds``.
        """
        halt = threading.Event()  # stop, or fatal: every loop of this worker watches it
        self.slots_alive = self.concurrency  # the threads start right after this beat
        self._guarded(self.beat, "first heartbeat failed")
        beater = threading.Thread(target=self._beat_loop, args=(halt,), daemon=True)
        beater.start()
        idle = [False] * self.concurrency
        finished = [False] * self.concurrency

        def start(i: int) -> threading.Thread:
            t = threading.Thread(
                target=self._slot,
                args=(i, halt, idle, finished),
                kwargs={"until_idle": until_idle, "idle_horizon": idle_horizon},
                name=f"ec-worker-{i}",
                daemon=True,
            )
            t.start()
            return t

        threads = [start(i) for i in range(self.concurrency)]
        while True:
            if stop.is_set() or self.fatal is not None:
                halt.set()
            alive = 0
            for i, t in enumerate(threads):
                if t.is_alive():
                    alive += 1
                elif not finished[i] and not halt.is_set():
                    with self._lock:
                        self.thread_restarts += 1
                    threads[i] = start(i)
                    alive += 1
            self.slots_alive = alive
            if alive == 0:
                break
            halt.wait(0.1)
        halt.set()
        beater.join()
        self.slots_alive = 0
        self._guarded(self._gone, "could not deregister the worker")

    def _slot(
        self,
        i: int,
        halt: threading.Event,
        idle: list[bool],
        finished: list[bool],
        *,
        until_idle: bool,
        idle_horizon: float,
    ) -> None:
        """One job thread: claim and run jobs; ride out errors with backoff."""
        failures = 0
        try:
            while not halt.is_set():
                try:
                    worked = self.run_one()
                    idle[i] = not worked
                    if not worked and until_idle and all(idle) and self.idle(idle_horizon):
                        finished[i] = True
                        return
                except Exception as exc:  # the supervisor: log, back off, go on
                    failures += 1
                    self._db_failed(exc)
                    self._log_loop_error(exc)
                    halt.wait(self._pause(failures))
                    continue
                failures = 0
                self._db_ok()
                if not worked:
                    halt.wait(self.poll_seconds)
            finished[i] = True
        except BaseException as exc:  # a task's SystemExit ends this thread, not the worker
            _log.error(
                "job thread died; it is restarted",
                extra={"slot": i, "error": type(exc).__name__},
            )

    def _gone(self) -> None:
        with self.pool.connection() as conn:
            conn.execute(service.Q["worker_gone"], {"id": self.id})

    def _guarded(self, fn: Callable[[], None], what: str) -> None:
        try:
            fn()
        except Exception as exc:  # a missed beat is retried next interval
            self._db_failed(exc)
            self._log_loop_error(exc, what)
        else:
            self._db_ok()

    def _log_loop_error(self, exc: BaseException, what: str = "job loop error") -> None:
        if is_connection_lost(exc):
            # Expected while the database is away: one line, no traceback.
            _log.warning(what, extra={"error": describe_connection_error(exc)})
        else:
            _log.error(what, exc_info=exc)

    def _beat_loop(self, stop: threading.Event) -> None:
        # A third of the lease keeps leases alive; at most 5 s keeps /readyz
        # and /metrics current (one upsert and one indexed query per beat).
        interval = max(0.5, min(self.lease_seconds / 3, 5.0))
        while not stop.wait(interval):
            self._guarded(self.beat, "heartbeat failed")


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
        max_db_outage_seconds=settings.worker_max_db_outage_seconds,
        backoff_cap_seconds=settings.worker_backoff_cap_seconds,
    )
    worker.run(threading.Event(), until_idle=True, idle_horizon=idle_horizon)
    if worker.fatal is not None:
        raise WorkerGaveUp(worker.fatal)
    if on_idle is not None:
        on_idle()
    return worker.processed
