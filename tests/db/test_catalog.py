"""The catalog says what the schema promises: RLS everywhere, nothing for anon."""

from __future__ import annotations

from enum import StrEnum

import pytest

from equity_connect.campaign.schemas import CampaignStatus, FeedBatchStatus, SuppressionReason
from equity_connect.db.pool import Conn
from equity_connect.events.schemas import DeliveryStatus
from equity_connect.ingest.schemas import MatchKey, SignatureScheme, UploadRowStatus, UploadStatus
from equity_connect.jobs.schemas import DlqStatus, JobStatus
from equity_connect.replies.schemas import (
    BookingStatus,
    ConsentMethod,
    InboundProvider,
    InboundStatus,
    NotificationStatus,
)
from equity_connect.verification.schemas import ContactChannel

ENUMS: dict[str, type[StrEnum]] = {
    "campaign_status": CampaignStatus,
    "suppression_reason": SuppressionReason,
    "upload_status": UploadStatus,
    "upload_row_status": UploadRowStatus,
    "match_key": MatchKey,
    "signature_scheme": SignatureScheme,
    "contact_channel": ContactChannel,
    "inbound_provider": InboundProvider,
    "inbound_status": InboundStatus,
    "dlq_status": DlqStatus,
    "job_status": JobStatus,
    "feed_batch_status": FeedBatchStatus,
    "consent_method": ConsentMethod,
    "booking_status": BookingStatus,
    "notification_status": NotificationStatus,
    "event_delivery_status": DeliveryStatus,
}

# The migration ledger holds no lead data and is written before any role exists.
RLS_EXEMPT = {"schema_migrations"}


def public_tables(conn: Conn) -> list[dict[str, object]]:
    return conn.execute(
        """
        select c.relname, c.relrowsecurity, c.relforcerowsecurity
        from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = 'public' and c.relkind in ('r', 'p')
        order by c.relname
        """
    ).fetchall()


def test_every_table_has_rls_enabled_and_forced(conn: Conn) -> None:
    tables = public_tables(conn)
    assert {"leads", "upload_rows", "consent_tokens", "inbound_events"} <= {
        t["relname"] for t in tables
    }
    missing = [
        t["relname"]
        for t in tables
        if t["relname"] not in RLS_EXEMPT and not (t["relrowsecurity"] and t["relforcerowsecurity"])
    ]
    assert missing == []


@pytest.mark.parametrize("role", ["anon", "authenticated"])
def test_no_materialized_view_is_readable_by_clients(conn: Conn, role: str) -> None:
    readable = conn.execute(
        """
        select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where c.relkind = 'm' and n.nspname = 'public'
          and has_table_privilege(%s, c.oid, 'SELECT')
        """,
        [role],
    ).fetchall()
    assert readable == []
    assert conn.execute(
        "select count(*) as n from pg_matviews where matviewname = 'mv_contactable_leads'"
    ).fetchone() == {"n": 1}


def test_anon_has_no_privilege_on_any_table(conn: Conn) -> None:
    granted = conn.execute(
        """
        select c.relname, p.privilege
        from pg_class c join pg_namespace n on n.oid = c.relnamespace
        cross join unnest(array['SELECT','INSERT','UPDATE','DELETE','TRUNCATE']) as p(privilege)
        where n.nspname = 'public' and c.relkind in ('r', 'p', 'v', 'm')
          and has_table_privilege('anon', c.oid, p.privilege)
        """
    ).fetchall()
    assert granted == []


def test_views_in_public_run_as_invoker(conn: Conn) -> None:
    definer_views = conn.execute(
        """
        select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = 'public' and c.relkind = 'v'
          and not coalesce('security_invoker=true' = any(c.reloptions), false)
        """
    ).fetchall()
    assert definer_views == []


def test_no_security_definer_function_in_public(conn: Conn) -> None:
    rows = conn.execute(
        """
        select p.proname from pg_proc p join pg_namespace n on n.oid = p.pronamespace
        where n.nspname = 'public' and p.prosecdef
        """
    ).fetchall()
    assert rows == []


def test_every_enum_mirrors_its_strenum(conn: Conn) -> None:
    rows = conn.execute(
        """
        select t.typname, array_agg(e.enumlabel order by e.enumsortorder) as labels
        from pg_type t
        join pg_enum e on e.enumtypid = t.oid
        join pg_namespace n on n.oid = t.typnamespace
        where n.nspname = 'public'
        group by t.typname
        """
    ).fetchall()
    in_db = {r["typname"]: r["labels"] for r in rows}
    assert set(in_db) == set(ENUMS), "every Postgres enum needs a StrEnum (and vice versa)"
    for name, enum_cls in ENUMS.items():
        assert in_db[name] == [m.value for m in enum_cls], name


def test_supabase_auth_helpers_read_the_jwt_claims(conn: Conn) -> None:
    conn.execute(
        "select set_config('request.jwt.claims', %s, true)",
        ['{"sub": "2f1c7f3e-8d5b-4a1e-9c3a-0d6b1f2e3a4b", "role": "authenticated"}'],
    )
    row = conn.execute("select auth.uid()::text as uid, auth.role() as role").fetchone()
    assert row == {"uid": "2f1c7f3e-8d5b-4a1e-9c3a-0d6b1f2e3a4b", "role": "authenticated"}
    assert conn.execute("select auth.jwt() ->> 'role' as r").fetchone() == {"r": "authenticated"}
    conn.execute("select set_config('request.jwt.claims', '', true)")
    assert conn.execute("select auth.uid() as uid").fetchone() == {"uid": None}


def test_plan_indexes_and_constraints_exist_by_name(conn: Conn) -> None:
    names = {
        r["name"]
        for r in conn.execute(
            "select indexname as name from pg_indexes where schemaname = 'public' "
            "union all select conname from pg_constraint c "
            "join pg_namespace n on n.oid = c.connamespace where n.nspname = 'public'"
        )
    }
    expected = {
        "leads_mak_key",
        "leads_county_apn_key",
        "leads_addr_hash_key",
        "leads_feed_hot_idx",
        "leads_replied_lookup_idx",
        "mv_contactable_leads_lead_id_key",
        "lead_score_range",
        "consent_requires_timestamp",
        "leads_broker_fk",
        "inbound_events_provider_external_id_key",
        "consent_tokens_nonce_hash_key",
        "uploads_sha256_key",
    }
    assert expected <= names
