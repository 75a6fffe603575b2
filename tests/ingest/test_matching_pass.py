"""The ingest's probabilistic pass: guarded exact keys, match weights, evidence, review."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from equity_connect.db.pool import Conn
from equity_connect.ingest.service import IngestLimits
from equity_connect.matching.reviews import ReviewError, decide
from equity_connect.security.crypto import PiiCipher, aad_for
from tests.ingest.helpers import csv_bytes, lineage, row, run_ingest

HOME = {
    "property_address": "1482 Maple Ave",
    "property_city": "Springfield",
    "property_state": "IL",
    "property_zip": "62704",
    "owner_first_name": "Carmen",
    "owner_last_name": "Delgado",
}


def home(**fields: object) -> dict[str, str]:
    return row(**{**HOME, **fields})


def ingest_rows(conn: Conn, cipher: PiiCipher, *rows: dict[str, str], **kw: Any) -> list[Any]:
    report = run_ingest(conn, cipher, csv_bytes(list(rows)), **kw)
    return lineage(conn, report.upload_id)


def lead(conn: Conn, lead_id: object) -> dict[str, Any]:
    found = conn.execute("select * from leads where id = %s", [lead_id]).fetchone()
    assert found is not None
    return found


def test_two_units_written_without_units_and_owned_apart_stay_two_leads(
    conn: Conn, cipher: PiiCipher
) -> None:
    first, second = ingest_rows(
        conn, cipher, home(), home(owner_first_name="Robert", owner_last_name="Okafor")
    )
    assert first["lead_id"] != second["lead_id"]
    assert (first["status"], second["status"]) == ("inserted", "inserted")
    # the address hash is unique among leads: the first keeps it
    assert lead(conn, first["lead_id"])["addr_hash"] is not None
    assert lead(conn, second["lead_id"])["addr_hash"] is None


def test_an_existing_leads_address_with_another_owner_is_a_new_lead(
    conn: Conn, cipher: PiiCipher
) -> None:
    (old,) = ingest_rows(conn, cipher, home())
    (new,) = ingest_rows(conn, cipher, home(owner_first_name="Robert", owner_last_name="Okafor"))
    assert new["status"] == "inserted" and new["lead_id"] != old["lead_id"]


def test_a_garbled_reappearance_joins_its_lead_with_the_evidence(
    conn: Conn, cipher: PiiCipher
) -> None:
    (old,) = ingest_rows(conn, cipher, home(mak="3000000001", apn="12-34", county_fips="17167"))
    (again,) = ingest_rows(
        conn,
        cipher,
        home(
            property_address="1428 MAPEL AVENUE",
            owner_first_name="",
            owner_last_name="DELGADO, CARMEN M",
        ),
    )
    assert again["lead_id"] == old["lead_id"]
    assert (again["status"], again["match_key"]) == ("merged", "probabilistic")
    evidence = conn.execute(
        "select match_evidence from upload_rows where lead_id = %s and status = 'merged'",
        [old["lead_id"]],
    ).fetchone()
    assert evidence is not None
    found = evidence["match_evidence"]
    assert found["levels"]["house_number"] == "transposed"
    assert "owner" in found["agreed"] and found["score"] >= 11
    assert found["matched_lead"] == str(old["lead_id"])


def test_a_garbled_reappearance_does_not_rename_its_lead(conn: Conn, cipher: PiiCipher) -> None:
    (old,) = ingest_rows(conn, cipher, home(mak="3000000001", apn="12-34", county_fips="17167"))
    garbled = home(
        property_address="1428 MAPEL AVENUE",
        owner_first_name="",
        owner_last_name="DELGADO, CARMEN M",
        estimated_value="1",
    )
    (again,) = ingest_rows(conn, cipher, garbled)
    assert (again["lead_id"], again["match_key"]) == (old["lead_id"], "probabilistic")
    found = lead(conn, old["lead_id"])
    # the typo'd row is evidence the lead is the same property, not a correction of it
    assert (found["owner_last_name"], found["property_address"]) == ("Delgado", "1482 MAPLE AVE")
    # facts that are not the identity still follow the newer row
    assert found["estimated_value"] == 1


def test_a_reappearance_joined_by_score_fills_its_leads_blanks(
    conn: Conn, cipher: PiiCipher
) -> None:
    (old,) = ingest_rows(conn, cipher, home(mak="3000000001", property_zip=""))
    garbled = home(
        property_address="1482 MAPEL AVENUE", owner_first_name="", owner_last_name="DELGADO, CARMEN"
    )
    (again,) = ingest_rows(conn, cipher, garbled)
    assert (again["lead_id"], again["match_key"]) == (old["lead_id"], "probabilistic")
    found = lead(conn, old["lead_id"])
    assert (found["owner_last_name"], found["property_address"]) == ("Delgado", "1482 MAPLE AVE")
    assert found["property_zip"] == "62704"


def test_rows_of_one_file_join_by_score_too(conn: Conn, cipher: PiiCipher) -> None:
    first, second = ingest_rows(
        conn, cipher, home(), home(property_address="1482 Mapel Ave", property_zip="")
    )
    assert second["lead_id"] == first["lead_id"]
    assert second["match_key"] == "probabilistic"


def test_different_maks_are_never_merged_even_on_one_address(conn: Conn, cipher: PiiCipher) -> None:
    first, second = ingest_rows(conn, cipher, home(mak="111"), home(mak="222"))
    assert first["lead_id"] != second["lead_id"]


def test_a_grey_pair_goes_to_review_and_is_not_merged(conn: Conn, cipher: PiiCipher) -> None:
    (carmen,) = ingest_rows(conn, cipher, home())
    (luis,) = ingest_rows(conn, cipher, home(owner_first_name="Luis"))
    assert luis["lead_id"] != carmen["lead_id"]
    (review,) = conn.execute("select * from match_reviews").fetchall()
    assert (review["lead_id"], review["other_lead_id"]) == (luis["lead_id"], carmen["lead_id"])
    assert review["status"] == "pending"
    assert review["evidence"]["levels"]["owner"] == "surname"


def test_keep_apart_survives_a_reupload(conn: Conn, cipher: PiiCipher) -> None:
    (carmen,) = ingest_rows(conn, cipher, home())
    (luis,) = ingest_rows(conn, cipher, home(owner_first_name="Luis"))
    (review,) = conn.execute("select id from match_reviews").fetchall()
    decide(conn, cipher, review["id"], "apart", who="ops@test")
    (again,) = ingest_rows(conn, cipher, home(owner_first_name="Luis", source="vendor-b"))
    assert again["lead_id"] == luis["lead_id"]  # Luis's own lead, not Carmen's
    reviews = conn.execute("select status from match_reviews").fetchall()
    assert [r["status"] for r in reviews] == ["apart"]  # not asked again
    assert carmen["lead_id"] != again["lead_id"]


def test_a_merge_decision_folds_the_rows_lead_into_the_other(conn: Conn, cipher: PiiCipher) -> None:
    (carmen,) = ingest_rows(conn, cipher, home())
    (luis,) = ingest_rows(conn, cipher, home(owner_first_name="Luis", phone="(217) 555-0142"))
    (review,) = conn.execute("select id from match_reviews").fetchall()
    done = decide(conn, cipher, review["id"], "merge", who="ops@test")
    assert (done.kept, done.removed) == (carmen["lead_id"], luis["lead_id"])
    assert conn.execute("select 1 from leads where id = %s", [luis["lead_id"]]).fetchone() is None
    moved = conn.execute(
        "select status, match_key from upload_rows where lead_id = %s order by row_number",
        [carmen["lead_id"]],
    ).fetchall()
    assert len(moved) == 2 and moved[-1]["match_key"] == "probabilistic"
    kept = lead(conn, carmen["lead_id"])
    phone = cipher.decrypt(bytes(kept["phone_ciphertext"]), aad_for("leads", "phone", kept["id"]))
    assert phone == "+12175550142"
    with pytest.raises(ReviewError, match="already decided"):
        decide(conn, cipher, review["id"], "apart", who="ops@test")


def test_a_lead_with_history_is_not_folded(conn: Conn, cipher: PiiCipher) -> None:
    ingest_rows(conn, cipher, home())
    (luis,) = ingest_rows(conn, cipher, home(owner_first_name="Luis"))
    conn.execute("update leads set added_to_campaign_at = now() where id = %s", [luis["lead_id"]])
    (review,) = conn.execute("select id from match_reviews").fetchall()
    with pytest.raises(ReviewError, match="campaign feed"):
        decide(conn, cipher, review["id"], "merge", who="ops@test")


def test_exact_matching_only_keeps_the_old_behaviour(conn: Conn, cipher: PiiCipher) -> None:
    exact = IngestLimits(probabilistic_matching=False)
    first, second = ingest_rows(
        conn,
        cipher,
        home(),
        home(owner_first_name="Robert", owner_last_name="Okafor"),
        limits=exact,
    )
    assert second["lead_id"] == first["lead_id"]


# Hard constraints across the exact cascade's transitive joins: a third row
# shares one key with each of two rows that a constraint keeps apart.
BRIDGED = {
    "two MAKs": (
        home(mak="111", county_fips="17167", apn="10-10", property_address="10 Oak St"),
        home(mak="222"),
        home(county_fips="17167", apn="10-10"),  # APN of the first, address of the second
    ),
    "two APNs in one county": (
        home(mak="333", county_fips="17167", apn="11-11", property_address="10 Oak St"),
        home(county_fips="17167", apn="22-22"),
        home(mak="333"),  # MAK of the first, address of the second
    ),
    "two units of one address": (
        home(mak="444", property_address="1482 Maple Ave Apt 1"),
        home(county_fips="17167", apn="33-33", property_address="1482 Maple Ave Apt 2"),
        home(mak="444", county_fips="17167", apn="33-33", property_address="77 Elm St"),
    ),
}


@pytest.mark.parametrize("probabilistic", [True, False], ids=["matching", "exact"])
@pytest.mark.parametrize("case", sorted(BRIDGED))
def test_a_bridging_row_never_joins_two_rows_a_constraint_keeps_apart(
    conn: Conn, cipher: PiiCipher, case: str, probabilistic: bool
) -> None:
    first, second, bridge = ingest_rows(
        conn, cipher, *BRIDGED[case], limits=IngestLimits(probabilistic_matching=probabilistic)
    )
    assert first["lead_id"] != second["lead_id"]
    # the bridge joins one of them (by its strongest key), not both
    assert bridge["lead_id"] in {first["lead_id"], second["lead_id"]}
    leads = conn.execute(
        "select mak, county_fips, apn_normalized, property_unit from leads where id = any(%s)",
        [[first["lead_id"], second["lead_id"]]],
    ).fetchall()
    assert len(leads) == 2
    for field in ("mak", "apn_normalized"):
        values = [r[field] for r in leads if r[field] is not None]
        assert len(values) == len(set(values))  # every key value is still one lead's


def test_a_bridge_to_an_existing_lead_row_keeps_the_maks_apart(
    conn: Conn, cipher: PiiCipher
) -> None:
    (old,) = ingest_rows(conn, cipher, home(mak="555", property_address="10 Oak St"))
    first, second, bridge = ingest_rows(conn, cipher, *BRIDGED["two MAKs"])
    assert first["lead_id"] != second["lead_id"]
    assert old["lead_id"] not in {first["lead_id"], second["lead_id"]}
    assert bridge["lead_id"] in {first["lead_id"], second["lead_id"]}


def test_different_apns_in_one_county_are_never_merged_by_score(
    conn: Conn, cipher: PiiCipher
) -> None:
    (old,) = ingest_rows(conn, cipher, home(county_fips="17167", apn="12-34"))
    (again,) = ingest_rows(
        conn, cipher, home(county_fips="17167", apn="56-78", property_address="1428 Mapel Ave")
    )
    assert again["lead_id"] != old["lead_id"]
    # the same garbled row without its APN is the same property
    (garbled,) = ingest_rows(conn, cipher, home(property_address="1428 Mapel Ave", source="b"))
    assert garbled["lead_id"] in {old["lead_id"], again["lead_id"]}


def test_two_units_of_one_address_are_never_merged_by_score(conn: Conn, cipher: PiiCipher) -> None:
    first, second = ingest_rows(
        conn,
        cipher,
        home(property_address="1482 Maple Ave Apt 1"),
        home(property_address="1482 Mapel Ave Apt 2", property_zip=""),
    )
    assert first["lead_id"] != second["lead_id"]


def test_a_block_too_large_to_say_anything_is_skipped_and_counted(
    conn: Conn, cipher: PiiCipher
) -> None:
    from equity_connect.matching.link import MAX_BLOCK

    # MAX_BLOCK + 1 houses sharing ZIP + house number, on streets of their own
    rows = [
        home(property_address=f"1482 Street{i:04d} Ave", owner_last_name=f"Owner{i:04d}")
        for i in range(MAX_BLOCK + 1)
    ]
    report = run_ingest(conn, cipher, csv_bytes(rows))
    event = conn.execute(
        "select detail from pipeline_events where upload_id = %s and outcome = 'probabilistic'",
        [report.upload_id],
    ).fetchone()
    assert event is not None
    assert event["detail"]["skipped_blocks"] >= 1
    assert report.inserted == MAX_BLOCK + 1


# Hard constraints against the lead a file's component matched: the row a
# constraint keeps from that lead is split off (a new lead, or the lead it
# matches itself); the rest of its component still merges.
AGAINST_LEAD = {
    "an APN in the lead's county": (
        home(mak="111", county_fips="17167", apn="10-10", property_address="10 Oak St"),
        home(mak="111", property_address="10 Oak St", source="b"),
        home(mak="111", county_fips="17167", apn="99-99", property_address="20 Oak St"),
    ),
    "a MAK": (
        home(mak="111", county_fips="17167", apn="10-10", property_address="10 Oak St"),
        home(county_fips="17167", apn="10-10", property_address="10 Oak St", source="b"),
        home(mak="222", county_fips="17167", apn="10-10", property_address="20 Oak St"),
    ),
    "a unit of the lead's house number": (
        home(mak="111", property_address="1482 Maple Ave Apt 1"),
        home(mak="111", county_fips="17167", apn="33-33", property_address="77 Elm St"),
        home(county_fips="17167", apn="33-33", property_address="1482 Maple Ave Apt 2"),
    ),
}


@pytest.mark.parametrize("probabilistic", [True, False], ids=["matching", "exact"])
@pytest.mark.parametrize("case", sorted(AGAINST_LEAD))
def test_a_row_a_constraint_keeps_from_its_components_lead_is_split_off(
    conn: Conn, cipher: PiiCipher, case: str, probabilistic: bool
) -> None:
    limits = IngestLimits(probabilistic_matching=probabilistic)
    existing, fits, conflicts = AGAINST_LEAD[case]
    (old,) = ingest_rows(conn, cipher, existing, limits=limits)
    kept, split = ingest_rows(conn, cipher, fits, conflicts, limits=limits)
    assert (kept["lead_id"], kept["status"]) == (old["lead_id"], "merged")
    assert split["lead_id"] != old["lead_id"]
    assert split["status"] == "inserted"
    lead_old, lead_new = lead(conn, old["lead_id"]), lead(conn, split["lead_id"])
    # the split row keeps only the keys no other lead holds
    for field in ("mak", "apn_normalized"):
        if lead_new[field] is not None:
            assert lead_new[field] != lead_old[field]


@pytest.mark.parametrize("probabilistic", [True, False], ids=["matching", "exact"])
def test_a_lone_row_is_not_merged_into_the_lead_whose_apn_differs(
    conn: Conn, cipher: PiiCipher, probabilistic: bool
) -> None:
    limits = IngestLimits(probabilistic_matching=probabilistic)
    (old,) = ingest_rows(
        conn, cipher, home(mak="111", county_fips="17167", apn="10-10"), limits=limits
    )
    (again,) = ingest_rows(
        conn, cipher, home(mak="111", county_fips="17167", apn="99-99"), limits=limits
    )
    assert again["lead_id"] != old["lead_id"]
    assert lead(conn, again["lead_id"])["mak"] is None  # the MAK is the old lead's
    assert lead(conn, again["lead_id"])["apn_normalized"] == "9999"


@pytest.mark.parametrize("probabilistic", [True, False], ids=["matching", "exact"])
def test_a_row_kept_from_its_components_lead_goes_to_the_lead_it_matches(
    conn: Conn, cipher: PiiCipher, probabilistic: bool
) -> None:
    limits = IngestLimits(probabilistic_matching=probabilistic)
    (by_mak,) = ingest_rows(
        conn,
        cipher,
        home(mak="111", county_fips="17167", apn="10-10", property_address="10 Oak St"),
        limits=limits,
    )
    (by_address,) = ingest_rows(conn, cipher, home(), limits=limits)
    first, second = ingest_rows(
        conn,
        cipher,
        home(mak="111", property_address="10 Oak St", source="b"),
        # its MAK says the first lead, its APN forbids it; its address is the second's
        home(mak="111", county_fips="17167", apn="99-99", source="b"),
        limits=limits,
    )
    assert first["lead_id"] == by_mak["lead_id"]
    assert (second["lead_id"], second["status"]) == (by_address["lead_id"], "merged")
    assert second["match_key"] == "addr_hash"
    found = lead(conn, by_address["lead_id"])
    assert (found["mak"], found["apn_normalized"]) == (None, "9999")


def test_the_roots_settled_against_their_lead_are_counted(conn: Conn, cipher: PiiCipher) -> None:
    existing, fits, conflicts = AGAINST_LEAD["a MAK"]
    ingest_rows(conn, cipher, existing)
    report = run_ingest(conn, cipher, csv_bytes([fits, conflicts]))
    event = conn.execute(
        "select detail from pipeline_events where upload_id = %s and outcome = 'matched'",
        [report.upload_id],
    ).fetchone()
    assert event is not None and event["detail"]["constrained_targets"] == 1
    assert (report.inserted, report.merged) == (1, 1)


# Rows over a few keys, so that uploads collide with each other's leads in
# every way: MAKs, APNs of one county, units of one house number.
KEYED_ROW = st.tuples(
    st.sampled_from(["", "901", "902"]),
    st.sampled_from(["", "A-1", "B-2"]),
    # one house number: a lead's address line and unit each follow their
    # latest non-blank row, so two numbers would give it one number's unit
    st.sampled_from([("10", ""), ("10", "1"), ("10", "2")]),
)


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    uploads=st.lists(st.lists(KEYED_ROW, min_size=1, max_size=5), min_size=2, max_size=3),
    probabilistic=st.booleans(),
)
def test_no_upload_merges_rows_a_hard_constraint_keeps_apart_or_from_their_lead(
    conn: Conn,
    cipher: PiiCipher,
    uploads: list[list[tuple[str, str, tuple[str, str]]]],
    probabilistic: bool,
) -> None:
    limits = IngestLimits(probabilistic_matching=probabilistic)
    with conn.transaction(force_rollback=True):  # every example on no leads
        for n, keyed in enumerate(uploads):
            # The leads' own keys before the upload: a row split off an
            # earlier upload may have lost a key its lead never held.
            before = {
                r["id"]: [
                    (
                        r["mak"] or "",
                        r["apn_normalized"] or "",
                        ("10", (r["property_unit"] or "").split()[-1:]),
                    )
                ]
                for r in conn.execute(
                    "select id, mak, apn_normalized, property_unit from leads"
                ).fetchall()
            }
            rows = [
                home(
                    mak=mak,
                    county_fips="17167" if apn else "",
                    apn=apn,
                    property_address="10 Oak St" + (f" Apt {unit}" if unit else ""),
                    source=f"upload {n}",
                )
                for mak, apn, (_, unit) in keyed
            ]
            lines = ingest_rows(conn, cipher, *rows, limits=limits)
            assert len(lines) == len(keyed)  # every row accounted for
            held: dict[Any, list[tuple[str, str, str]]] = {}
            for lead_id, facts in before.items():
                held[lead_id] = [(m, a, "".join(u)) for m, a, (_, u) in facts]
            for line, (mak, apn, (_, unit)) in zip(lines, keyed, strict=True):
                held.setdefault(line["lead_id"], []).append((mak, apn.replace("-", ""), unit))
            for facts in held.values():
                for field in range(3):
                    assert len({f[field] for f in facts if f[field]}) <= 1, (uploads, facts)
