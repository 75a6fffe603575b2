"""The broker workspace at 1,000,000 leads: the lead list (search, filters, count) and the
lead page, as the server runs them, against PostgreSQL's own EXPLAIN ANALYZE time for the
same statements with the same values, in the same run.

Usage: python bench/workspace.py [LEADS]

Leads are written with COPY (every one with a real encrypted phone and email and their
blind indexes, so decryption and phone/email search are real), 50 brokers, one lineage row
per lead and two pipeline events per lead; one lead gets a full history for the lead page.
"server" is the service call (queries + decryption + calling-hours guard) and "http" the
whole GET through the app (auth, RLS, template); "plan" is the sum of EXPLAIN ANALYZE's
planning + execution times of the statements the page runs. Medians of 7 runs.
"""

from __future__ import annotations

import hashlib
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from fastapi.testclient import TestClient
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _db import bench_database

from equity_connect.campaign.suppression import reconcile_contact_suppressed
from equity_connect.config import Settings
from equity_connect.db.pool import Conn, act_as_broker, connect
from equity_connect.leads import service as leads
from equity_connect.leads.schemas import LeadFilters
from equity_connect.leads.service import _SORTS, Q
from equity_connect.security.apikeys import generate_api_key
from equity_connect.security.crypto import Keyring, PiiCipher, aad_for, generate_key
from equity_connect.security.jwt import issue_jwt
from equity_connect.web.app import create_app
from equity_connect.web.lead_pages import filters_from

RUNS = 7
FIRST = ["maria", "john", "rosa", "sam", "lena", "omar", "ivy", "tom", "nora", "paul"] * 10
LAST = [
    f"{a}{b}"
    for a in ("smith", "garcia", "chen", "baker", "evans", "hill", "ito", "jones", "khan", "lopez")
    for b in ("", "son", "er", "ez", "ski", "o", "ley", "ton", "field", "man")
]
CITIES = [
    f"{a}{b}"
    for a in ("pasa", "glen", "bur", "alta", "arca", "monro", "fres", "sacra", "oak", "san")
    for b in ("dena", "dale", "bank", "ville", "wood", "ton", "ridge", "field", "mont", "view")
]
STREETS = ["Oak St", "Elm Ave", "Pine Rd", "Main St", "Cedar Ln", "Birch Way", "Maple Ct"]
STATES = ["CA"] * 6 + ["NV", "AZ", "OR", "TX", "FL", "NY"]
STATUSES = ["new"] * 6 + ["queued", "active", "active", "replied", "paused", "converted"]


def median_ms(fn: Callable[[], object]) -> float:
    fn()  # warm
    samples = []
    for _ in range(RUNS):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000


def plan_ms(conn: Conn, query: str, params: dict[str, Any]) -> float:
    """PostgreSQL's own time for a statement: planning + execution, EXPLAIN ANALYZE."""
    samples = []
    for _ in range(RUNS):
        row = conn.execute(
            "explain (analyze, format json) " + query, params, prepare=False
        ).fetchone()
        plan = row["QUERY PLAN"][0]  # type: ignore[index]
        samples.append(plan["Planning Time"] + plan["Execution Time"])
    return statistics.median(samples)


def seed(url: str, cipher: PiiCipher, n: int) -> tuple[list[uuid.UUID], uuid.UUID]:
    rng = random.Random(15)
    brokers = [uuid.uuid4() for _ in range(50)]
    with psycopg.connect(url) as conn:
        with conn.cursor().copy(
            "copy brokers (id, name, email, calcom_event_url) from stdin"
        ) as cp:
            for i, b in enumerate(brokers):
                cp.write_row([b, f"Broker {i}", f"b{i}@x.test", "https://cal.example/b"])
        uploads = [uuid.uuid4() for _ in range(20)]
        for u, upload in enumerate(uploads):
            conn.execute(
                "insert into uploads (id, sha256, byte_size, signature_scheme, status, "
                "row_count, filename, source) values (%s, %s, 1, 'local', 'completed', %s, "
                "%s, 'vendor')",
                [upload, hashlib.sha256(upload.bytes).digest(), n // 20, f"part-{u}.csv"],
            )
        cols = (
            "id, assigned_broker_id, owner_first_name, owner_last_name, property_address, "
            "property_city, property_state, property_zip, lead_score, campaign_status, consent, "
            "consented_at, email_ciphertext, email_index, phone_ciphertext, phone_index, "
            "first_upload_id, score_breakdown"
        )
        # Bulk load as a migration's indexes would meet an existing table: load first,
        # then build every index of leads once (keeping them during COPY is ~10x slower).
        indexes = [
            r[0]
            for r in conn.execute(
                "select indexdef from pg_indexes where schemaname = 'public' "
                "and tablename = 'leads' and indexname <> 'leads_pkey'"
            )
        ]
        for name in [
            r[0]
            for r in conn.execute(
                "select indexname from pg_indexes where schemaname = 'public' "
                "and tablename = 'leads' and indexname <> 'leads_pkey'"
            )
        ]:
            conn.execute(sql.SQL("drop index public.{}").format(sql.Identifier(name)))
        started = time.perf_counter()
        with conn.cursor().copy(f"copy leads ({cols}) from stdin") as cp:
            for i in range(n):
                lead = uuid.uuid4()
                phone = f"+1{rng.choice(['626', '818', '213', '559', '702'])}{2000000 + i:07d}"
                email = f"owner{i}@example.com"
                consent = i % 17 == 0
                cp.write_row(
                    [
                        lead,
                        brokers[i % 50],
                        rng.choice(FIRST),
                        rng.choice(LAST),
                        f"{rng.randint(1, 9999)} {rng.choice(STREETS)}",
                        rng.choice(CITIES),
                        rng.choice(STATES),
                        f"{90000 + i % 6000:05d}",
                        rng.randint(0, 100),
                        rng.choice(STATUSES),
                        consent,
                        datetime.now(UTC) if consent else None,
                        cipher.encrypt(email, aad_for("leads", "email", lead)),
                        cipher.blind_index("email", email),
                        cipher.encrypt(phone, aad_for("leads", "phone", lead)),
                        cipher.blind_index("phone", phone),
                        uploads[i % 20],
                        '{"equity_share": 20, "phone": 15, "total": 35}',
                    ]
                )
        print(f"  copied {n:,} leads in {time.perf_counter() - started:.0f}s", flush=True)
        started = time.perf_counter()
        for definition in indexes:
            conn.execute(definition)
        print(f"  built {len(indexes)} indexes in {time.perf_counter() - started:.0f}s", flush=True)
        conn.execute(
            "insert into upload_rows (upload_id, row_number, lead_id, status) "
            "select first_upload_id, row_number() over (partition by first_upload_id), id, "
            "'inserted' from leads"
        )
        conn.execute(
            "insert into pipeline_events (stage, outcome, lead_id, broker_id, provider, detail) "
            "select s, 'x', id, assigned_broker_id, 'sim', '{}' from leads, "
            "unnest(array['fed', 'replied']) s"
        )
        # A suppression set: 1 % of the numbers opted out, and 1 % of the e-mails
        # unsubscribed (which suppresses those leads' phones too); the triggers of
        # migration 0023 flag the leads, and the callable-now totals are checked below.
        started = time.perf_counter()
        conn.execute(
            "insert into suppressions (channel, value_index, reason, source, lead_id) "
            "select 'phone'::contact_channel, phone_index, 'opt_out'::suppression_reason, 'bench', id "
            "from leads where lead_score = 7 "
            "union all "
            "select 'email', email_index, 'unsubscribed', 'bench', id from leads "
            "where lead_score = 8"
        )
        print(f"  suppressed 2% of the leads in {time.perf_counter() - started:.0f}s", flush=True)
        conn.commit()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("vacuum analyze")
    with psycopg.connect(url, row_factory=dict_row) as conn:
        target = conn.execute(
            "select id from leads where assigned_broker_id = %s order by lead_score desc limit 1",
            [brokers[0]],
        ).fetchone()["id"]  # type: ignore[index]
        for k in range(5):
            conn.execute(
                "insert into pipeline_events (stage, outcome, lead_id, broker_id, provider, detail) "
                "values ('replied', 'interested', %s, %s, 'instantly', %s)",
                [target, brokers[0], Jsonb({"confidence": 0.9 - k / 100, "backend": "model"})],
            )
        conn.execute(
            "insert into consent_records (lead_id, broker_id, method, disclosure_version) "
            "values (%s, %s, 'web_click', 'v1')",
            [target, brokers[0]],
        )
        conn.execute(
            "insert into lead_notes (lead_id, broker_id, body) select %s, %s, 'note ' || g "
            "from generate_series(1, 20) g",
            [target, brokers[0]],
        )
        conn.commit()
    return brokers, target


def filters_params(cipher: PiiCipher, f: LeadFilters, broker: uuid.UUID | None) -> dict[str, Any]:
    terms = leads.search_terms(cipher, f.q)
    return {
        "broker": broker,
        "prefix": terms.prefix,
        "first": terms.first,
        "last": terms.last,
        "zip": terms.zip,
        "phone_index": terms.phone_index,
        "email_index": terms.email_index,
        "status": f.status,
        "min_score": f.min_score,
        "max_score": f.max_score,
        "consent": f.has_consent,
        "open_states": leads.open_states(datetime.now(UTC)) if f.callable_now else None,
        "upload": f.upload,
        "upload_part": "both",
        "limit": f.size,
        "offset": (f.page - 1) * f.size,
    }


def check_callable_total(conn: Conn, total: int, f: LeadFilters, who: uuid.UUID | None) -> None:
    """The callable-now total, recounted row by row with the rule's own function
    (ec_internal.phone_suppressed): the maintained flag must give the same number."""
    row = conn.execute(
        "select count(*) as n from leads where property_state = any(%(states)s) "
        "and phone_ciphertext is not null and not phone_dnc "
        "and campaign_status not in ('unsubscribed', 'do_not_contact', 'bounced') "
        "and not ec_internal.phone_suppressed(phone_index, email_index) "
        "and (%(broker)s::uuid is null or assigned_broker_id = %(broker)s::uuid) "
        "and (%(consent)s::boolean is null or consent = %(consent)s::boolean)",
        {
            "states": leads.open_states(datetime.now(UTC)),
            "broker": who,
            "consent": f.has_consent,
        },
    ).fetchone()
    conn.rollback()
    assert row is not None
    assert row["n"] == total, (row, total)


def reconcile_figures(url: str) -> None:
    """The flag's reconcile (migration 0023, run by the worker every minute), with nothing
    stale and with 1,000 suppressed leads' flags knocked back (triggers off for that one
    statement: simulated staleness), against the naive reconcile in the same run: every
    lead re-checked against the set (only finding the wrong flags, not fixing them). Each
    run is rolled back. Both of the reconcile's statements scale with the suppression set
    (here 2 % of the leads), not with the leads."""
    with connect(url) as conn:
        naive = median_ms(
            lambda: conn.execute(
                "select count(*) from leads where contact_suppressed <> "
                "coalesce(ec_internal.phone_suppressed(phone_index, email_index), false)"
            ).fetchone()
        )

        def run(stale: int) -> float:
            samples = []
            for _ in range(RUNS):
                if stale:
                    conn.execute("set local session_replication_role = replica")
                    conn.execute(
                        "update leads set contact_suppressed = false where id in "
                        "(select id from leads where contact_suppressed limit %s)",
                        [stale],
                    )
                    conn.execute("set local session_replication_role = origin")
                started = time.perf_counter()
                changed = reconcile_contact_suppressed(conn)
                samples.append(time.perf_counter() - started)
                assert changed == stale, (changed, stale)
                conn.rollback()
            return statistics.median(samples) * 1000

        for stale in (0, 1_000):
            ms = run(stale)
            print(
                f"{'reconcile, ' + f'{stale:,} stale flags':42} {ms:>8.1f} ms; "
                f"naive per-lead re-check {naive:.1f} ms; ratio {ms / naive:.3f}x",
                flush=True,
            )


def main() -> None:  # noqa: PLR0915 - one run, printed as it goes
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    key, index_key, secret = generate_key(), generate_key(), "bench-jwt-secret-at-least-32-bytes!!"
    settings = Settings(encryption_keys=f"k1:{key}", index_key=index_key, jwt_secret=secret)
    cipher = PiiCipher(Keyring.from_values(f"k1:{key}", index_key))
    with bench_database() as url:
        brokers, target = seed(url, cipher, n)
        broker = brokers[0]
        with connect(url) as conn:
            phone_row = conn.execute(
                "select phone_ciphertext, id from leads where assigned_broker_id = %s limit 1",
                [broker],
            ).fetchone()
            assert phone_row is not None
            phone = cipher.decrypt(
                phone_row["phone_ciphertext"], aad_for("leads", "phone", phone_row["id"])
            )
            upload_id = conn.execute("select id from uploads limit 1").fetchone()["id"]  # type: ignore[index]
            conn.rollback()
        nice_phone = f"({phone[2:5]}) {phone[5:8]}-{phone[8:]}"
        cases: list[tuple[str, dict[str, str], bool]] = [
            ("broker list (best score, page 1)", {}, True),
            ("broker list page 40", {"page": "40"}, True),
            ("broker name prefix 'garc'", {"q": "garc"}, True),
            ("broker phone search", {"q": nice_phone}, True),
            (
                "broker replied + score 50-90",
                {"status": "replied", "min_score": "50", "max_score": "90"},
                True,
            ),
            ("broker callable now + consent", {"callable": "1", "consent": "yes"}, True),
            ("ops list (all leads, best score)", {}, False),
            ("ops name prefix 'smiths'", {"q": "smithson"}, False),
            ("ops 'maria garc'", {"q": "maria garc"}, False),
            ("ops city prefix 'pasadena'", {"q": "pasadena"}, False),
            ("ops ZIP", {"q": "90210"}, False),
            ("ops phone search", {"q": nice_phone}, False),
            ("ops email search", {"q": "owner12345@example.com"}, False),
            ("ops status replied, newest", {"status": "replied", "sort": "newest"}, False),
            ("ops status new, by name", {"status": "new", "sort": "name"}, False),
            ("ops consent given", {"consent": "yes"}, False),
            ("ops newest", {"sort": "newest"}, False),
            ("ops city order, page 100", {"sort": "city", "page": "100"}, False),
            ("ops one upload (1/20 of leads)", {"upload": "UPLOAD"}, False),
            ("ops callable now", {"callable": "1"}, False),
        ]

        app = create_app(settings, conninfo=url)
        token = issue_jwt(secret=secret.encode(), sub=broker)
        with TestClient(app) as http, connect(url) as conn:
            ops = generate_api_key()
            conn.execute(
                "insert into api_keys (key_id, name, secret_hash, scopes) values (%s, 'b', %s, %s)",
                [ops.key_id, ops.secret_hash, ["admin"]],
            )
            conn.commit()
            ops_key = ops.secret
            http_broker = TestClient(app)
            http_broker.__enter__()
            http_broker.post("/dashboard/login", data={"credential": token})
            http.post("/dashboard/login", data={"credential": ops_key})
            print(f"leads={n:,} brokers=50 (~{n // 50:,} leads each); medians of {RUNS} runs")
            print(
                f"{'case':42} {'total':>9} {'plan ms':>8} {'server ms':>9} {'http ms':>8} {'server/plan':>11}"
            )
            worst = 0.0
            for name, case_params, as_broker in cases:
                params = {"upload": str(upload_id)} if "upload" in case_params else case_params
                f, problem = filters_from(params)
                assert problem is None, problem
                who = broker if as_broker else None

                def server(f: LeadFilters = f, who: uuid.UUID | None = who) -> Any:
                    with conn.transaction():
                        if who is not None:
                            act_as_broker(conn, who)
                        return leads.search_leads(conn, cipher, f, broker=who)

                page = server()
                if f.callable_now:
                    check_callable_total(conn, page.total, f, who)
                p = filters_params(cipher, f, who)

                def plans(
                    p: dict[str, Any] = p, who: uuid.UUID | None = who, f: LeadFilters = f
                ) -> float:
                    with conn.transaction():
                        if who is not None:
                            act_as_broker(conn, who)
                        # the count as count_leads runs it: an upload's two parts apart
                        parts = ("first", "merged") if f.upload is not None else ("both",)
                        counts = sum(
                            plan_ms(conn, Q["count_leads"], {**p, "upload_part": part})
                            for part in parts
                        )
                        return counts + plan_ms(conn, Q[_SORTS[f.sort]], p)

                db = plans()
                srv = median_ms(server)
                client = http_broker if as_broker else http
                web = median_ms(
                    lambda client=client, params=params: client.get(
                        "/dashboard/leads", params=params
                    )
                )
                worst = max(worst, web)
                print(
                    f"{name:42} {page.total:>9,} {db:>8.1f} {srv:>9.1f} {web:>8.1f} {srv / db:>10.2f}x",
                    flush=True,
                )

            def lead_page(who: uuid.UUID | None) -> None:
                with conn.transaction():
                    if who is not None:
                        act_as_broker(conn, who)
                    lead = leads.find_lead(conn, target)
                    leads.contacts(conn, cipher, lead)
                    leads.timeline(conn, cipher, lead)
                    leads.booking_link(conn, lead)

            page_queries = [
                "lead",
                "contacts",
                "lineage",
                "skiptrace_lookups",
                "lead_events",
                "call_reports",
                "consent_records",
                "bookings",
                "notes",
                "suppressions",
                "audit_entries",
            ]
            for who, label, client in ((broker, "broker", http_broker), (None, "ops", http)):
                with conn.transaction():
                    if who is not None:
                        act_as_broker(conn, who)
                    db = sum(
                        plan_ms(conn, Q[q], {"id": str(target) if q == "audit_entries" else target})
                        for q in page_queries
                    )
                srv = median_ms(lambda who=who: lead_page(who))
                web = median_ms(lambda client=client: client.get(f"/dashboard/leads/{target}"))
                worst = max(worst, web)
                print(
                    f"{'lead page (' + label + ', 33-entry timeline)':42} {'':>9} {db:>8.1f} {srv:>9.1f} {web:>8.1f} {srv / db:>10.2f}x",
                    flush=True,
                )
            http_broker.__exit__(None, None, None)
        print(f"slowest page over HTTP: {worst:.0f} ms (target < 200 ms)")
        reconcile_figures(url)


if __name__ == "__main__":
    main()
