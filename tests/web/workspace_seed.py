"""A small, varied book of leads for the broker workspace tests: two brokers, an upload
(lineage), skip-trace contacts, a reply, a call with its report, consent, a booking today,
a do-not-contact lead and audit rows."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from psycopg.types.json import Jsonb

from equity_connect.config import Settings
from equity_connect.db.pool import connect
from equity_connect.inbound.service import payload_aad
from equity_connect.ingest.schemas import SignatureScheme
from equity_connect.ingest.service import UploadMeta, ingest
from equity_connect.leads.service import business_day
from equity_connect.replies.schemas import InboundProvider
from equity_connect.security.apikeys import generate_api_key
from equity_connect.security.crypto import Keyring, PiiCipher, aad_for
from tests.ingest.helpers import csv_bytes, row

# (first, last, street, city, zip, phone, email); the first eight are broker A's.
PEOPLE = [
    ("Maria", "Alvarez", "12 Oak St", "Pasadena", "91101", "(626) 555-0101", "maria@example.com"),
    ("John", "Baker", "40 Elm Ave", "Glendale", "91201", "(818) 555-0102", "john.b@example.com"),
    ("Rosa", "Chen", "7 Pine Rd", "Burbank", "91501", "(818) 555-0103", "rosa@example.com"),
    ("Sam", "Dawson", "99 Main St", "Pasadena", "91103", "(626) 555-0104", "sam@example.com"),
    ("Lena", "Evans", "3 Cedar Ln", "Altadena", "91001", "(626) 555-0105", "lena@example.com"),
    ("Omar", "Farah", "18 Birch Way", "Arcadia", "91006", "(626) 555-0106", "omar@example.com"),
    ("Ivy", "Garcia", "5 Maple Ct", "Monrovia", "91016", "(626) 555-0107", "ivy@example.com"),
    ("Tom", "Hill", "61 Walnut Dr", "Sierra Madre", "91024", "(626) 555-0108", "tom@example.com"),
    ("Nora", "Ito", "2 Spruce St", "Fresno", "93701", "(559) 555-0109", "nora@example.com"),
    ("Paul", "Jones", "8 Fir Pl", "Fresno", "93702", "(559) 555-0110", "paul@example.com"),
]
FILENAME = "county-export-november.csv"
MERGED_FILENAME = "county-refresh-december.csv"
GARBLED_FILENAME = "county-garbled-january.csv"
OPS_KEY_NAME = "ops-desk"
CALL_SUMMARY = "Homeowner asked about a HECM and wants a call on Tuesday."


@dataclass(frozen=True)
class Workspace:
    """Ids and secrets the tests use."""

    admin_key: str
    reader_key: str
    broker_a: uuid.UUID
    broker_b: uuid.UUID
    leads_a: list[uuid.UUID]  # in PEOPLE order
    leads_b: list[uuid.UUID]
    upload_id: uuid.UUID
    merged_upload_id: uuid.UUID


def seed_workspace(url: str, settings: Settings) -> Workspace:
    """Ingest PEOPLE and give them a history; committed."""
    cipher = PiiCipher(Keyring.from_values(str(settings.encryption_keys), str(settings.index_key)))
    body = csv_bytes(
        [
            row(
                mak=f"77{i:08d}",
                owner_first_name=first,
                owner_last_name=last,
                property_address=street,
                property_city=city,
                property_zip=zip5,
                phone=phone,
                email=email,
                estimated_value=600_000 + i * 10_000,
                estimated_equity=300_000 + i * 5_000,
                owner_age=60 + i,
            )
            for i, (first, last, street, city, zip5, phone, email) in enumerate(PEOPLE)
        ]
    )
    admin, reader = generate_api_key(), generate_api_key()
    now = datetime.now(UTC)
    with connect(url) as conn:
        a = uuid.uuid4()
        b = uuid.uuid4()
        conn.execute(
            "insert into brokers (id, name, email, calcom_event_url) values "
            "(%s, 'Ana Alvarez', 'ana@brokers.test', 'https://cal.example/ana/intro'), "
            "(%s, 'Ben Brooks', 'ben@brokers.test', null)",
            [a, b],
        )
        report = ingest(
            conn,
            cipher,
            [body],
            UploadMeta(
                hashlib.sha256(body).digest(),
                len(body),
                SignatureScheme.LOCAL,
                "county-vendor",
                FILENAME,
            ),
        )
        # a later vendor file that holds Maria again: merged into her lead (lineage)
        again = csv_bytes(
            [
                row(
                    mak="7700000000",
                    owner_first_name="Maria",
                    owner_last_name="Alvarez",
                    property_address="12 Oak St",
                    property_city="Pasadena",
                    property_zip="91101",
                )
            ]
        )
        merged = ingest(
            conn,
            cipher,
            [again],
            UploadMeta(
                hashlib.sha256(again).digest(),
                len(again),
                SignatureScheme.LOCAL,
                "county-vendor",
                MERGED_FILENAME,
            ),
        )
        # and a garbled Tom Hill without a MAK: joined to his lead by match weights
        # (the ingest's probabilistic pass), with its evidence in the lineage
        garbled = csv_bytes(
            [
                row(
                    owner_first_name="",
                    owner_last_name="HILL, TOM",
                    property_address="16 WALNTU DRIVE",
                    property_city="Sierra Madre",
                    property_zip="91024",
                )
            ]
        )
        ingest(
            conn,
            cipher,
            [garbled],
            UploadMeta(
                hashlib.sha256(garbled).digest(),
                len(garbled),
                SignatureScheme.LOCAL,
                "county-vendor",
                GARBLED_FILENAME,
            ),
        )
        by_mak = {r["mak"]: r["id"] for r in conn.execute("select mak, id from leads order by mak")}
        ids = [by_mak[f"77{i:08d}"] for i in range(len(PEOPLE))]
        leads_a, leads_b = ids[:8], ids[8:]
        conn.execute("update leads set assigned_broker_id = %s where id = any(%s)", [a, leads_a])
        conn.execute("update leads set assigned_broker_id = %s where id = any(%s)", [b, leads_b])
        conn.execute(
            "update leads set lead_score = 90 - 5 * (substr(mak, 3)::int), "
            "score_breakdown = %s, phone_verified = true, email_verified = true",
            [
                Jsonb(
                    {
                        "equity_share": 20,
                        "equity_amount": 10,
                        "owner_age": 15,
                        "phone": 15,
                        "email": 10,
                        "dnc": 0,
                        "freshness": 10,
                        "total": 80,
                    }
                )
            ],
        )
        maria, john, rosa, sam = leads_a[:4]
        # Maria: a skip-trace contact, a reply, a call with its report, consent.
        extra_phone = "+16265550199"
        index = cipher.blind_index("phone", extra_phone)
        conn.execute(
            "insert into lead_contacts (lead_id, channel, value_ciphertext, value_index, "
            "provider, codes, verified, phone_type) "
            "values (%s, 'phone', %s, %s, 'melissa', %s, true, 'cell')",
            [
                maria,
                cipher.encrypt(
                    extra_phone, aad_for("lead_contacts", "phone", f"{maria}:{index.hex()}")
                ),
                index,
                ["PS01", "PS07"],
            ],
        )
        conn.execute(
            "insert into skiptrace_requests (provider, idempotency_key, lead_id, matched) "
            "values ('melissa', 'k-maria', %s, true)",
            [maria],
        )
        conn.execute(
            "insert into pipeline_events (stage, outcome, provider, lead_id, broker_id, "
            "correlation_id, detail) "
            "values ('replied', 'interested', 'instantly', %s, %s, 'r1', %s)",
            [maria, a, Jsonb({"confidence": 0.91, "backend": "model"})],
        )
        external = "call-maria-1"
        report_body = json.dumps(
            {"message": {"type": "end-of-call-report", "analysis": {"summary": CALL_SUMMARY}}}
        )
        event_id = conn.execute(
            "insert into inbound_events (provider, external_id, event_type, status, "
            "payload_ciphertext, lead_id) values ('vapi', %s, 'end-of-call-report', 'processed', "
            "%s, %s) returning id",
            [
                external,
                cipher.encrypt(report_body, payload_aad(InboundProvider.VAPI, external)),
                maria,
            ],
        ).fetchone()["id"]  # type: ignore[index]
        conn.execute(
            "insert into pipeline_events (stage, outcome, provider, lead_id, broker_id, "
            "correlation_id, detail) values ('call', 'ended', 'vapi', %s, %s, %s, %s)",
            [maria, a, str(event_id), Jsonb({"ended_reason": "customer-ended-call"})],
        )
        conn.execute(
            "insert into consent_records (lead_id, broker_id, method, disclosure_version) "
            "values (%s, %s, 'web_click', '2026-11-tcpa-v1')",
            [maria, a],
        )
        conn.execute(
            "update leads set consent = true, consented_at = now(), consent_method = 'web_click', "
            "campaign_status = 'replied', last_reply_at = now(), last_reply_intent = 'interested' "
            "where id = %s",
            [maria],
        )
        # John: booked for later today (Pacific).
        day_start, day_end = business_day(now)
        start = min(max(now + timedelta(minutes=30), day_start), day_end - timedelta(minutes=31))
        conn.execute(
            "insert into bookings (lead_id, broker_id, calcom_uid, status, start_time, end_time) "
            "values (%s, %s, 'uid-john', 'accepted', %s, %s)",
            [john, a, start, start + timedelta(minutes=30)],
        )
        conn.execute(
            "update leads set campaign_status = 'converted', last_reply_intent = 'interested' "
            "where id = %s",
            [john],
        )
        # Rosa: a question waiting; Sam: opted out (do not contact) with a suppression.
        conn.execute(
            "update leads set campaign_status = 'replied', last_reply_at = now(), "
            "last_reply_intent = 'question' where id = %s",
            [rosa],
        )
        conn.execute("update leads set campaign_status = 'do_not_contact' where id = %s", [sam])
        conn.execute(
            "insert into suppressions (channel, value_index, reason, source, lead_id) "
            "select 'phone', phone_index, 'do_not_contact', 'broker', id from leads where id = %s",
            [sam],
        )
        for key, name, scopes in (
            (admin, OPS_KEY_NAME, ["admin"]),
            (reader, "reader", ["leads:read"]),
        ):
            conn.execute(
                "insert into api_keys (key_id, name, secret_hash, scopes) values (%s, %s, %s, %s)",
                [key.key_id, name, key.secret_hash, scopes],
            )
        conn.commit()
    return Workspace(
        admin.secret, reader.secret, a, b, leads_a, leads_b, report.upload_id, merged.upload_id
    )
