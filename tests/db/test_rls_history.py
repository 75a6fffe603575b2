"""Migration 0020: a broker reads the history of their own leads, and nothing of others'."""

from __future__ import annotations

import psycopg
import pytest
from psycopg.types.json import Jsonb

from equity_connect.db.pool import Conn, act_as_broker
from tests.factories import make_broker, make_lead

HISTORY = {
    "upload_rows": "select lead_id from upload_rows",
    "skiptrace_requests": "select lead_id from skiptrace_requests",
    "lead_contacts": "select lead_id from lead_contacts",
    "pipeline_events": "select lead_id from pipeline_events",
    "inbound_events": "select lead_id from inbound_events",
    "suppressions": "select lead_id from suppressions",
    "audit_log": "select row_id::uuid as lead_id from audit_log",
}


def test_history_of_own_leads_only(conn: Conn) -> None:
    a, b = make_broker(conn, "A"), make_broker(conn, "B")
    mine, theirs = make_lead(conn, a), make_lead(conn, b)
    upload = conn.execute(
        "insert into uploads (sha256, byte_size, signature_scheme) "
        "values (sha256('x'::bytea), 1, 'local') returning id"
    ).fetchone()["id"]  # type: ignore[index]
    for n, lead in enumerate((mine, theirs), start=1):
        conn.execute(
            "insert into upload_rows (upload_id, row_number, lead_id, status) "
            "values (%s, %s, %s, 'inserted')",
            [upload, n, lead],
        )
        conn.execute(
            "insert into skiptrace_requests (provider, idempotency_key, lead_id) "
            "values ('sim', %s, %s)",
            [f"k{n}", lead],
        )
        conn.execute(
            "insert into lead_contacts (lead_id, channel, value_ciphertext, value_index, provider) "
            "values (%s, 'phone', '\\x00', %s, 'sim')",
            [lead, bytes([n]) * 32],
        )
        conn.execute(
            "insert into pipeline_events (stage, outcome, lead_id, detail) "
            "values ('replied', 'interested', %s, %s)",
            [lead, Jsonb({})],
        )
        conn.execute(
            "insert into inbound_events (provider, external_id, event_type, payload_ciphertext, "
            "lead_id) values ('vapi', %s, 'end-of-call-report', '\\x00', %s)",
            [f"e{n}", lead],
        )
        conn.execute(
            "insert into suppressions (channel, value_index, reason, source, lead_id) "
            "values ('phone', %s, 'dnc', 'test', %s)",
            [bytes([n]) * 32, lead],
        )
        conn.execute(
            "insert into audit_log (actor_role, action, table_name, row_id) "
            "values ('ops', 'lead.status', 'leads', %s)",
            [str(lead)],
        )
    # a row id that is not a uuid does not break a broker's read of the audit log
    conn.execute(
        "insert into audit_log (actor_role, action, table_name, row_id) "
        "values ('ops', 'dlq.replay', 'pipeline_dlq', '17')"
    )
    act_as_broker(conn, a)
    for table, query in HISTORY.items():
        seen = {r["lead_id"] for r in conn.execute(query)}
        assert seen == {mine}, table


def test_what_a_broker_may_not_read_of_it(conn: Conn) -> None:
    a = make_broker(conn, "A")
    act_as_broker(conn, a)
    for query in (
        "select raw_ciphertext from upload_rows",
        "select response_ciphertext from skiptrace_requests",
        "select value_index from suppressions",
        "select request_id from audit_log",
        "select nonce_hash from consent_tokens",
    ):
        with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
            conn.execute(query)
    for write in (
        "delete from pipeline_events",
        "update lead_contacts set verified = true",
        "insert into suppressions (channel, value_index, reason, source) "
        "values ('phone', '\\x01', 'dnc', 'me')",
    ):
        with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
            conn.execute(write)
