"""A lead the campaign provider skipped shows the reason it gave, on the lead's timeline.

(The ops home's "skipped" list moved to the ops console's campaign page, web/ops_pages.py.)"""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi.testclient import TestClient

from equity_connect.campaign.instantly import AddLeadsResult, InstantlyLead
from equity_connect.campaign.service import Q, feed, record_push
from equity_connect.db.pool import connect
from equity_connect.security.crypto import Keyring, PiiCipher, generate_key
from tests.factories import make_lead


def test_a_skipped_lead_shows_on_the_ops_page_with_its_reason(
    client: TestClient, seeded: dict[str, Any], fresh_database_url: str
) -> None:
    with connect(fresh_database_url) as conn:
        lead = make_lead(
            conn,
            campaign_status="queued",
            phone_verified=True,
            email_verified=True,
            cipher=PiiCipher(Keyring.from_values(f"k1:{generate_key()}", generate_key())),
            email="someone@example.com",
            lead_score=99,
        )
        picked = feed(conn, business_date=date(2026, 12, 1), cap=1, default_campaign="c")
        assert [p.lead_id for p in picked.picks] == [lead]
        [row] = conn.execute(Q["batch_for_push"], {"batch_id": picked.batch_id}).fetchall()
        # Instantly created nothing and counted one skip by the skip_if flags.
        result = AddLeadsResult(total_sent=1, leads_uploaded=0, skipped_count=1)
        outcome = record_push(
            conn,
            picked.batch_id,  # type: ignore[arg-type]
            [row],
            [InstantlyLead(email="someone@example.com")],
            result,
            campaign_id="c",
            provider="instantly",
        )
        conn.commit()
    assert outcome.skipped == [lead] and outcome.activated == []
    assert client.post(
        "/dashboard/login", data={"credential": seeded["admin"]}, follow_redirects=False
    ).is_redirect
    page = client.get(f"/dashboard/leads/{lead}").text
    section = page[page.index('id="timeline"') :]
    section = section[: section.index("</section>")]
    # encrypted under a key the app does not hold: shown as unreadable, not a 500
    assert "(unreadable: its encryption key is not configured)" in page
    assert "Campaign push skipped" in section
    assert "skipped_count skipped by the skip_if_in_workspace" in section
