"""/readyz and /metrics see a worker that is alive but not working."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from fastapi.testclient import TestClient

from equity_connect.config import Settings
from equity_connect.security.crypto import generate_key
from equity_connect.web.app import create_app


@pytest.fixture
def client(fresh_database_url: str) -> Iterator[TestClient]:
    settings = Settings(encryption_keys=f"k1:{generate_key()}", index_key=generate_key())
    with TestClient(create_app(settings, conninfo=fresh_database_url)) as c:
        yield c


def report(url: str, worker: str, state: str, **counts: int) -> None:
    """A heartbeat as the worker sends it."""
    with psycopg.connect(url) as conn:
        conn.execute(
            "insert into workers (id, hostname, pid, state, slots, slots_alive, loop_errors, "
            "db_reconnects, thread_restarts) values (%s, 'h', 1, %s, 4, %s, %s, %s, %s)",
            [
                worker,
                state,
                counts.get("slots_alive", 4),
                counts.get("loop_errors", 0),
                counts.get("db_reconnects", 0),
                counts.get("thread_restarts", 0),
            ],
        )


def test_ready_only_while_a_worker_says_it_is_working(
    client: TestClient, fresh_database_url: str
) -> None:
    assert client.get("/readyz").json()["checks"]["worker"] == "no worker has reported"
    report(fresh_database_url, "w-degraded", "degraded", slots_alive=1)
    answer = client.get("/readyz")
    assert answer.status_code == 503
    assert answer.json()["checks"]["worker"] == "degraded: no worker reports that it is working"
    report(fresh_database_url, "w-ok", "working")
    answer = client.get("/readyz")
    assert answer.status_code == 200, answer.json()


def test_metrics_show_each_workers_health(client: TestClient, fresh_database_url: str) -> None:
    report(
        fresh_database_url,
        "w1",
        "degraded",
        slots_alive=3,
        loop_errors=7,
        db_reconnects=2,
        thread_restarts=1,
    )
    text = client.get("/metrics").text
    assert 'ec_worker_working{worker="w1"} 0.0' in text
    assert 'ec_worker_slots_alive{worker="w1"} 3.0' in text
    assert 'ec_worker_loop_errors_total{worker="w1"} 7.0' in text
    assert 'ec_worker_db_reconnects_total{worker="w1"} 2.0' in text
    assert 'ec_worker_thread_restarts_total{worker="w1"} 1.0' in text
    assert 'ec_worker_heartbeat_age_seconds{worker="w1"}' in text
