"""A seeded database and app for the dashboard tests."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient
from psycopg.types.json import Jsonb

from equity_connect.campaign.service import feed
from equity_connect.config import Settings
from equity_connect.db.pool import connect
from equity_connect.ingest.schemas import SignatureScheme
from equity_connect.ingest.service import UploadMeta, ingest
from equity_connect.security.apikeys import generate_api_key
from equity_connect.security.crypto import Keyring, PiiCipher, generate_key
from equity_connect.web.app import create_app
from tests.factories import make_broker
from tests.ingest.helpers import csv_bytes, row

JWT_SECRET = "dashboard-test-jwt-secret-32-bytes-long!"


@pytest.fixture
def settings() -> Settings:
    return Settings(
        encryption_keys=f"k1:{generate_key()}", index_key=generate_key(), jwt_secret=JWT_SECRET
    )


@pytest.fixture
def seeded(settings: Settings, fresh_database_url: str) -> dict[str, Any]:
    cipher = PiiCipher(Keyring.from_values(str(settings.encryption_keys), str(settings.index_key)))
    body = csv_bytes(
        [
            row(
                mak=f"55{i:08d}",
                property_address=f"{i + 1} Dash St",
                email=f"dash{i}@example.com",
                phone=f"(213) 555-{i:04d}",
            )
            for i in range(30)
        ]
        + [row(property_state="QQ")]
    )
    admin, reader = generate_api_key(), generate_api_key()
    with connect(fresh_database_url) as conn:
        broker = make_broker(conn, "Dana Broker")
        report = ingest(
            conn,
            cipher,
            [body],
            UploadMeta(hashlib.sha256(body).digest(), len(body), SignatureScheme.LOCAL, "vendor-x"),
        )
        conn.execute(
            "update leads set email_verified = true, phone_verified = true, "
            "campaign_status = 'queued' where mak < '5500000010'"
        )
        feed(conn, business_date=date(2026, 11, 30), cap=250, default_campaign="c")
        conn.execute("update leads set campaign_status = 'active' where feed_batch_id is not null")
        conn.execute(
            "insert into pipeline_dlq (source, payload, reason) values "
            "('skiptrace.enrich_batch', %s, 'melissa: out of credits (GE14)')",
            [Jsonb({"task": "skiptrace.enrich_batch", "args": {"lead_ids": []}})],
        )
        for key, scopes in ((admin, ["admin"]), (reader, ["leads:read"])):
            conn.execute(
                "insert into api_keys (key_id, name, secret_hash, scopes) values (%s, 'k', %s, %s)",
                [key.key_id, key.secret_hash, scopes],
            )
        conn.commit()
    return {
        "admin": admin.secret,
        "reader": reader.secret,
        "broker": broker,
        "upload": report.upload_id,
    }


@pytest.fixture
def client(
    settings: Settings, fresh_database_url: str, seeded: dict[str, Any]
) -> Iterator[TestClient]:
    with TestClient(create_app(settings, conninfo=fresh_database_url)) as c:
        yield c
