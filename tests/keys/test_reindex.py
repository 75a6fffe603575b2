"""Blind-index key rotation: every index recomputed, suppressions still bite."""

from __future__ import annotations

from datetime import date

import pytest

from equity_connect.campaign.service import feed
from equity_connect.campaign.suppression import suppress_leads, suppress_value
from equity_connect.db.pool import Conn
from equity_connect.keys.reindex import ReindexError, reindex
from equity_connect.security.crypto import (
    DecryptionError,
    Keyring,
    PiiCipher,
    aad_for,
    generate_key,
)
from tests.factories import make_broker, make_lead

ENC = f"k1:{generate_key()}"
OLD, NEW = (
    PiiCipher(Keyring.from_values(ENC, generate_key())),
    PiiCipher(Keyring.from_values(ENC, generate_key())),
)


def contact(conn: Conn, cipher: PiiCipher, lead: object, value: str) -> None:
    idx = cipher.blind_index("email", value)
    conn.execute(
        "insert into lead_contacts (lead_id, channel, value_ciphertext, value_index, provider) "
        "values (%s, 'email', %s, %s, 'test')",
        [
            lead,
            cipher.encrypt(value, aad_for("lead_contacts", "email", f"{lead}:{idx.hex()}")),
            idx,
        ],
    )


def test_reindex_keeps_every_lookup_and_every_opt_out(conn: Conn) -> None:
    broker = make_broker(conn)
    keep = make_lead(
        conn,
        broker,
        cipher=OLD,
        email="keep@example.com",
        phone="+12135550101",
        campaign_status="queued",
        phone_verified=True,
        email_verified=True,
    )
    gone = make_lead(conn, broker, cipher=OLD, email="gone@example.com", phone="+12135550102")
    contact(conn, OLD, keep, "alt@example.com")
    suppress_leads(conn, OLD, [gone], reason="unsubscribed", source="test")
    suppress_value(conn, OLD, "email", "never-a-lead@example.com", reason="bounced", source="test")
    conn.execute("delete from leads where id = %s", [gone])  # its suppression outlives it

    counts = reindex(conn, NEW)
    assert counts == {"leads": 1, "lead_contacts": 1, "suppressions": 3}

    lead = conn.execute(
        "select email_index, phone_index from leads where id = %s", [keep]
    ).fetchone()
    assert lead == {
        "email_index": NEW.blind_index("email", "keep@example.com"),
        "phone_index": NEW.blind_index("phone", "+12135550101"),
    }
    row = conn.execute("select value_index, value_ciphertext from lead_contacts").fetchone()
    assert row is not None and row["value_index"] == NEW.blind_index("email", "alt@example.com")
    aad = aad_for("lead_contacts", "email", f"{keep}:{bytes(row['value_index']).hex()}")
    assert NEW.decrypt(row["value_ciphertext"], aad) == "alt@example.com"
    suppressed = {
        bytes(r["value_index"]) for r in conn.execute("select value_index from suppressions")
    }
    assert suppressed == {
        NEW.blind_index("email", "gone@example.com"),
        NEW.blind_index("phone", "+12135550102"),
        NEW.blind_index("email", "never-a-lead@example.com"),
    }

    # The opted-out owner comes back in a new file, indexed with the new key: still never fed.
    back = make_lead(
        conn,
        broker,
        cipher=NEW,
        email="gone@example.com",
        phone="+12135550199",
        campaign_status="queued",
        phone_verified=True,
        email_verified=True,
    )
    picked = [
        p.lead_id
        for p in feed(
            conn, business_date=date(2026, 11, 30), cap=250, default_campaign="c", dry_run=True
        ).picks
    ]
    assert keep in picked and back not in picked


def test_reindex_refuses_when_a_suppression_cannot_be_rekeyed(conn: Conn) -> None:
    conn.execute(
        "insert into suppressions (channel, value_index, reason, source) "
        "values ('email', sha256('x'::bytea), 'unsubscribed', 'legacy')"
    )
    with pytest.raises(ReindexError, match="1 suppressions have no stored value"):
        reindex(conn, NEW)
    assert conn.execute("select count(*) as n from suppressions").fetchone() == {"n": 1}


def test_a_wrong_encryption_key_changes_nothing(conn: Conn) -> None:
    make_lead(conn, cipher=OLD, email="a@example.com")
    stranger = PiiCipher(Keyring.from_values(f"k1:{generate_key()}", generate_key()))
    with pytest.raises(DecryptionError), conn.transaction():
        reindex(conn, stranger)
    row = conn.execute("select email_index from leads").fetchone()
    assert row == {"email_index": OLD.blind_index("email", "a@example.com")}
