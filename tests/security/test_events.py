"""Refused requests are counted, not written one row each; old rows are pruned."""

from __future__ import annotations

import json
from collections import Counter

import psycopg
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from equity_connect.config import Settings
from equity_connect.security.crypto import generate_key
from equity_connect.security.events import RejectionCounter
from equity_connect.web.app import create_app


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_a_flood_from_one_address_is_one_row_per_window() -> None:
    clock = FakeClock()
    counter = RejectionCounter(clock=clock)
    written = []
    for i in range(8146):  # the 10 s at 809 requests/s
        clock.t = 1000.0 + i / 809
        written += counter.hit("webhook_rejected", "bad_secret", "10.0.0.1", {}, window_seconds=60)
    assert len(written) == 1 and written[0].hits == 1  # the first, at once
    clock.t += 60
    written += counter.hit("webhook_rejected", "bad_secret", "10.0.0.1", {}, window_seconds=60)
    assert [r.hits for r in written] == [1, 8146]
    assert written[1].first_at <= written[1].last_at


def test_a_due_count_of_a_quiet_key_goes_out_with_any_later_write() -> None:
    clock = FakeClock()
    counter = RejectionCounter(clock=clock)
    for _ in range(3):
        counter.hit("k", "a", "1.1.1.1", {}, window_seconds=10)
    clock.t += 11
    rows = counter.hit("k", "b", "2.2.2.2", {}, window_seconds=10)
    assert sorted((r.code, r.hits) for r in rows) == [("a", 2), ("b", 1)]
    assert counter.drain() == []


def test_past_max_keys_addresses_fold_into_one_key() -> None:
    counter = RejectionCounter(max_keys=3, clock=FakeClock())
    rows = []
    for i in range(100):
        rows += counter.hit("k", "c", f"10.0.0.{i}", {}, window_seconds=60)
    assert len(rows) == 4  # three addresses, then one row for the rest
    assert rows[-1].remote_addr is None
    assert sum(r.hits for r in rows) + sum(r.hits for r in counter.drain()) == 100


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["a", "b", "c"]), st.floats(min_value=0, max_value=30)),
        max_size=300,
    ),
    st.integers(min_value=1, max_value=4),
)
def test_every_refusal_is_counted_exactly_once(
    hits: list[tuple[str, float]], max_keys: int
) -> None:
    clock = FakeClock()
    counter = RejectionCounter(max_keys=max_keys, clock=clock)
    rows = []
    for code, advance in hits:
        clock.t += advance
        rows += counter.hit("k", code, f"addr-{code}", {}, window_seconds=10)
    rows += counter.drain()
    assert sum(r.hits for r in rows) == len(hits)
    assert all(r.hits >= 1 for r in rows)
    per_code = Counter(code for code, _ in hits)
    if max_keys >= 3:
        assert {c: sum(r.hits for r in rows if r.code == c) for c in per_code} == dict(per_code)


def _rows(url: str) -> tuple[int, int]:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "select count(*), coalesce(sum(hits), 0) from security_events"
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def test_rejected_webhooks_over_http_write_one_row_and_count_all(
    fresh_database_url: str,
) -> None:
    app_settings = Settings(
        encryption_keys=f"k1:{generate_key()}",
        index_key=generate_key(),
        instantly_webhook_secrets="the-real-secret",
    )
    with TestClient(create_app(app_settings, conninfo=fresh_database_url)) as client:
        for _ in range(300):
            response = client.post(
                "/v1/webhooks/instantly",
                content=json.dumps({"event_type": "reply_received"}),
                headers={"X-Webhook-Secret": "a-guess", "content-type": "application/json"},
            )
            assert response.status_code == 401
        assert _rows(fresh_database_url) == (1, 1)  # the first, at once; the rest counted
    assert _rows(fresh_database_url) == (2, 300)  # the count, written at shutdown


def test_writes_prune_rows_past_the_retention(fresh_database_url: str) -> None:
    with psycopg.connect(fresh_database_url) as conn:
        conn.execute(
            "insert into security_events (kind, code, occurred_at) values "
            "('old', 'x', now() - interval '91 days'), ('recent', 'x', now() - interval '89 days')"
        )
    app_settings = Settings(
        encryption_keys=f"k1:{generate_key()}",
        index_key=generate_key(),
        instantly_webhook_secrets="the-real-secret",
        security_event_retention_days=90,
    )
    with TestClient(create_app(app_settings, conninfo=fresh_database_url)) as client:
        client.post("/v1/webhooks/instantly", content=b"{}", headers={"X-Webhook-Secret": "no"})
    with psycopg.connect(fresh_database_url) as conn:
        kinds = {r[0] for r in conn.execute("select kind from security_events")}
    assert "old" not in kinds and "recent" in kinds
