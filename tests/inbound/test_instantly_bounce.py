"""An Instantly ``email_bounced`` event suppresses the bounced address, and only that.

The event is the fixture built from Instantly's webhook-event documentation
(``tests/fixtures/providers/instantly/``), posted to the real endpoint and processed by the
real job.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from equity_connect.db.pool import connect
from equity_connect.security.crypto import PiiCipher, aad_for
from tests.factories import make_broker, make_lead
from tests.inbound.conftest import INSTANTLY_SECRET

FIXTURES = Path(__file__).parents[1] / "fixtures/providers/instantly"
PHONE = "+12135550147"
SECOND_PHONE = "+12135550190"
OTHER_EMAIL = "ada.second@example.com"


def bounce_event() -> dict[str, Any]:
    event: dict[str, Any] = json.loads((FIXTURES / "webhook_email_bounced.json").read_text())
    return event


def test_a_bounce_suppresses_the_email_channel_only(
    client: TestClient, fresh_database_url: str, cipher: PiiCipher, run_jobs: Any
) -> None:
    event = bounce_event()
    bounced = event["lead_email"]
    with connect(fresh_database_url) as conn:
        broker = make_broker(conn, "Broker A")
        lead = make_lead(
            conn,
            broker,
            cipher=cipher,
            email=bounced,
            phone=PHONE,
            campaign_status="active",
            phone_verified=True,
        )
        # Contacts skip-trace found: another phone and another address of the same owner.
        for channel, value in (("phone", SECOND_PHONE), ("email", OTHER_EMAIL)):
            idx = cipher.blind_index(channel, value)
            ct = cipher.encrypt(value, aad_for("lead_contacts", channel, f"{lead}:{idx.hex()}"))
            conn.execute(
                "insert into lead_contacts (lead_id, channel, value_ciphertext, value_index, "
                "provider) values (%s, %s, %s, %s, 'simulator')",
                [lead, channel, ct, idx],
            )
        conn.commit()

    r = client.post(
        "/v1/webhooks/instantly",
        content=json.dumps(event),
        headers={"X-Webhook-Secret": INSTANTLY_SECRET},
    )
    assert r.status_code == 200, r.text
    run_jobs()

    with connect(fresh_database_url) as conn:
        suppressed = {
            (r["channel"], bytes(r["value_index"]), r["reason"])
            for r in conn.execute(
                "select channel::text, value_index, reason::text from suppressions"
            )
        }
        status = conn.execute(
            "select campaign_status::text as s from leads where id = %s", [lead]
        ).fetchone()
    assert suppressed == {("email", cipher.blind_index("email", bounced), "bounced")}
    assert status == {"s": "bounced"}  # the email campaign stops for this lead
