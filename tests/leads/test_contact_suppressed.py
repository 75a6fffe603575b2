"""The callable-now filter honours the suppression set as each row's badge does.

leads.contact_suppressed (migration 0023) is kept by triggers from the
suppression set, whichever lead or broker a suppression came through; the
list's filter and count read it under RLS. Each test also checks the flag
against ec_internal.phone_suppressed, the rule's own definition, so a flag
that drifted from the rule fails here.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from equity_connect.campaign.suppression import (
    reconcile_contact_suppressed,
    suppress_leads,
    suppress_value,
)
from equity_connect.db.pool import Conn, act_as_broker, connect
from equity_connect.leads import service as leads
from equity_connect.leads.schemas import LeadFilters
from equity_connect.security.crypto import PiiCipher, aad_for
from tests.factories import make_broker, make_lead

# A Tuesday, 10:00 in Los Angeles: calling hours are open in California.
OPEN = datetime(2026, 3, 10, 18, 0, tzinfo=UTC)
CA = {"property_state": "CA", "property_zip": "91101", "owner_last_name": "Test"}


def callable_ids(conn: Conn, cipher: PiiCipher, broker: uuid.UUID) -> tuple[set[uuid.UUID], int]:
    """The broker's leads under the callable-now filter, as the broker (RLS), and the total."""
    # A savepoint rolled back: the broker's role and claims end with it.
    with conn.transaction(force_rollback=True):
        act_as_broker(conn, broker)
        page = leads.search_leads(
            conn, cipher, LeadFilters(callable_now=True, size=200), broker=broker, now=OPEN
        )
    for row in page.items:  # every row the filter lists carries a "callable now" badge
        assert row.callable_now, row
    return {r.id for r in page.items}, page.total


def flag_matches_rule(conn: Conn) -> None:
    drift = conn.execute(
        "select id, contact_suppressed, "
        "coalesce(ec_internal.phone_suppressed(phone_index, email_index), false) as rule "
        "from leads where contact_suppressed <> "
        "coalesce(ec_internal.phone_suppressed(phone_index, email_index), false)"
    ).fetchall()
    assert drift == []


@pytest.fixture
def brokers(conn: Conn) -> tuple[uuid.UUID, uuid.UUID]:
    return make_broker(conn, "A"), make_broker(conn, "B")


def test_suppressed_through_another_brokers_lead(
    conn: Conn, cipher: PiiCipher, brokers: tuple[uuid.UUID, uuid.UUID]
) -> None:
    a, b = brokers
    mine = make_lead(conn, a, cipher=cipher, phone="+16265550101", email="m@x.test", **CA)
    other = make_lead(conn, b, cipher=cipher, phone="+16265550101", email="o@x.test", **CA)
    untouched = make_lead(conn, a, cipher=cipher, phone="+16265550102", **CA)
    assert callable_ids(conn, cipher, a) == ({mine, untouched}, 2)
    # The homeowner opts out through broker B's lead: the number is suppressed.
    suppress_leads(conn, cipher, [other], reason="unsubscribed", source="test")
    assert callable_ids(conn, cipher, a) == ({untouched}, 1)
    assert callable_ids(conn, cipher, b) == (set(), 0)
    flag_matches_rule(conn)


def test_an_opt_out_by_email_suppresses_the_phone(
    conn: Conn, cipher: PiiCipher, brokers: tuple[uuid.UUID, uuid.UUID]
) -> None:
    a, _ = brokers
    emailed = make_lead(conn, a, cipher=cipher, phone="+16265550111", email="e@x.test", **CA)
    bounced = make_lead(conn, a, cipher=cipher, phone="+16265550112", email="b@x.test", **CA)
    # An unsubscribe by e-mail (another channel, no lead named) covers every channel;
    # a bounce says nothing about the phone.
    suppress_value(conn, cipher, "email", "e@x.test", reason="unsubscribed", source="test")
    suppress_value(conn, cipher, "email", "b@x.test", reason="bounced", source="test")
    assert callable_ids(conn, cipher, a) == ({bounced}, 1)
    assert emailed not in callable_ids(conn, cipher, a)[0]
    flag_matches_rule(conn)


def test_an_opt_out_after_a_bounce_suppresses_the_phone(
    conn: Conn, cipher: PiiCipher, brokers: tuple[uuid.UUID, uuid.UUID]
) -> None:
    a, b = brokers
    mine = make_lead(conn, a, cipher=cipher, phone="+16265550151", email="s@x.test", **CA)
    theirs = make_lead(conn, b, cipher=cipher, phone="+16265550152", email="s@x.test", **CA)
    suppress_value(conn, cipher, "email", "s@x.test", reason="bounced", source="test")
    assert callable_ids(conn, cipher, a) == ({mine}, 1)
    # The homeowner then unsubscribes through broker B's lead: the opt-out covers
    # every channel of every lead holding that e-mail, though a bounce came first.
    suppress_leads(conn, cipher, [theirs], reason="unsubscribed", source="test")
    assert callable_ids(conn, cipher, a) == (set(), 0)
    assert conn.execute(
        "select reason::text from suppressions where channel = 'email' and value_index = %s",
        [cipher.blind_index("email", "s@x.test")],
    ).fetchone() == {"reason": "unsubscribed"}
    flag_matches_rule(conn)


def test_a_lead_written_after_its_suppression(
    conn: Conn, cipher: PiiCipher, brokers: tuple[uuid.UUID, uuid.UUID]
) -> None:
    a, _ = brokers
    suppress_value(conn, cipher, "phone", "+16265550121", reason="dnc", source="test")
    reimported = make_lead(conn, a, cipher=cipher, phone="+16265550121", **CA)
    moved = make_lead(conn, a, cipher=cipher, phone="+16265550122", **CA)
    assert callable_ids(conn, cipher, a) == ({moved}, 1)
    # The lead's phone changes to the suppressed number, then away from it.
    index = cipher.blind_index("phone", "+16265550121")
    cipher_text = cipher.encrypt("+16265550121", aad_for("leads", "phone", moved))
    conn.execute(
        "update leads set phone_index = %s, phone_ciphertext = %s where id = %s",
        [index, cipher_text, moved],
    )
    assert callable_ids(conn, cipher, a) == (set(), 0)
    fresh = "+16265550123"
    conn.execute(
        "update leads set phone_index = %s, phone_ciphertext = %s where id = %s",
        [
            cipher.blind_index("phone", fresh),
            cipher.encrypt(fresh, aad_for("leads", "phone", reimported)),
            reimported,
        ],
    )
    assert callable_ids(conn, cipher, a) == ({reimported}, 1)
    flag_matches_rule(conn)


def test_the_flag_cannot_be_cleared_by_hand(
    conn: Conn, cipher: PiiCipher, brokers: tuple[uuid.UUID, uuid.UUID]
) -> None:
    a, _ = brokers
    lead = make_lead(conn, a, cipher=cipher, phone="+16265550131", **CA)
    suppress_value(conn, cipher, "phone", "+16265550131", reason="opt_out", source="test")
    conn.execute("update leads set contact_suppressed = false where id = %s", [lead])
    assert conn.execute(
        "select contact_suppressed from leads where id = %s", [lead]
    ).fetchone() == {"contact_suppressed": True}
    # A suppression removed (re-indexed away, or deleted) re-judges its leads.
    conn.execute("delete from suppressions where source = 'test'")
    assert callable_ids(conn, cipher, a) == ({lead}, 1)
    flag_matches_rule(conn)


PHONES = [f"+1626555014{i}" for i in range(4)]
EMAILS = [f"h{i}@x.test" for i in range(3)]
ops = st.lists(
    st.one_of(
        st.tuples(st.just("lead"), st.sampled_from(PHONES), st.sampled_from(EMAILS)),
        st.tuples(
            st.just("suppress"),
            st.sampled_from([("phone", p) for p in PHONES] + [("email", e) for e in EMAILS]),
            st.sampled_from(["unsubscribed", "bounced", "dnc", "opt_out"]),
        ),
        st.tuples(st.just("rephone"), st.integers(0, 20), st.sampled_from(PHONES)),
    ),
    max_size=12,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=ops)
def test_the_filter_agrees_with_the_rule_whatever_the_order(
    conn: Conn, cipher: PiiCipher, steps: list[tuple[object, ...]]
) -> None:
    with conn.transaction(force_rollback=True):
        a, b = make_broker(conn, "A"), make_broker(conn, "B")
        made: list[uuid.UUID] = []
        for step in steps:
            if step[0] == "lead":
                owner = a if len(made) % 2 == 0 else b
                made.append(
                    make_lead(
                        conn, owner, cipher=cipher, phone=str(step[1]), email=str(step[2]), **CA
                    )
                )
            elif step[0] == "suppress":
                channel, value = step[1]  # type: ignore[misc]
                suppress_value(conn, cipher, channel, value, reason=str(step[2]), source="h")
            elif made:
                lead = made[int(step[1]) % len(made)]  # type: ignore[call-overload]
                phone = str(step[2])
                conn.execute(
                    "update leads set phone_index = %s, phone_ciphertext = %s where id = %s",
                    [
                        cipher.blind_index("phone", phone),
                        cipher.encrypt(phone, aad_for("leads", "phone", lead)),
                        lead,
                    ],
                )
        flag_matches_rule(conn)
        expected = {
            r["id"]
            for r in conn.execute(
                "select id from leads where assigned_broker_id = %s "
                "and not ec_internal.phone_suppressed(phone_index, email_index)",
                [a],
            )
        }
        assert callable_ids(conn, cipher, a) == (expected, len(expected))


@pytest.fixture
def committed(database_url: str) -> Iterator[tuple[Conn, Conn]]:
    """Two autonomous connections whose work commits; what they made is deleted after."""
    a, b = connect(database_url), connect(database_url)
    try:
        yield a, b
    finally:
        a.rollback()
        b.rollback()
        b.execute("delete from suppressions where source = 'race-test'")
        b.execute("delete from leads where owner_last_name = 'RaceTest'")
        b.execute("delete from brokers where name = 'RaceTest'")
        b.commit()
        a.close()
        b.close()


def test_a_lead_and_its_suppression_committed_concurrently_are_reconciled(
    committed: tuple[Conn, Conn], cipher: PiiCipher
) -> None:
    a, b = committed
    broker = make_broker(a, "RaceTest")
    a.commit()
    number = "+16265550191"
    # A inserts the lead (no suppression of its number is visible yet) while B
    # suppresses the number (A's lead is not visible to it); B commits first.
    lead = make_lead(
        a, broker, cipher=cipher, phone=number, **{**CA, "owner_last_name": "RaceTest"}
    )
    suppress_value(b, cipher, "phone", number, reason="unsubscribed", source="race-test")
    b.commit()
    a.commit()
    state = (
        "select contact_suppressed, "
        "ec_internal.phone_suppressed(phone_index, email_index) as rule from leads where id = %s"
    )
    assert a.execute(state, [lead]).fetchone() == {"contact_suppressed": False, "rule": True}
    # The flag lags, but the row's badge and the lead page ask the set itself.
    with a.transaction(force_rollback=True):
        act_as_broker(a, broker)
        page = leads.search_leads(a, cipher, LeadFilters(size=50), broker=broker, now=OPEN)
        assert [(r.id, r.callable_now) for r in page.items] == [(lead, False)]
        assert leads.find_lead(a, lead)["phone_suppressed"] is True
    # The reconcile repairs it, and a second run has nothing left to do.
    assert reconcile_contact_suppressed(a) == 1
    a.commit()
    assert a.execute(state, [lead]).fetchone() == {"contact_suppressed": True, "rule": True}
    assert callable_ids(a, cipher, broker) == (set(), 0)
    assert reconcile_contact_suppressed(a) == 0
    # The other way: the suppression removed, a flag left set is cleared.
    # (Simulated: the trigger that would clear it is held off while the row goes.)
    b.execute("alter table suppressions disable trigger trg_suppressions_rejudge_leads")
    b.execute("delete from suppressions where source = 'race-test'")
    b.execute("alter table suppressions enable trigger trg_suppressions_rejudge_leads")
    b.commit()
    assert a.execute(state, [lead]).fetchone() == {"contact_suppressed": True, "rule": False}
    assert reconcile_contact_suppressed(a) == 1
    a.commit()
    assert callable_ids(a, cipher, broker) == ({lead}, 1)


def test_the_reconcile_skips_a_run_rather_than_wait_for_a_lock_on_leads(
    committed: tuple[Conn, Conn],
) -> None:
    # It runs on the worker's heartbeat path: waiting behind a bulk ingest's lock
    # on leads would let the worker's job leases lapse (migration 0023).
    a, b = committed
    b.execute("lock table leads in share mode")
    # Without the function's own lock timeout this would wait for b; the
    # statement timeout only keeps a broken build from hanging the suite.
    a.execute("set statement_timeout = '20s'")
    assert reconcile_contact_suppressed(a) == 0
    a.rollback()
    b.rollback()
    a.execute("set statement_timeout = 0")
    assert reconcile_contact_suppressed(a) == 0
