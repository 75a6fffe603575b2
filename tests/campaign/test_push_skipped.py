"""Only the leads Instantly created become active; the rest are recorded as skipped.

The provider is the real :class:`InstantlyClient` talking HTTP to a local fake that answers
with ``tests/fixtures/providers/instantly/leads_add_response_skipped.json`` (built from
Instantly's v2 OpenAPI document, see SOURCE.md).
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st
from psycopg_pool import ConnectionPool
from typer.testing import CliRunner

from equity_connect.campaign.instantly import (
    SKIP_COUNTERS,
    AddLeadsResult,
    CreatedLead,
    InstantlyClient,
    InstantlyLead,
    SimulatedInstantly,
    parse_add_leads_response,
    skip_reasons,
)
from equity_connect.campaign.service import feed
from equity_connect.cli import app
from equity_connect.config import Settings, get_settings
from equity_connect.db.pool import Conn, connect, open_pool
from equity_connect.jobs import service as jobs
from equity_connect.jobs.catalog import registry
from equity_connect.jobs.worker import RetryPolicy, Worker
from equity_connect.security.crypto import Keyring, PiiCipher, generate_key
from tests.factories import make_broker, make_lead
from tests.outbound.fakeserver import FakeServer, Recorded, Reply, running_server

FIXTURES = Path(__file__).parents[1] / "fixtures/providers/instantly"
KEYRING = Keyring.from_values(f"k1:{generate_key()}", generate_key())
CIPHER = PiiCipher(KEYRING)
SETTINGS = Settings(pool_max_size=6, campaign_provider="simulator")
DAY = date(2026, 11, 30)
CAMPAIGN = "019ffad2-9c4e-7be6-8364-ed444afb02d5"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def skipped_second(request: Recorded) -> Reply:
    """The fixture's answer: leads 0 and 2 created, lead 1 skipped (already in the workspace)."""
    sent = request.json()["leads"]
    assert len(sent) == 3
    body = copy.deepcopy(fixture("leads_add_response_skipped.json"))
    for created in body["created_leads"]:
        created["email"] = sent[created["index"]]["email"]
    return Reply(body=body)


@pytest.fixture
def server() -> Iterator[FakeServer]:
    """A fake Instantly on 127.0.0.1."""
    with running_server() as fake:
        yield fake


@pytest.fixture
def pool(fresh_database_url: str) -> Iterator[ConnectionPool[Conn]]:
    p = open_pool(SETTINGS, conninfo=fresh_database_url)
    yield p
    p.close()


def add_leads(conn: Conn, n: int, *, start: int = 0, score: int = 50) -> list[Any]:
    return [
        make_lead(
            conn,
            cipher=CIPHER,
            email=f"lead{i}@example.com",
            phone=f"+1213555{i:04d}",
            campaign_status="queued",
            phone_verified=True,
            email_verified=True,
            lead_score=score,
            owner_first_name="Ann",
        )
        for i in range(start, start + n)
    ]


def run(pool: ConnectionPool[Conn], importer: Any) -> None:
    Worker(
        pool,
        registry,
        settings=SETTINGS,
        keyring=KEYRING,
        poll_seconds=0.02,
        policy=RetryPolicy(base_seconds=0.01, cap_seconds=0.05),
        services={"campaign_importer": importer},
    ).run(threading.Event(), until_idle=True, idle_horizon=3)


def lead_states(url: str) -> dict[str, str]:
    with psycopg.connect(url) as conn:
        return {
            str(i): s
            for i, s in conn.execute("select id, campaign_status::text from leads").fetchall()
        }


def sent_ids(request: Recorded) -> list[str]:
    """Our lead ids in the order a call sent them (the ``ec_lead_id`` custom variable)."""
    return [lead["custom_variables"]["ec_lead_id"] for lead in request.json()["leads"]]


def reserve(url: str, n: int, *, cap: int, spare: int = 0) -> tuple[Any, list[Any], list[Any]]:
    """A broker, ``n`` leads reserved by a feed run under ``cap``, ``spare`` leads left over."""
    with connect(url) as conn:
        broker = make_broker(conn, "Broker A")
        best = add_leads(conn, n, score=90)
        rest = add_leads(conn, spare, start=n, score=10)
        result = feed(conn, business_date=DAY, cap=cap, default_campaign=CAMPAIGN)
        conn.commit()
    assert sorted(p.lead_id for p in result.picks) == sorted(best)
    return broker, best, rest


def test_a_lead_instantly_skipped_is_not_active_and_its_reason_is_kept(
    pool: ConnectionPool[Conn], fresh_database_url: str, server: FakeServer
) -> None:
    url = fresh_database_url
    broker, _, [spare] = reserve(url, 3, cap=3, spare=1)
    server.respond = skipped_second
    with InstantlyClient("key", base_url=server.url, timeout=2) as client:
        run(pool, client)

    [request] = server.requests
    body = request.json()
    documented = fixture("leads_add_request.json")
    assert set(body) == set(documented)
    assert all(set(lead) <= set(documented["leads"][0]) for lead in body["leads"])
    first, skipped, third = sent_ids(request)
    states = lead_states(url)
    assert states[first] == "active" and states[third] == "active"
    assert states[skipped] == "queued"  # not active: it is not in the campaign
    with psycopg.connect(url) as conn:
        events = conn.execute(
            "select lead_id::text, broker_id, detail from pipeline_events "
            "where stage = 'fed' and outcome = 'skipped'"
        ).fetchall()
        pushed = conn.execute(
            "select sum(count) from pipeline_events where stage = 'fed' and outcome = 'pushed'"
        ).fetchone()
        stamped = conn.execute(
            "select id::text from leads where added_to_campaign_at is not null"
        ).fetchall()
        fed_count = conn.execute(
            "select fed_count from feed_days where business_date = %s", [DAY]
        ).fetchone()
        batch = conn.execute("select status::text, detail from feed_batches").fetchone()
    [(lead_id, broker_id, detail)] = events
    assert (lead_id, broker_id) == (skipped, broker)
    assert detail["reason"] == "skipped_count"
    assert "skip_if_in_workspace" in detail["reason_text"]
    assert detail["campaign_id"] == CAMPAIGN
    assert detail["counts"]["skipped_count"] == 1 and detail["counts"]["leads_uploaded"] == 2
    assert pushed == (2,)
    assert sorted(r[0] for r in stamped) == sorted([first, third])
    assert batch is not None and batch[0] == "pushed"
    assert batch[1]["uploaded"] == 2 and batch[1]["skipped"] == 1
    # The skipped lead gave the day's slot back: a second run that day feeds the spare.
    assert fed_count == (2,)
    with connect(url) as conn:
        again = feed(conn, business_date=DAY, cap=3, default_campaign=CAMPAIGN)
        conn.commit()
    assert [p.lead_id for p in again.picks] == [spare]


def test_a_replayed_push_sends_nothing_again_and_gives_the_slot_back_once(
    pool: ConnectionPool[Conn], fresh_database_url: str, server: FakeServer
) -> None:
    url = fresh_database_url
    reserve(url, 3, cap=3)
    server.respond = skipped_second
    with InstantlyClient("key", base_url=server.url, timeout=2) as client:
        run(pool, client)
        with connect(url) as conn:
            batch = conn.execute("select id from feed_batches").fetchone()
            assert batch is not None
            jobs.enqueue(conn, "campaign.push_batch", {"batch_id": str(batch["id"])})
            conn.commit()
        run(pool, client)
    assert len(server.requests) == 1  # the skipped lead is not sent again, nor the active
    with psycopg.connect(url) as conn:
        skips = conn.execute(
            "select count(*) from pipeline_events where outcome = 'skipped'"
        ).fetchone()
        fed_count = conn.execute("select fed_count from feed_days").fetchone()
    assert skips == (1,) and fed_count == (2,)


class FailsSecondCallOnce(SimulatedInstantly):
    """The simulator, with one passing failure on its second call."""

    def __init__(self) -> None:
        super().__init__()
        self.failed = False

    def add_leads(self, campaign_id: str, leads: Any, **kw: Any) -> AddLeadsResult:
        if len(self.calls) == 1 and not self.failed:
            self.failed = True
            raise ConnectionError("lost the connection to Instantly")
        return super().add_leads(campaign_id, leads, **kw)


def test_a_call_that_fails_after_another_succeeded_does_not_resend_the_first(
    pool: ConnectionPool[Conn], fresh_database_url: str
) -> None:
    url = fresh_database_url
    with connect(url) as conn:  # two brokers, two campaigns: two calls for one batch
        for name, campaign in (("Broker A", "camp-a"), ("Broker B", "camp-b")):
            broker = make_broker(conn, name)
            conn.execute(
                "update brokers set instantly_campaign_id = %s where id = %s", [campaign, broker]
            )
        add_leads(conn, 6)
        feed(conn, business_date=DAY, cap=10, default_campaign=None)
        conn.commit()
    fake = FailsSecondCallOnce()
    run(pool, fake)
    # Without recording each call's answer at once, the retry would send the first campaign's
    # leads again; Instantly (here its simulator) would skip them as already in the workspace.
    assert [len(c.leads) for c in fake.calls] == [3, 3]
    assert set(lead_states(url).values()) == {"active"}
    with psycopg.connect(url) as conn:
        assert conn.execute(
            "select count(*) from pipeline_events where outcome = 'skipped'"
        ).fetchone() == (0,)


def test_counters_that_disagree_with_created_leads_are_a_dead_letter(
    pool: ConnectionPool[Conn], fresh_database_url: str, server: FakeServer
) -> None:
    url = fresh_database_url
    reserve(url, 3, cap=3)
    body = fixture("leads_add_response_skipped.json")
    body["leads_uploaded"] = 3  # says three, lists two: who is in the campaign is unknown
    server.respond = lambda _: Reply(body=body)
    with InstantlyClient("key", base_url=server.url, timeout=2) as client:
        run(pool, client)
    assert set(lead_states(url).values()) == {"queued"}  # nothing guessed
    with psycopg.connect(url) as conn:
        dead = conn.execute("select reason from pipeline_dlq").fetchall()
    assert len(dead) == 1 and "created_leads" in dead[0][0]


def test_feed_skipped_lists_each_skip_with_its_reason(
    pool: ConnectionPool[Conn],
    fresh_database_url: str,
    server: FakeServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = fresh_database_url
    reserve(url, 3, cap=3)
    server.respond = skipped_second
    with InstantlyClient("key", base_url=server.url, timeout=2) as client:
        run(pool, client)
    skipped = sent_ids(server.requests[0])[1]
    monkeypatch.setenv("DATABASE_URL", url)
    get_settings.cache_clear()
    try:
        listed = CliRunner().invoke(app, ["feed-skipped"])
        later = CliRunner().invoke(app, ["feed-skipped", "--since", "2999-01-01"])
        bad = CliRunner().invoke(app, ["feed-skipped", "--since", "yesterday"])
    finally:
        get_settings.cache_clear()
    assert listed.exit_code == 0, listed.output
    header, line = listed.stdout.strip().splitlines()
    assert header.split("\t")[:5] == ["when_utc", "lead_id", "broker", "campaign_id", "reason"]
    fields = line.split("\t")
    assert fields[1:5] == [skipped, "Broker A", CAMPAIGN, "skipped_count"]
    assert "skip_if_in_workspace" in fields[5]
    assert later.exit_code == 0 and len(later.stdout.strip().splitlines()) == 1
    assert bad.exit_code != 0 and "--since" in bad.output


# --- which reason a left-out lead gets --------------------------------------------------------


def result_for(created: list[int], **counts: int) -> AddLeadsResult:
    return AddLeadsResult(
        leads_uploaded=len(created),
        created_leads=tuple(CreatedLead(i, f"id-{i}", "") for i in created),
        **counts,
    )


LEADS = [
    InstantlyLead(email="a@example.com"),
    InstantlyLead(email="b@example.com"),
    InstantlyLead(email="A@example.com"),  # repeats a@
    InstantlyLead(email="not-an-email"),
]


def test_the_only_counter_is_every_left_out_leads_reason() -> None:
    reasons = skip_reasons(result_for([0, 2, 3], skipped_count=1), LEADS)
    assert list(reasons) == [1] and reasons[1][0] == "skipped_count"


def test_repeats_and_unparseable_emails_are_pinned_the_rest_take_what_is_left() -> None:
    reasons = skip_reasons(
        result_for([0], in_blocklist=1, duplicate_email_count=1, invalid_email_count=1), LEADS
    )
    assert {i: code for i, (code, _) in reasons.items()} == {
        1: "in_blocklist",
        2: "duplicate_email_count",
        3: "invalid_email_count",
    }


def test_several_possible_reasons_are_all_named_and_none_is_unreported() -> None:
    both = skip_reasons(result_for([0, 2, 3], in_blocklist=1, skipped_count=1), LEADS)
    code, text = both[1]
    assert code == "in_blocklist|skipped_count"
    assert "blocklist (1)" in text and "skip_if_in_workspace" in text
    assert skip_reasons(result_for([0, 1, 2]), LEADS) == {
        3: ("unreported", "not created; Instantly gave no reason")
    }


def test_the_documented_response_parses_with_its_skip() -> None:
    parsed = parse_add_leads_response(fixture("leads_add_response_skipped.json"), 3)
    assert parsed.skipped_count == 1 and [c.index for c in parsed.created_leads] == [0, 2]
    [(index, (code, _))] = skip_reasons(parsed, LEADS[:3]).items()
    assert (index, code) == (1, "skipped_count")


counter_values = st.integers(min_value=0, max_value=3)


@given(
    created=st.sets(st.integers(min_value=0, max_value=5)),
    emails=st.lists(
        st.sampled_from(["a@example.com", "A@example.com", "b@x.org", "nope"]),
        min_size=6,
        max_size=6,
    ),
    counts=st.fixed_dictionaries({name: counter_values for name in SKIP_COUNTERS}),
)
def test_every_left_out_lead_gets_one_known_reason(
    created: set[int], emails: list[str], counts: dict[str, int]
) -> None:
    leads = [InstantlyLead(email=e) for e in emails]
    reasons = skip_reasons(result_for(sorted(created), **counts), leads)
    assert sorted(reasons) == [i for i in range(6) if i not in created]
    for code, text in reasons.values():
        assert code == "unreported" or set(code.split("|")) <= set(SKIP_COUNTERS)
        assert text
