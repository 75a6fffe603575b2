"""Row-level security, tested as the real roles inside rolled-back transactions.

The test connection is a superuser, which bypasses RLS; every check here
first switches to the role under test with ``act_as``/``act_as_broker``, as
the API does, so a green test means the database enforced it.
"""

from __future__ import annotations

import uuid

import psycopg
import pytest

from equity_connect.db.pool import Conn, act_as, act_as_broker
from tests.factories import make_broker, make_lead

Setup = tuple[uuid.UUID, uuid.UUID, list[uuid.UUID], list[uuid.UUID]]


@pytest.fixture
def two_brokers(conn: Conn) -> Setup:
    a, b = make_broker(conn, "A"), make_broker(conn, "B")
    a_leads = [make_lead(conn, a, lead_score=10) for _ in range(3)]
    b_leads = [make_lead(conn, b, lead_score=20) for _ in range(2)]
    make_lead(conn, None)  # unassigned: visible to nobody but the pipeline
    return a, b, a_leads, b_leads


def test_broker_sees_only_own_leads(conn: Conn, two_brokers: Setup) -> None:
    a, b, a_leads, b_leads = two_brokers
    act_as_broker(conn, a)
    seen = {r["id"] for r in conn.execute("select id from leads")}
    assert seen == set(a_leads)
    assert conn.execute(
        "select count(*) as n from leads where id = any(%s)", [b_leads]
    ).fetchone() == {"n": 0}


def test_broker_update_and_delete_of_others_rows_affect_nothing(
    conn: Conn,
    two_brokers: Setup,
) -> None:
    a, b, a_leads, b_leads = two_brokers
    act_as_broker(conn, a)
    cur = conn.execute("update leads set campaign_status = 'paused' where id = any(%s)", [b_leads])
    assert cur.rowcount == 0
    cur = conn.execute("delete from leads where id = any(%s)", [b_leads])
    assert cur.rowcount == 0
    # Not even their own leads can be deleted: there is no DELETE policy.
    assert conn.execute("delete from leads where id = any(%s)", [a_leads]).rowcount == 0
    act_as(conn, role="pipeline_writer", claims={})
    statuses = {
        r["campaign_status"]
        for r in conn.execute("select campaign_status from leads where id = any(%s)", [b_leads])
    }
    assert statuses == {"new"}
    assert conn.execute("select count(*) as n from leads").fetchone() == {"n": 6}


def test_broker_insert_for_another_broker_fails_42501(conn: Conn, two_brokers: Setup) -> None:
    a, b, _, _ = two_brokers
    act_as_broker(conn, a)
    with pytest.raises(psycopg.errors.InsufficientPrivilege) as err:
        conn.execute("insert into leads (assigned_broker_id) values (%s)", [b])
    assert err.value.sqlstate == "42501"


def test_broker_insert_for_self_succeeds(conn: Conn, two_brokers: Setup) -> None:
    a, _, _, _ = two_brokers
    act_as_broker(conn, a)
    conn.execute("insert into leads (assigned_broker_id) values (%s)", [a])
    assert conn.execute("select count(*) as n from leads").fetchone() == {"n": 4}


def test_broker_cannot_hand_own_lead_to_another(conn: Conn, two_brokers: Setup) -> None:
    a, b, a_leads, _ = two_brokers
    act_as_broker(conn, a)
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
        conn.execute("update leads set assigned_broker_id = %s where id = %s", [b, a_leads[0]])


def test_broker_cannot_unassign_own_lead(conn: Conn, two_brokers: Setup) -> None:
    a, _, a_leads, _ = two_brokers
    act_as_broker(conn, a)
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("update leads set assigned_broker_id = null where id = %s", [a_leads[0]])


def test_broker_cannot_touch_pipeline_columns(conn: Conn, two_brokers: Setup) -> None:
    a, _, a_leads, _ = two_brokers
    act_as_broker(conn, a)
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(
            "update leads set consent = true, consented_at = now() where id = %s", [a_leads[0]]
        )


def test_broker_can_update_own_lead_status(conn: Conn, two_brokers: Setup) -> None:
    a, _, a_leads, _ = two_brokers
    act_as_broker(conn, a)
    cur = conn.execute("update leads set campaign_status = 'paused' where id = %s", [a_leads[0]])
    assert cur.rowcount == 1


def test_broker_without_claims_sees_nothing(conn: Conn, two_brokers: Setup) -> None:
    act_as(conn, role="authenticated", claims={})
    assert conn.execute("select count(*) as n from leads").fetchone() == {"n": 0}


def test_broker_reads_own_broker_row_only(conn: Conn, two_brokers: Setup) -> None:
    a, _, _, _ = two_brokers
    act_as_broker(conn, a)
    assert [r["id"] for r in conn.execute("select id from brokers")] == [a]


def test_broker_cannot_read_consent_tokens_or_suppressions(conn: Conn, two_brokers: Setup) -> None:
    a, _, _, _ = two_brokers
    act_as_broker(conn, a)
    for table in ("consent_tokens", "suppressions", "upload_rows", "inbound_events"):
        with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
            conn.execute(f"delete from {table}")


def test_anon_sees_nothing_anywhere(conn: Conn, two_brokers: Setup) -> None:
    tables = [
        r["relname"]
        for r in conn.execute(
            "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            "where n.nspname = 'public' and c.relkind in ('r', 'p', 'v', 'm')"
        )
    ]
    assert "leads" in tables
    act_as(conn, role="anon", claims={"role": "anon"})
    for table in tables:
        try:
            with conn.transaction():
                row = conn.execute(f'select count(*) as n from public."{table}"').fetchone()
        except psycopg.errors.InsufficientPrivilege:
            continue
        assert row == {"n": 0}, table


def test_pipeline_role_sees_everything(conn: Conn, two_brokers: Setup) -> None:
    act_as(conn, role="pipeline_writer", claims={})
    assert conn.execute("select count(*) as n from leads").fetchone() == {"n": 6}
    assert conn.execute("select count(*) as n from mv_contactable_leads").fetchone() is not None


def test_forced_rls_binds_a_non_superuser_table_owner(conn: Conn, two_brokers: Setup) -> None:
    # Owners bypass RLS unless it is FORCEd: a non-superuser owner outside the
    # pipeline roles must see no rows; once a member of pipeline_writer, all.
    conn.execute("create role ec_owner nologin")
    conn.execute("alter table leads owner to ec_owner")
    act_as(conn, role="ec_owner", claims={"sub": str(two_brokers[0])})
    assert conn.execute("select count(*) as n from leads").fetchone() == {"n": 0}
    conn.execute("reset role")
    conn.execute("grant pipeline_writer to ec_owner")
    act_as(conn, role="ec_owner", claims={})
    assert conn.execute("select count(*) as n from leads").fetchone() == {"n": 6}


def test_act_as_refuses_to_run_outside_a_transaction(database_url: str) -> None:
    from equity_connect.db.pool import connect

    with connect(database_url, autocommit=True) as auto, pytest.raises(RuntimeError):
        act_as(auto, role="authenticated", claims={})


def test_broker_insert_cannot_set_identity_status_or_contact_columns(
    conn: Conn, two_brokers: Setup
) -> None:
    a, _, _, _ = two_brokers
    act_as_broker(conn, a)
    for column, value in (
        ("mak", "1234567890"),
        ("campaign_status", "queued"),
        ("email_ciphertext", b"\x01"),
        ("consent", True),
    ):
        with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
            conn.execute(
                f"insert into leads (assigned_broker_id, {column}) values (%s, %s)", [a, value]
            )


def test_a_broker_cannot_undo_an_opt_out(conn: Conn, two_brokers: Setup) -> None:
    a, _, a_leads, _ = two_brokers
    conn.execute("update leads set campaign_status = 'unsubscribed' where id = %s", [a_leads[0]])
    act_as_broker(conn, a)
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="opted out"), conn.transaction():
        conn.execute("update leads set campaign_status = 'active' where id = %s", [a_leads[0]])
    act_as(conn, role="pipeline_writer", claims={})
    # the pipeline (an operator's correction) still can
    conn.execute("update leads set campaign_status = 'paused' where id = %s", [a_leads[0]])


def test_a_broker_cannot_write_the_audit_log(conn: Conn, two_brokers: Setup) -> None:
    a, _, a_leads, _ = two_brokers
    act_as_broker(conn, a)
    with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
        conn.execute(
            "insert into audit_log (actor_role, actor_id, action, table_name, row_id) "
            "values ('authenticated', %s, 'lead.status', 'leads', %s)",
            [str(a), str(a_leads[0])],
        )


def test_nobody_but_the_database_dates_an_audit_row(conn: Conn) -> None:
    act_as(conn, role="pipeline_writer", claims={})
    with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
        conn.execute(
            "insert into audit_log (occurred_at, actor_role, action, table_name) "
            "values ('2000-01-01', 'ops', 'x', 't')"
        )
    row = conn.execute(
        "insert into audit_log (actor_role, action, table_name) values ('ops', 'x', 't') "
        "returning occurred_at > now() - interval '1 minute' as fresh"
    ).fetchone()
    assert row == {"fresh": True}


def test_a_broker_cannot_backdate_a_note(conn: Conn, two_brokers: Setup) -> None:
    a, _, a_leads, _ = two_brokers
    act_as_broker(conn, a)
    with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
        conn.execute(
            "insert into lead_notes (lead_id, broker_id, body, created_at) "
            "values (%s, %s, 'x', '2000-01-01')",
            [a_leads[0], a],
        )
    row = conn.execute(
        "insert into lead_notes (lead_id, broker_id, body) values (%s, %s, 'x') "
        "returning created_at = now() as today",
        [a_leads[0], a],
    ).fetchone()
    assert row == {"today": True}
