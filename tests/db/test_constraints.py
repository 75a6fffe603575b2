"""The plan's guard rails hold in the database itself."""

from __future__ import annotations

import psycopg
import pytest

from equity_connect.db.pool import Conn
from tests.factories import make_lead


def test_consent_requires_timestamp(conn: Conn) -> None:
    with pytest.raises(psycopg.errors.CheckViolation, match="consent_requires_timestamp"):
        make_lead(conn, consent=True)


def test_consent_with_timestamp_is_accepted(conn: Conn) -> None:
    make_lead(conn, consent=True, consented_at="2026-01-05T10:00:00Z")


@pytest.mark.parametrize("score", [-1, 101])
def test_lead_score_outside_0_100_rejected(conn: Conn, score: int) -> None:
    with pytest.raises(psycopg.errors.CheckViolation, match="lead_score_range"):
        make_lead(conn, lead_score=score)


@pytest.mark.parametrize("score", [0, 100])
def test_lead_score_bounds_accepted(conn: Conn, score: int) -> None:
    make_lead(conn, lead_score=score)


def test_added_to_campaign_at_stamped_on_active_and_kept(conn: Conn) -> None:
    lead = make_lead(conn, campaign_status="queued")
    stamp = "select added_to_campaign_at as t from leads where id = %s"
    assert conn.execute(stamp, [lead]).fetchone() == {"t": None}
    conn.execute("update leads set campaign_status = 'active' where id = %s", [lead])
    first = conn.execute(stamp, [lead]).fetchone()
    assert first is not None and first["t"] is not None
    conn.execute("update leads set campaign_status = 'paused' where id = %s", [lead])
    conn.execute("update leads set added_to_campaign_at = null where id = %s", [lead])
    conn.execute("update leads set campaign_status = 'active' where id = %s", [lead])
    assert conn.execute(stamp, [lead]).fetchone() == first


def test_lead_inserted_active_is_stamped(conn: Conn) -> None:
    lead = make_lead(conn, campaign_status="active")
    row = conn.execute(
        "select added_to_campaign_at as t from leads where id = %s", [lead]
    ).fetchone()
    assert row is not None and row["t"] is not None


def test_unknown_campaign_status_rejected(conn: Conn) -> None:
    with pytest.raises(psycopg.errors.InvalidTextRepresentation):
        make_lead(conn, campaign_status="warm")


def test_identity_keys_are_unique_but_null_safe(conn: Conn) -> None:
    make_lead(conn, mak="1000000001")
    make_lead(conn)  # many leads may lack every key
    make_lead(conn)
    with pytest.raises(psycopg.errors.UniqueViolation, match="leads_mak_key"), conn.transaction():
        make_lead(conn, mak="1000000001")
    make_lead(conn, county_fips="06037", apn_normalized="1234567001")
    make_lead(conn, county_fips="06073", apn_normalized="1234567001")  # other county: other parcel
    with (
        pytest.raises(psycopg.errors.UniqueViolation, match="leads_county_apn_key"),
        conn.transaction(),
    ):
        make_lead(conn, county_fips="06037", apn_normalized="1234567001")
    make_lead(conn, addr_hash=b"\x01" * 32)
    with (
        pytest.raises(psycopg.errors.UniqueViolation, match="leads_addr_hash_key"),
        conn.transaction(),
    ):
        make_lead(conn, addr_hash=b"\x01" * 32)


def test_deleting_a_broker_unassigns_leads(conn: Conn) -> None:
    from tests.factories import make_broker

    broker = make_broker(conn)
    lead = make_lead(conn, broker)
    conn.execute("delete from brokers where id = %s", [broker])
    row = conn.execute("select assigned_broker_id as b from leads where id = %s", [lead]).fetchone()
    assert row == {"b": None}
