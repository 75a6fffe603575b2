"""Prometheus metrics: request series from this process, pipeline series from the database.

Workers run in other processes (and machines), so queue, job, DLQ, provider
and schedule series are read from Postgres at scrape time: any API instance
reports the whole system, and nothing is lost when a worker restarts.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from psycopg_pool import ConnectionPool
from starlette.requests import Request
from starlette.responses import Response

from equity_connect.db import queries
from equity_connect.db.pool import Conn

Q = queries.load("equity_connect.observability")


class PipelineCollector(Collector):
    """Reads the pipeline's state from the database on every scrape."""

    def __init__(self, pool: ConnectionPool[Conn]) -> None:
        self.pool = pool

    def collect(self) -> Iterator[Metric]:
        """One scrape: a handful of indexed aggregate queries."""
        jobs = CounterMetricFamily("ec_jobs", "Jobs by task and status", labels=["task", "status"])
        durations = GaugeMetricFamily(
            "ec_job_duration_seconds",
            "Mean run time of jobs finished in the last hour",
            labels=["task"],
        )
        lag = GaugeMetricFamily("ec_queue_lag_seconds", "Age of the most overdue queued job")
        dlq = GaugeMetricFamily("ec_dlq_depth", "Dead letters waiting for an operator")
        provider = GaugeMetricFamily(
            "ec_provider_errors_24h",
            "Provider 429/5xx responses in the last 24 hours",
            labels=["provider", "status_code"],
        )
        last = GaugeMetricFamily(
            "ec_schedule_last_success_timestamp_seconds",
            "When each scheduled job last finished ok",
            labels=["job"],
        )
        workers = _WorkerFamilies()
        with self.pool.connection() as conn:
            for r in conn.execute(Q["worker_health"]):
                workers.add(r)
            for r in conn.execute(Q["job_counts"]):
                jobs.add_metric([r["task"], r["status"]], r["n"])
            for r in conn.execute(Q["job_durations"]):
                durations.add_metric([r["task"]], r["seconds"])
            row = conn.execute(Q["queue_lag"]).fetchone()
            lag.add_metric([], row["seconds"] if row else 0.0)
            row = conn.execute(Q["dlq_depth"]).fetchone()
            dlq.add_metric([], row["n"] if row else 0)
            for r in conn.execute(Q["provider_errors"]):
                if r["status_code"] == 429 or r["status_code"] >= 500:
                    provider.add_metric([r["provider"], str(r["status_code"])], r["n"])
            for r in conn.execute(Q["last_success"]):
                last.add_metric([r["job_name"]], r["at"])
        yield from (jobs, durations, lag, dlq, provider, last)
        yield from workers.families()


class _WorkerFamilies:
    """What each worker reported on its last heartbeat (they run in other processes)."""

    def __init__(self) -> None:
        self.up = GaugeMetricFamily(
            "ec_worker_working",
            "1 when the worker's last heartbeat said it was working, 0 when degraded",
            labels=["worker"],
        )
        self.age = GaugeMetricFamily(
            "ec_worker_heartbeat_age_seconds",
            "Seconds since the worker's last heartbeat",
            labels=["worker"],
        )
        self.slots = GaugeMetricFamily(
            "ec_worker_slots_alive", "Job threads running in the worker", labels=["worker"]
        )
        self.errors = CounterMetricFamily(
            "ec_worker_loop_errors",
            "Failed rounds of the worker's job and heartbeat loops (lost connections included)",
            labels=["worker"],
        )
        self.reconnects = CounterMetricFamily(
            "ec_worker_db_reconnects",
            "Times the worker got the database back after losing it",
            labels=["worker"],
        )
        self.restarts = CounterMetricFamily(
            "ec_worker_thread_restarts",
            "Job threads that died and were started again",
            labels=["worker"],
        )

    def add(self, r: dict[str, Any]) -> None:
        """One worker's row."""
        worker = [r["id"]]
        self.up.add_metric(worker, 1.0 if r["state"] == "working" else 0.0)
        self.age.add_metric(worker, r["seconds_ago"])
        self.slots.add_metric(worker, r["slots_alive"])
        self.errors.add_metric(worker, r["loop_errors"])
        self.reconnects.add_metric(worker, r["db_reconnects"])
        self.restarts.add_metric(worker, r["thread_restarts"])

    def families(self) -> Iterator[Metric]:
        """Every family, for the collector to yield."""
        yield from (self.up, self.age, self.slots, self.errors, self.reconnects, self.restarts)


class Metrics:
    """This API process's registry: HTTP series plus the pipeline collector."""

    def __init__(self, pool: ConnectionPool[Conn]) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "ec_http_requests",
            "HTTP requests by route and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "ec_http_request_seconds",
            "HTTP request latency by route",
            ["method", "route"],
            registry=self.registry,
        )
        self.registry.register(PipelineCollector(pool))

    async def middleware(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        """Count and time every request by its route template (never the raw path:
        paths carry ids and tokens, and would explode the label set)."""
        started = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            route = request.scope.get("route")
            template = getattr(route, "path", "unmatched")
            self.requests.labels(request.method, template, str(status)).inc()
            self.latency.labels(request.method, template).observe(time.perf_counter() - started)

    def render(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)
