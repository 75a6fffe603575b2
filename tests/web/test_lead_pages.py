"""The broker workspace over HTTP: search by each field, filters, paging totals, RLS
isolation, the lead page and its timeline, actions with CSRF, the broker's home."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from fastapi.testclient import TestClient

from equity_connect.config import Settings
from equity_connect.web.app import create_app
from tests.web.conftest import broker_token, login_client, make_settings
from tests.web.workspace_seed import (
    CALL_SUMMARY,
    FILENAME,
    GARBLED_FILENAME,
    MERGED_FILENAME,
    OPS_KEY_NAME,
    PEOPLE,
    Workspace,
    seed_workspace,
)


@pytest.fixture(scope="module")
def module_settings() -> Settings:
    return make_settings()


@pytest.fixture(scope="module")
def ws(module_database_url: str, module_settings: Settings) -> Workspace:
    return seed_workspace(module_database_url, module_settings)


@pytest.fixture(scope="module")
def app_client(
    module_settings: Settings, module_database_url: str, ws: Workspace
) -> Iterator[TestClient]:
    with TestClient(create_app(module_settings, conninfo=module_database_url)) as c:
        yield c


@pytest.fixture
def client(app_client: TestClient) -> TestClient:
    app_client.cookies.clear()
    return app_client


def as_broker(client: TestClient, broker: uuid.UUID) -> TestClient:
    login_client(client, broker_token(broker))
    return client


def lead_links(page: str) -> list[str]:
    return re.findall(r'<a href="/dashboard/leads/([0-9a-f-]{36})">', page)


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="(\w+)"', page)
    assert found
    return found.group(1)


def total_of(page: str) -> int:
    found = re.search(r"([\d,]+) results?", page)
    assert found, "no total on the page"
    return int(found.group(1).replace(",", ""))


@pytest.mark.parametrize(
    ("q", "index"),
    [
        ("alvarez", 0),  # last name prefix, any case
        ("Maria Alv", 0),  # first and last name
        ("40 elm", 1),  # street
        ("burbank", 2),  # city
        ("91103", 3),  # ZIP
        ("626-555-0105", 4),  # phone, any format: blind index of the E.164 form
        ("+1 (626) 555 0106", 5),
        ("IVY@Example.com", 6),  # email, normalized
        ("+1 626 555 0199", 0),  # a skip-trace contact's phone, not the primary one
    ],
)
def test_search_by_each_field(client: TestClient, ws: Workspace, q: str, index: int) -> None:
    page = as_broker(client, ws.broker_a).get("/dashboard/leads", params={"q": q}).text
    assert lead_links(page) == [str(ws.leads_a[index])]
    assert total_of(page) == 1


def test_search_is_exact_on_phone_and_email(client: TestClient, ws: Workspace) -> None:
    as_broker(client, ws.broker_a)
    for q in ("626-555-010", "maria@example.co", "aria@example.com"):
        page = client.get("/dashboard/leads", params={"q": q}).text
        assert lead_links(page) == [], q
    bad = client.get("/dashboard/leads", params={"q": "not@@valid"})
    assert bad.status_code == 200 and "not an email address" in bad.text


def test_a_like_wildcard_is_taken_literally(client: TestClient, ws: Workspace) -> None:
    page = as_broker(client, ws.broker_a).get("/dashboard/leads", params={"q": "%"}).text
    assert lead_links(page) == []


def test_rows_show_decrypted_contacts_and_the_call_badge(client: TestClient, ws: Workspace) -> None:
    page = as_broker(client, ws.broker_a).get("/dashboard/leads", params={"q": "Baker"}).text
    assert "+18185550102" in page and "john.b@example.com" in page
    assert re.search(r"callable now|from \w{3} \d\d:\d\d", page)
    dnc = client.get("/dashboard/leads", params={"q": "Dawson"}).text
    assert '<span class="badge bad">no</span>' in dnc  # opted out: never callable


def test_broker_sees_only_their_leads_and_totals_are_theirs(
    client: TestClient, ws: Workspace
) -> None:
    page = as_broker(client, ws.broker_a).get("/dashboard/leads").text
    assert set(lead_links(page)) == {str(i) for i in ws.leads_a}
    assert total_of(page) == 8
    # another broker's lead is not found by any search
    assert lead_links(client.get("/dashboard/leads", params={"q": "Fresno"}).text) == []
    assert lead_links(client.get("/dashboard/leads", params={"q": "(559) 555-0109"}).text) == []


def test_ops_sees_every_lead(client: TestClient, ws: Workspace) -> None:
    login_client(client, ws.reader_key)
    page = client.get("/dashboard/leads", params={"q": "fresno"}).text
    assert set(lead_links(page)) == {str(i) for i in ws.leads_b}


def test_filters(client: TestClient, ws: Workspace) -> None:
    as_broker(client, ws.broker_a)

    def ids(**params: str) -> set[str]:
        return set(lead_links(client.get("/dashboard/leads", params=params).text))

    a = [str(i) for i in ws.leads_a]
    assert ids(status="replied") == {a[0], a[2]}
    assert ids(min_score="75", max_score="85") == {a[1], a[2], a[3]}  # 85, 80, 75
    assert ids(consent="yes") == {a[0]}
    assert ids(consent="no") == set(a) - {a[0]}
    assert ids(upload=str(ws.upload_id)) == set(a)
    assert ids(upload=str(ws.merged_upload_id)) == {a[0]}  # the lead it merged into
    assert ids(upload=str(uuid.uuid4())) == set()
    callable_now = ids(callable="1")
    assert a[3] not in callable_now  # do not contact
    # a bad filter value is dropped with a message, never a 422
    bad = client.get("/dashboard/leads", params={"min_score": "500", "status": "nope"})
    assert bad.status_code == 200 and "ignored" in bad.text
    assert total_of(bad.text) == 8


def test_sort_and_paging_with_a_correct_total(client: TestClient, ws: Workspace) -> None:
    as_broker(client, ws.broker_a)
    first = client.get("/dashboard/leads", params={"size": "3", "sort": "score"}).text
    assert total_of(first) == 8 and "page 1 of 3" in first
    assert lead_links(first) == [str(i) for i in ws.leads_a[:3]]
    assert 'rel="next"' in first and 'rel="prev"' not in first
    last = client.get("/dashboard/leads", params={"size": "3", "page": "3"}).text
    assert lead_links(last) == [str(i) for i in ws.leads_a[6:]]
    assert total_of(last) == 8 and 'rel="next"' not in last
    # the pager keeps the other filters
    filtered = client.get("/dashboard/leads", params={"size": "1", "status": "replied"}).text
    assert re.search(
        r'href="[^"]*status=replied[^"]*page=2|href="[^"]*page=2[^"]*status=replied', filtered
    )
    by_name = lead_links(client.get("/dashboard/leads", params={"sort": "name"}).text)
    last_names = [PEOPLE[[str(i) for i in ws.leads_a].index(x)][1] for x in by_name]
    assert last_names == sorted(last_names)
    # Refresh keeps the query string
    assert 'href="/dashboard/leads?size=1&amp;status=replied"' in filtered


def test_lead_page_facts_contacts_score_and_timeline(client: TestClient, ws: Workspace) -> None:
    page = as_broker(client, ws.broker_a).get(f"/dashboard/leads/{ws.leads_a[0]}").text
    assert "Maria Alvarez" in page and "12 OAK ST, PASADENA, CA 91101" in page
    assert "+16265550199" in page and "PS01: valid phone (verified)" in page and "melissa" in page
    assert "Score 90 / 100" in page and "Owner age: 15 at 62+" in page
    timeline = page[page.index('id="timeline"') :]
    for expected in (
        f"Upload row 1 of {FILENAME}: inserted",
        f"Upload row 1 of {MERGED_FILENAME}: merged (matched by mak)",
        "Skip-trace lookup: matched",
        "Reply classified “interested”",
        "confidence 0.91",
        "Call ended (customer-ended-call)",
        CALL_SUMMARY,
        "Consent recorded by web click",
        "disclosure version 2026-11-tcpa-v1",
        "Lead created",
    ):
        assert expected in timeline, expected
    john = client.get(f"/dashboard/leads/{ws.leads_a[1]}").text
    assert "Call booked for" in john
    sam = client.get(f"/dashboard/leads/{ws.leads_a[3]}").text
    assert "Phone suppressed: do not contact" in sam and "its status stays" in sam


def test_another_brokers_lead_is_a_404_page(client: TestClient, ws: Workspace) -> None:
    as_broker(client, ws.broker_a)
    for lead in (ws.leads_b[0], uuid.uuid4(), "not-a-uuid"):
        response = client.get(f"/dashboard/leads/{lead}")
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("text/html")
        assert "Lead not found" in response.text
    csrf = csrf_of(client.get("/dashboard/leads").text)
    note = client.post(
        f"/dashboard/leads/{ws.leads_b[0]}/notes", data={"csrf": csrf, "body": "mine now"}
    )
    assert note.status_code == 404
    status = client.post(
        f"/dashboard/leads/{ws.leads_b[0]}/status", data={"csrf": csrf, "status": "paused"}
    )
    assert status.status_code == 404


def test_ops_sees_any_lead_page(client: TestClient, ws: Workspace) -> None:
    login_client(client, ws.reader_key)
    page = client.get(f"/dashboard/leads/{ws.leads_b[1]}")
    assert page.status_code == 200 and "Paul Jones" in page.text


def test_unauthenticated_lead_link_goes_to_login_and_back(
    client: TestClient, ws: Workspace
) -> None:
    response = client.get(f"/dashboard/leads/{ws.leads_a[2]}", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == f"/dashboard/login?next=/dashboard/leads/{ws.leads_a[2]}"
    back = client.post(
        "/dashboard/login",
        data={"credential": broker_token(ws.broker_a), "next": f"/dashboard/leads/{ws.leads_a[2]}"},
        follow_redirects=False,
    )
    assert back.headers["location"] == f"/dashboard/leads/{ws.leads_a[2]}"


def test_add_note_needs_csrf_and_shows_on_the_timeline(
    client: TestClient, ws: Workspace, module_database_url: str
) -> None:
    lead = ws.leads_a[4]
    page = as_broker(client, ws.broker_a).get(f"/dashboard/leads/{lead}").text
    refused = client.post(f"/dashboard/leads/{lead}/notes", data={"csrf": "forged", "body": "x"})
    assert refused.status_code == 403
    # A form without its token: the same page as a stale one, saying what to do.
    missing = client.post(
        f"/dashboard/leads/{lead}/notes", data={"body": "x"}, headers={"accept": "text/html"}
    )
    assert missing.status_code == 403
    assert missing.headers["content-type"].startswith("text/html")
    assert "reload the page and submit again" in missing.text
    done = client.post(
        f"/dashboard/leads/{lead}/notes",
        data={"csrf": csrf_of(page), "body": "Called, <b>left</b> a voicemail"},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"].endswith("?done=note_added")
    after = client.get(done.headers["location"]).text
    assert "Note added." in after
    assert "Called, &lt;b&gt;left&lt;/b&gt; a voicemail" in after  # autoescaped
    empty = client.post(
        f"/dashboard/leads/{lead}/notes",
        data={"csrf": csrf_of(page), "body": "  "},
        follow_redirects=False,
    )
    assert empty.headers["location"].endswith("?error=empty_note")
    with psycopg.connect(module_database_url) as conn:
        assert conn.execute(
            "select count(*) from lead_notes where lead_id = %s", [lead]
        ).fetchone() == (1,)
        assert conn.execute(
            "select count(*) from audit_log where action = 'lead.note'"
        ).fetchone() == (1,)


def test_ops_adds_a_note_signed_with_the_key_name(
    client: TestClient, ws: Workspace, module_database_url: str
) -> None:
    lead = ws.leads_a[2]
    login_client(client, ws.reader_key)  # leads:read only: may look, not write
    page = client.get(f"/dashboard/leads/{lead}").text
    assert 'action="/dashboard/leads/' + str(lead) + '/notes"' not in page
    refused = client.post(
        f"/dashboard/leads/{lead}/notes", data={"csrf": csrf_of(page), "body": "no"}
    )
    assert refused.status_code == 403
    login_client(client, ws.admin_key)
    page = client.get(f"/dashboard/leads/{lead}").text
    done = client.post(
        f"/dashboard/leads/{lead}/notes",
        data={"csrf": csrf_of(page), "body": "Ops: vendor confirmed the address."},
        follow_redirects=False,
    )
    assert done.headers["location"].endswith("?done=note_added")
    after = client.get(done.headers["location"]).text
    assert f"Note by ops ({OPS_KEY_NAME})" in after
    with psycopg.connect(module_database_url) as conn:
        assert conn.execute(
            "select broker_id, ops_author from lead_notes where lead_id = %s", [lead]
        ).fetchall() == [(None, OPS_KEY_NAME)]
        assert conn.execute(
            "select actor_role from audit_log where action = 'lead.note' "
            "and after ->> 'lead_id' = %s",
            [str(lead)],
        ).fetchall() == [("ops",)]
    # the lead's broker reads it; another broker cannot open the lead at all
    mine = as_broker(client, ws.broker_a).get(f"/dashboard/leads/{lead}").text
    assert "Ops: vendor confirmed the address." in mine
    assert as_broker(client, ws.broker_b).get(f"/dashboard/leads/{lead}").status_code == 404


def test_why_rows_are_one_lead(client: TestClient, ws: Workspace) -> None:
    maria = as_broker(client, ws.broker_a).get(f"/dashboard/leads/{ws.leads_a[0]}").text
    matching = maria[maria.index('id="matching"') :].split("</section>")[0]
    assert "same MAK (Melissa address key) as the lead" in matching and "(key mak)" in matching
    assert "this row made the lead" in matching
    tom = client.get(f"/dashboard/leads/{ws.leads_a[7]}").text  # RLS: the broker's own rows
    matching = tom[tom.index('id="matching"') :].split("</section>")[0]
    row = matching[matching.index('data-key="probabilistic"') :].split("</tr>")[0]
    assert GARBLED_FILENAME in row and "probabilistic match with this lead" in row
    assert "house number: transposed" in row and "owner" in row
    assert re.search(r'class="num">\d+\.\d\d<', row)  # the score


def test_status_change_and_do_not_contact(
    client: TestClient, ws: Workspace, module_database_url: str
) -> None:
    lead = ws.leads_a[5]
    page = as_broker(client, ws.broker_a).get(f"/dashboard/leads/{lead}").text
    csrf = csrf_of(page)
    assert 'value="converted"' in page
    forged = client.post(f"/dashboard/leads/{lead}/status", data={"csrf": "x", "status": "paused"})
    assert forged.status_code == 403
    bad = client.post(
        f"/dashboard/leads/{lead}/status",
        data={"csrf": csrf, "status": "queued"},
        follow_redirects=False,
    )
    assert bad.headers["location"].endswith("?error=bad_status")
    ok = client.post(
        f"/dashboard/leads/{lead}/status",
        data={"csrf": csrf, "status": "paused"},
        follow_redirects=False,
    )
    assert ok.headers["location"].endswith("?done=status_changed")
    dnc = client.post(
        f"/dashboard/leads/{lead}/do-not-contact", data={"csrf": csrf}, follow_redirects=False
    )
    assert dnc.headers["location"].endswith("?done=do_not_contact")
    again = client.post(
        f"/dashboard/leads/{lead}/status",
        data={"csrf": csrf, "status": "active"},
        follow_redirects=False,
    )
    assert again.headers["location"].endswith("?error=opted_out")
    with psycopg.connect(module_database_url) as conn:
        assert conn.execute(
            "select campaign_status::text from leads where id = %s", [lead]
        ).fetchone() == ("do_not_contact",)
        channels = {
            r[0]
            for r in conn.execute(
                "select channel::text from suppressions where lead_id = %s", [lead]
            )
        }
        assert channels == {"phone", "email"}
    timeline = client.get(f"/dashboard/leads/{lead}").text
    assert "lead.status by broker" in timeline and "campaign_status=paused" in timeline


def test_booking_link(client: TestClient, ws: Workspace) -> None:
    lead = ws.leads_a[6]
    page = as_broker(client, ws.broker_a).get(f"/dashboard/leads/{lead}").text
    assert "Create a booking link" in page
    done = client.post(
        f"/dashboard/leads/{lead}/booking-link",
        data={"csrf": csrf_of(page)},
        follow_redirects=False,
    )
    assert done.status_code == 303
    after = client.get(done.headers["location"]).text
    link = re.search(r'id="booking-link" readonly value="([^"]+)"', after)
    assert link and link.group(1).startswith("https://cal.example/ana/intro?metadata%5Bec_ref%5D=")


def test_broker_home(client: TestClient, ws: Workspace) -> None:
    page = as_broker(client, ws.broker_a).get("/dashboard").text
    booked = page[page.index('id="booked"') :]
    assert "Booked calls today (1)" in booked and "John Baker" in booked.split("</section>")[0]
    assert "Replies waiting (2)" in page  # Maria and Rosa
    interested = page[page.index('id="interested"') :].split("</section>")[0]
    assert "(1)" in interested and "Maria Alvarez" in interested  # John has a booking
    shown = dict(re.findall(r'data-stage="(\w+)" data-count="(\d+)"', page))
    assert "upload" not in shown and "dedupe" not in shown
    other = as_broker(client, ws.broker_b).get("/dashboard").text
    assert "Replies waiting (0)" in other and "Maria" not in other


def test_a_suppressed_number_is_never_callable_now(
    client: TestClient, ws: Workspace, module_database_url: str
) -> None:
    # Runs last in this module: it suppresses Baker's number for the rest of it.
    with psycopg.connect(module_database_url, autocommit=True) as admin:
        admin.execute(
            "insert into suppressions (channel, value_index, reason, source) "
            "select 'phone', phone_index, 'opt_out', 'test' from leads "
            "where owner_last_name = 'Baker' and phone_index is not null "
            "on conflict do nothing"
        )
    page = as_broker(client, ws.broker_a).get("/dashboard/leads", params={"q": "Baker"}).text
    assert "callable now" not in page
    assert '<span class="badge bad">no</span>' in page


def test_a_nul_in_the_search_is_dropped_with_a_message(client: TestClient, ws: Workspace) -> None:
    answer = as_broker(client, ws.broker_a).get("/dashboard/leads?q=ab%00c&sort=name")
    assert answer.status_code == 200
    assert "q ignored: it contains a NUL character" in answer.text
    # the rest of the query still applies: every lead of the broker, by name
    assert set(lead_links(answer.text)) == {str(i) for i in ws.leads_a}


@pytest.mark.parametrize("who", ["broker", "ops"])
def test_a_note_with_a_nul_is_refused_with_a_sentence(
    client: TestClient, ws: Workspace, module_database_url: str, who: str
) -> None:
    lead = ws.leads_a[3]
    if who == "broker":
        as_broker(client, ws.broker_a)
    else:
        login_client(client, ws.admin_key)
    page = client.get(f"/dashboard/leads/{lead}").text
    refused = client.post(
        f"/dashboard/leads/{lead}/notes",
        data={"csrf": csrf_of(page), "body": "left a\x00 voicemail"},
        follow_redirects=False,
    )
    assert refused.status_code == 303
    assert refused.headers["location"].endswith("?error=note_nul")
    shown = client.get(refused.headers["location"]).text
    assert "A note cannot contain a NUL character" in shown
    with psycopg.connect(module_database_url) as conn:
        assert conn.execute(
            "select count(*) from lead_notes where lead_id = %s", [lead]
        ).fetchone() == (0,)
