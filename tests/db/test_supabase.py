"""Migrations on a database shaped like a Supabase project.

Built from Supabase's own description of its roles and default privileges
(supabase/postgres, ``migrations/db/init-scripts/00000000000000-initial-schema.sql``
and ``migrations/db/migrations/10000000000000_demote-postgres.sql`` /
``20250605172253_grant_with_admin_to_postgres_16_and_above.sql``; Supabase docs,
"Postgres Roles"), not copied from them:

- ``anon``, ``authenticated``, ``service_role``: NOLOGIN roles the REST API
  switches to; ``authenticator``: the API's NOINHERIT login, a member of
  the three, which holds nothing itself until it sets a role;
- the project owner (``postgres`` there): no superuser, but CREATEROLE,
  CREATEDB and BYPASSRLS, with ADMIN OPTION on the three API roles;
- default privileges: every table, sequence and function the owner creates
  in ``public`` is granted ALL to anon, authenticated and service_role.

Roles are cluster-wide and the server may be shared, so the owner and the
authenticator get a unique name (the migrations name only the three API
roles, which are created only where missing) and are dropped afterwards.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from equity_connect.campaign.service import refresh_contactable
from equity_connect.db import migrate
from equity_connect.db.pool import Conn, act_as_broker, connect
from equity_connect.db.url import APP_ROLE
from tests.factories import make_broker, make_lead

API_ROLES = ("anon", "authenticated", "service_role")


@dataclass(frozen=True)
class SupabaseDb:
    """A Supabase-shaped database: who owns it and how the REST API logs in."""

    owner_url: str
    authenticator_url: str
    admin_url: str
    app_url: str
    owner: str


def _ensure_role(admin: psycopg.Connection[object], name: str) -> None:
    # Another test database on the same server may create it at the same time.
    if admin.execute("select 1 from pg_roles where rolname = %s", [name]).fetchone() is None:
        try:
            with admin.transaction():
                admin.execute(sql.SQL("create role {} nologin").format(sql.Identifier(name)))
        except (psycopg.errors.DuplicateObject, psycopg.errors.UniqueViolation):
            pass


@pytest.fixture
def supabase_db(server_url: str) -> Iterator[SupabaseDb]:
    suffix = uuid.uuid4().hex[:10]
    owner, authenticator, dbname = (
        f"ec_sb_owner_{suffix}",
        f"ec_sb_auth_{suffix}",
        f"ec_sb_{suffix}",
    )
    o, a, d = sql.Identifier(owner), sql.Identifier(authenticator), sql.Identifier(dbname)
    with psycopg.connect(server_url, autocommit=True) as admin:
        for role in API_ROLES:
            _ensure_role(admin, role)
        admin.execute(sql.SQL("create role {} login noinherit").format(a))
        admin.execute(
            sql.SQL("create role {} login nosuperuser createrole createdb bypassrls").format(o)
        )
        for role in API_ROLES:
            admin.execute(sql.SQL("grant {} to {}").format(sql.Identifier(role), a))
            admin.execute(
                sql.SQL("grant {} to {} with admin option").format(sql.Identifier(role), o)
            )
        # On a project of its own the owner creates these two (the migrations
        # do) and so holds ADMIN OPTION on them; here another test database
        # may have created them first.
        for role in ("pipeline_writer", "ec_app"):
            if admin.execute("select 1 from pg_roles where rolname = %s", [role]).fetchone():
                admin.execute(
                    sql.SQL("grant {} to {} with admin option").format(sql.Identifier(role), o)
                )
        admin.execute(sql.SQL("create database {} owner {}").format(d, o))
    admin_url = make_conninfo(server_url, dbname=dbname)
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(
            "grant usage on schema public to anon, authenticated, service_role",
        )
        for kind in ("tables", "sequences", "functions"):
            admin.execute(
                sql.SQL(
                    "alter default privileges for role {} in schema public "
                    "grant all on {} to anon, authenticated, service_role"
                ).format(o, sql.SQL(kind))
            )
    try:
        yield SupabaseDb(
            owner_url=make_conninfo(server_url, dbname=dbname, user=owner),
            authenticator_url=make_conninfo(server_url, dbname=dbname, user=authenticator),
            admin_url=admin_url,
            app_url=make_conninfo(server_url, dbname=dbname, user=APP_ROLE),
            owner=owner,
        )
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(sql.SQL("drop database if exists {} with (force)").format(d))
            admin.execute(sql.SQL("drop role if exists {}").format(a))
            _hand_over_grants(admin, owner)
            admin.execute(sql.SQL("drop role if exists {}").format(o))


def _hand_over_grants(admin: psycopg.Connection[object], owner: str) -> None:
    # On a fresh server the owner created ec_app and granted it its roles;
    # PostgreSQL 16 will not drop a role that granted memberships, so the
    # superuser grants them too before the owner's grants are revoked.
    if admin.info.server_version < 160000:
        return
    granted = admin.execute(
        "select roleid::regrole::text, member::regrole::text from pg_auth_members "
        "where grantor = %s::regrole",
        [owner],
    ).fetchall()
    for role, member in granted:
        r, m = sql.Identifier(str(role)), sql.Identifier(str(member))
        admin.execute(sql.SQL("grant {} to {}").format(r, m))
        admin.execute(
            sql.SQL("revoke {} from {} granted by {}").format(r, m, sql.Identifier(owner))
        )


def test_supabase_defaults_are_what_the_fixture_says(supabase_db: SupabaseDb) -> None:
    # The fixture must hand out what Supabase does, or the tests below prove nothing.
    with psycopg.connect(supabase_db.owner_url, autocommit=True) as conn:
        conn.execute("create table public.probe (id bigint generated always as identity)")
        row = conn.execute(
            "select has_table_privilege('anon', 'public.probe', 'DELETE'),"
            "       has_sequence_privilege('anon', 'public.probe_id_seq', 'USAGE'),"
            "       (select rolsuper from pg_roles where rolname = current_user)"
        ).fetchone()
    assert row == (True, True, False)


def test_migrate_twice_as_the_owner_leaves_the_client_roles_nothing_extra(
    supabase_db: SupabaseDb,
) -> None:
    applied = migrate.migrate(supabase_db.owner_url)
    assert [m.version for m in applied] == [m.version for m in migrate.discover()]
    assert migrate.migrate(supabase_db.owner_url) == []
    with psycopg.connect(supabase_db.owner_url) as conn:
        assert migrate.privilege_leaks(conn) == []
        # and what the owner creates from now on is not handed to the clients
        conn.execute("create table public.later (id bigint generated always as identity)")
        assert conn.execute(
            "select has_table_privilege('anon', 'public.later', 'SELECT'),"
            "       has_table_privilege('authenticated', 'public.later', 'SELECT'),"
            "       has_sequence_privilege('anon', 'public.later_id_seq', 'USAGE')"
        ).fetchone() == (False, False, False)
        conn.rollback()


def _as_api_role(conn: psycopg.Connection[object], role: str, claims: dict[str, str]) -> None:
    # What PostgREST does per request, through its NOINHERIT login.
    conn.execute(sql.SQL("set local role {}").format(sql.Identifier(role)))
    conn.execute("select set_config('request.jwt.claims', %s, true)", [json.dumps(claims)])


def test_the_anon_key_reaches_nothing(supabase_db: SupabaseDb) -> None:
    migrate.migrate(supabase_db.owner_url)
    with psycopg.connect(supabase_db.owner_url) as conn:
        relations = [
            r[0]
            for r in conn.execute(
                "select format('%I.%I', n.nspname, c.relname) from pg_class c "
                "join pg_namespace n on n.oid = c.relnamespace "
                "where n.nspname = 'public' and c.relkind in ('r', 'p', 'v', 'm')"
            )
        ]
        sequences = [
            r[0]
            for r in conn.execute(
                "select format('%I.%I', n.nspname, c.relname) from pg_class c "
                "join pg_namespace n on n.oid = c.relnamespace "
                "where n.nspname = 'public' and c.relkind = 'S'"
            )
        ]
    assert "public.schema_migrations" in relations and "public.leads" in relations
    assert sequences
    statements = [f"select 1 from {r} limit 1" for r in relations]
    statements += [f"select nextval('{s}')" for s in sequences]
    statements += [
        "insert into public.schema_migrations (version, name, checksum) values (9999, 'x', 'x')",
        "delete from public.schema_migrations",
        "truncate public.leads",
    ]
    with psycopg.connect(supabase_db.authenticator_url) as conn:
        for statement in statements:
            with conn.transaction(force_rollback=True):
                _as_api_role(conn, "anon", {"role": "anon"})
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    conn.execute(statement)
    # the ledger is as the migrations left it: nothing was planted
    assert migrate.migrate(supabase_db.owner_url) == []


def test_rls_isolates_brokers_through_the_authenticator(supabase_db: SupabaseDb) -> None:
    migrate.migrate(supabase_db.owner_url)
    with connect(supabase_db.owner_url) as conn:
        a, b = make_broker(conn, "A"), make_broker(conn, "B")
        a_leads = {make_lead(conn, a) for _ in range(3)}
        b_leads = {make_lead(conn, b) for _ in range(2)}
        make_lead(conn, None)
        conn.commit()
    with connect(supabase_db.authenticator_url) as conn:
        # the login alone (NOINHERIT) holds nothing
        with (
            conn.transaction(force_rollback=True),
            pytest.raises(psycopg.errors.InsufficientPrivilege),
        ):
            conn.execute("select id from public.leads")
        for broker, own in ((a, a_leads), (b, b_leads)):
            with conn.transaction(force_rollback=True):
                _as_api_role(conn, "authenticated", {"sub": str(broker), "role": "authenticated"})
                assert {r["id"] for r in conn.execute("select id from public.leads")} == own
                other = a_leads if broker == b else b_leads
                cur = conn.execute(
                    "update public.leads set campaign_status = 'paused' where id = any(%s)",
                    [list(other)],
                )
                assert cur.rowcount == 0
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    conn.execute("select nextval('public.audit_log_id_seq')")
        with conn.transaction(force_rollback=True):
            _as_api_role(conn, "authenticated", {"role": "authenticated"})
            assert conn.execute("select count(*) as n from public.leads").fetchone() == {"n": 0}


def _leaks_after(conn: Conn, grant: str) -> list[tuple[str, str, str, str]]:
    conn.execute(grant)
    return migrate.privilege_leaks(conn)


@pytest.mark.parametrize(
    ("grant", "expected"),
    [
        ("grant insert on public.schema_migrations to anon", ("anon", "INSERT")),
        ("grant usage on sequence public.jobs_id_seq to authenticated", ("authenticated", "USAGE")),
        ("grant truncate on public.leads to authenticated", ("authenticated", "TRUNCATE")),
        (
            "grant select on public.mv_contactable_leads to authenticated",
            ("authenticated", "SELECT"),
        ),
        ("grant select on public.consent_tokens to authenticated", ("authenticated", "SELECT")),
        ("grant insert on public.audit_log to authenticated", ("authenticated", "INSERT")),
        (
            "grant insert (created_at) on public.lead_notes to authenticated",
            ("authenticated", "INSERT"),
        ),
        (
            "grant execute on function public.funnel(date, date, uuid, text, uuid) to anon",
            ("anon", "EXECUTE"),
        ),
        ("grant pipeline_writer to authenticated", ("authenticated", "MEMBER")),
        ("grant create on schema public to authenticated", ("authenticated", "CREATE")),
        (
            "create function ec_internal.f() returns int language sql security definer "
            "as 'select 1'",
            ("authenticated", "EXECUTE"),
        ),
        (
            "create function public.f() returns int language sql security definer "
            "set search_path = '' as 'select 1'",
            ("authenticated", "EXECUTE"),
        ),
    ],
)
def test_the_check_names_each_privilege_a_client_must_not_hold(
    conn: Conn, grant: str, expected: tuple[str, str]
) -> None:
    assert migrate.privilege_leaks(conn) == []
    leaks = _leaks_after(conn, grant)
    assert expected in {(role, priv) for role, _, priv, _ in leaks}


def test_migrate_fails_loudly_on_a_leak(fresh_database_url: str) -> None:
    with psycopg.connect(fresh_database_url, autocommit=True) as conn:
        conn.execute("grant select, insert on public.schema_migrations to anon")
    with pytest.raises(
        migrate.PrivilegeLeakError, match=r"anon INSERT on public\.schema_migrations"
    ):
        migrate.migrate(fresh_database_url)


def test_the_app_login_works_on_a_supabase_shaped_database(supabase_db: SupabaseDb) -> None:
    # ec_app's memberships were granted by the owner (no superuser) or already there
    migrate.migrate(supabase_db.owner_url)
    with connect(supabase_db.app_url) as conn:
        a = make_broker(conn, "A")
        own = {make_lead(conn, a, email_verified=True) for _ in range(2)}
        make_lead(conn, None, email_verified=True)
        assert refresh_contactable(conn) == 3
        act_as_broker(conn, a)
        assert {r["id"] for r in conn.execute("select id from public.leads")} == own
        conn.rollback()
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(sql.SQL("set role {}").format(sql.Identifier(supabase_db.owner)))


def test_a_definer_function_outside_public_with_a_pinned_path_is_no_leak(conn: Conn) -> None:
    # what 0009's ec_internal.is_suppressed is: the one shape brokers may call
    conn.execute(
        "create function ec_internal.g() returns int language sql security definer "
        "set search_path = '' as 'select 1'"
    )
    assert [r[0] for r in migrate.privilege_leaks(conn)] == ["anon"]  # PUBLIC's EXECUTE
    conn.execute("revoke all on function ec_internal.g() from public")
    conn.execute("grant execute on function ec_internal.g() to authenticated")
    assert conn.execute(
        "select has_function_privilege('authenticated', 'ec_internal.g()', 'EXECUTE') as callable"
    ).fetchone() == {"callable": True}
    assert migrate.privilege_leaks(conn) == []
