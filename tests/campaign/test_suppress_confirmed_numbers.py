"""An opt-out on any channel suppresses the numbers a homeowner confirmed for texts too."""

from __future__ import annotations

from equity_connect.campaign.suppression import suppress_leads
from equity_connect.db.pool import Conn
from equity_connect.security.crypto import PiiCipher
from equity_connect.sms.service import confirm_number
from tests.ingest.helpers import csv_bytes, lineage, row, run_ingest


def test_an_email_opt_out_suppresses_the_number_they_texted_from(
    conn: Conn, cipher: PiiCipher
) -> None:
    report = run_ingest(conn, cipher, csv_bytes([row(email="carmen@example.com")]))
    (line,) = lineage(conn, report.upload_id)
    lead_id = line["lead_id"]
    assert confirm_number(conn, cipher, lead_id, "(505) 555-0199", source="sms_inbound")
    suppress_leads(conn, cipher, [lead_id], reason="unsubscribed", source="test")
    index = cipher.blind_index("phone", "+15055550199")
    found = conn.execute(
        "select reason from suppressions where channel = 'phone' and value_index = %s", [index]
    ).fetchone()
    assert found is not None and found["reason"] == "unsubscribed"
