"""BatchData's MCP transport on its own: tool errors, timeouts, a server that disconnects,
configuration, and enrichment end to end (request log, idempotency, rate bucket), each over
streamable HTTP and SSE against a local MCP server built with the official SDK."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from equity_connect.config import Settings
from equity_connect.db.pool import Conn, connect, open_pool
from equity_connect.ingest.schemas import SignatureScheme
from equity_connect.ingest.service import UploadMeta, ingest
from equity_connect.jobs.catalog import registry
from equity_connect.jobs.worker import PermanentJobError, run_pending
from equity_connect.outbound import (
    ProviderAuthError,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
)
from equity_connect.security.crypto import Keyring, PiiCipher, generate_key
from equity_connect.skiptrace.batchdata_mcp import BatchDataMcpSkipTrace, parse_arguments
from equity_connect.skiptrace.providers import build_buckets, build_providers
from tests.ingest.helpers import csv_bytes, row
from tests.outbound.fakeserver import Recorded, Reply
from tests.skiptrace.conftest import TOKEN, Wire
from tests.skiptrace.fake_batchdata_mcp import Disconnect, ToolFails
from tests.skiptrace.helpers import make_request

JANE = make_request(1, street="1011 Rosegold St")


@pytest.mark.parametrize(
    ("reply", "error_type", "status"),
    [
        (ToolFails("BatchData API error: 429 Too Many Requests"), RateLimited, 429),
        (Reply(status=401), ProviderAuthError, 401),
        (Reply(status=503), ProviderUnavailable, 503),
        (ToolFails("upstream exploded"), ProviderUnavailable, None),
        (Reply(body={"status": {"code": 429, "text": "slow down"}}), RateLimited, 429),
    ],
)
def test_tool_errors_become_typed_errors(
    mcp_wire: Wire, reply: Any, error_type: type[ProviderError], status: int | None
) -> None:
    mcp_wire.server.queue(reply)
    with mcp_wire.client(timeout=5.0) as client, pytest.raises(error_type) as caught:
        client.lookup([JANE])
    error = caught.value
    assert (error.provider, error.status_code) == ("batchdata", status)
    assert error.retryable is (error_type is not ProviderAuthError)
    text = str(error) + repr(error)
    assert TOKEN not in text and "Rosegold" not in text
    assert error.__context__ is None and error.__cause__ is None  # no SDK exception riding along


def test_a_slow_tool_times_out_retryably(mcp_wire: Wire) -> None:
    mcp_wire.server.queue(Reply(body={}, delay=5.0))
    started = time.monotonic()
    with mcp_wire.client(timeout=0.5) as client, pytest.raises(ProviderUnavailable) as caught:
        client.lookup([JANE])
    assert caught.value.retryable and time.monotonic() - started < 3


def test_a_server_that_disconnects_mid_call(mcp_wire: Wire) -> None:
    mcp_wire.server.queue(Disconnect())
    started = time.monotonic()
    # Over SSE the SDK's client sees the drop at once; over streamable HTTP (1.x) a
    # pending call only ends at our timeout, so the timeout is what bounds it.
    with mcp_wire.client(timeout=2.0) as client, pytest.raises(ProviderUnavailable) as caught:
        client.lookup([JANE])
    assert caught.value.retryable
    assert len(mcp_wire.server.requests) == 1  # the call was in flight when it dropped
    assert time.monotonic() - started < 3


@pytest.mark.parametrize(
    "text",
    ["not json", "[]", '{"requests": "nope"}', '{"options": "options"}', "{}"],
)
def test_argument_mapping_is_checked(text: str) -> None:
    with pytest.raises(ValueError, match="EC_BATCHDATA_MCP_ARGUMENTS"):
        parse_arguments(text)


def test_arguments_are_mapped_onto_the_tool() -> None:
    assert parse_arguments('{"skip_trace_requests": "requests"}') == {
        "skip_trace_requests": "requests"
    }


def test_selected_by_the_provider_list_with_batchdatas_bucket(mcp_wire: Wire) -> None:
    settings = Settings(
        skiptrace_providers="batchdata-mcp",
        batchdata_mcp_url=mcp_wire.server.url,
        batchdata_mcp_transport="sse" if mcp_wire.kind == "mcp-sse" else "streamable-http",
        batchdata_mcp_token=TOKEN,
    )
    [provider] = build_providers(settings)
    assert isinstance(provider, BatchDataMcpSkipTrace) and provider.name == "batchdata"
    with pytest.raises(PermanentJobError, match="EC_BATCHDATA_MCP_URL"):
        build_providers(Settings(skiptrace_providers="batchdata-mcp"))
    bad = Settings(
        skiptrace_providers="batchdata-mcp",
        batchdata_mcp_url="http://x",
        batchdata_mcp_arguments="[]",
    )
    with pytest.raises(PermanentJobError, match="EC_BATCHDATA_MCP_ARGUMENTS"):
        build_providers(bad)


# --- enrichment end to end through the MCP transport --------------------------------------

KEYRING = Keyring.from_values(f"k1:{generate_key()}", generate_key())


def matched_with_a_phone(request: Recorded) -> Reply:
    """Everyone found, each with a mobile of their own (V1, order kept)."""
    persons = [
        {
            "propertyAddress": item["propertyAddress"],
            "phoneNumbers": [
                {"number": f"21355501{n:02d}", "type": "Mobile", "reachable": True, "dnc": False}
            ],
            "emails": [],
            "meta": {"matched": True, "error": False},
        }
        for n, item in enumerate(request.json()["requests"])
    ]
    return Reply(body={"status": {"code": 200}, "results": {"persons": persons}})


@pytest.fixture
def pool(fresh_database_url: str) -> Iterator[ConnectionPool[Conn]]:
    p = open_pool(Settings(pool_max_size=4), conninfo=fresh_database_url)
    yield p
    p.close()


def test_enrichment_through_mcp_logs_and_never_pays_twice(
    wire: Wire, pool: ConnectionPool[Conn], fresh_database_url: str
) -> None:
    """The same enrichment over REST and over MCP: contacts, request log, one call per lead."""
    settings = Settings(
        skiptrace_providers="batchdata" if wire.kind == "rest" else "batchdata-mcp",
        batchdata_token=TOKEN,
        batchdata_base_url=wire.server.url,
        batchdata_mcp_url=wire.server.url,
        batchdata_mcp_token=TOKEN,
        batchdata_rate_per_sec=100,
        skiptrace_batch_size=5,
    )
    body = csv_bytes([row(property_address=f"{i + 10} Test Ave") for i in range(8)])
    with connect(fresh_database_url) as conn:
        meta = UploadMeta(hashlib.sha256(body).digest(), len(body), SignatureScheme.LOCAL)
        upload = ingest(conn, PiiCipher(KEYRING), [body], meta).upload_id
        conn.commit()
    wire.server.respond = matched_with_a_phone
    buckets = build_buckets(pool, settings)
    assert set(buckets) == {"batchdata"}

    def enrich() -> None:
        run_pending(
            pool,
            registry,
            settings=settings,
            keyring=KEYRING,
            services={
                "skiptrace_providers": build_providers(settings),
                "skiptrace_buckets": buckets,
            },
            idle_horizon=5,
        )

    enrich()
    assert [len(r.json()["requests"]) for r in wire.server.requests] == [5, 3]
    with connect(fresh_database_url) as conn:
        logged = conn.execute(
            "select provider, count(*) as n from skiptrace_requests group by provider"
        ).fetchall()
        phones = conn.execute(
            "select count(*) as n from lead_contacts where channel = 'phone'"
        ).fetchone()
        conn.execute("update leads set enriched_at = null")  # make them qualify again
        from equity_connect.jobs import service

        service.enqueue(conn, "skiptrace.enrich_upload", {"upload_id": str(upload)})
        conn.commit()
    assert [(r["provider"], r["n"]) for r in logged] == [("batchdata", 8)]
    assert phones is not None and phones["n"] == 8
    enrich()
    assert len(wire.server.requests) == 2  # the second run read the request log
    with psycopg.connect(fresh_database_url) as conn:
        bucket = conn.execute("select provider from rate_limits").fetchall()
    assert bucket == [("batchdata",)]
