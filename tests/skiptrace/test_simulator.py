"""The simulated provider: deterministic, offline, real-shaped, roughly realistic rates."""

from __future__ import annotations

import dataclasses
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from equity_connect.normalize.email import normalize_email
from equity_connect.normalize.phone import to_e164
from equity_connect.skiptrace import (
    PhoneType,
    SimulatedSkipTrace,
    SkipTraceProvider,
    SkipTraceRequest,
)
from tests.skiptrace.helpers import make_request, make_requests

POPULATION = make_requests(4000)


@pytest.fixture(scope="module")
def population_results():
    return SimulatedSkipTrace().lookup(POPULATION)


def test_is_a_provider_named_simulated():
    simulator = SimulatedSkipTrace()
    assert isinstance(simulator, SkipTraceProvider)
    assert simulator.name == "simulator"
    [result] = simulator.lookup([make_request(1)])
    assert result.provider == "simulator" and result.raw["Simulated"] is True


def test_same_request_same_result_across_instances_batches_and_order():
    requests = make_requests(300)
    first = SimulatedSkipTrace().lookup(requests)
    again = SimulatedSkipTrace(max_batch=7).lookup(list(reversed(requests)))
    assert first == list(reversed(again))
    assert SimulatedSkipTrace().lookup([requests[42]]) == [first[42]]


@given(
    lead_id=st.text(min_size=1, max_size=30),
    street=st.text(max_size=40),
    first=st.none() | st.text(max_size=20),
)
def test_any_request_is_deterministic_and_well_formed(lead_id: str, street: str, first: str | None):
    request = SkipTraceRequest(
        lead_id=lead_id, first_name=first, street=street, city="X", state="CA", zip5="90001"
    )
    result = SimulatedSkipTrace().simulate(request)
    assert result == SimulatedSkipTrace().simulate(request)
    assert result.lead_id == lead_id
    assert all(to_e164(p.number) == p.number for p in result.phones)
    assert all(normalize_email(e.address) == e.address for e in result.emails)


def test_keys_decide_names_do_not():
    request = make_request(5)
    renamed = dataclasses.replace(request, first_name="Someone", last_name="Else")
    simulator = SimulatedSkipTrace()
    assert simulator.simulate(request).matched == simulator.simulate(renamed).matched
    assert simulator.simulate(request).phones == simulator.simulate(renamed).phones
    results = [
        simulator.simulate(dataclasses.replace(request, street=f"{n} Way")) for n in range(50)
    ]
    assert len({(r.matched, tuple(p.number for p in r.phones)) for r in results}) > 10


def test_seed_changes_results():
    requests = make_requests(200)
    a = SimulatedSkipTrace(seed="a").lookup(requests)
    b = SimulatedSkipTrace(seed="b").lookup(requests)
    assert a != b


def test_match_rate_near_85_percent(population_results):
    matched = sum(r.matched for r in population_results) / len(population_results)
    assert 0.82 <= matched <= 0.88


def test_dnc_rate_near_10_percent(population_results):
    phones = [p for r in population_results for p in r.phones]
    assert len(phones) > 3000
    dnc = sum(bool(p.dnc) for p in phones) / len(phones)
    assert 0.07 <= dnc <= 0.13


def test_invalid_contacts_dropped_with_codes(population_results):
    codes = Counter(c for r in population_results for c in r.result_codes)
    assert codes["PE01"] + codes["PE03"] > 50
    assert codes["EE01"] > 20 and codes["EE04"] > 50
    assert codes["AE01"] + codes["AE02"] == sum(not r.matched for r in population_results)
    # Phones with an error code are never returned; EE04 addresses are kept and flagged.
    assert all(
        not c.startswith("PE") for r in population_results for p in r.phones for c in p.codes
    )
    assert any("EE04" in e.codes for r in population_results for e in r.emails)
    assert all("EE01" not in e.codes for r in population_results for e in r.emails)


def test_shapes_are_real(population_results):
    for result in population_results:
        assert result.matched == any(c in {"AS01", "AS02", "AS03"} for c in result.result_codes)
        if not result.matched:
            assert (result.phones, result.emails, result.mak) == ([], [], None)
        numbers = [p.number for p in result.phones]
        assert len(numbers) == len(set(numbers))
        for phone in result.phones:
            assert to_e164(phone.number) == phone.number
            assert phone.type in {PhoneType.MOBILE, PhoneType.LANDLINE}
            assert phone.codes[0] == "PS01" and phone.score is not None and 40 <= phone.score <= 100
        for email in result.emails:
            assert email.address == email.address.lower()
            assert email.address.rsplit("@", 1)[1] in {"example.com", "example.net", "example.org"}


def test_missing_maks_are_mostly_filled_known_ones_kept(population_results):
    matched = [r for r in population_results if r.matched]
    filled = sum(r.mak is not None for r in matched) / len(matched)
    assert 0.7 <= filled <= 0.9
    assert all(r.mak is None or (len(r.mak) == 10 and r.mak.isdigit()) for r in matched)
    with_mak = [make_request(n, mak="8008006244") for n in range(200)]
    assert all(r.mak == "8008006244" for r in SimulatedSkipTrace().lookup(with_mak) if r.matched)


def test_rates_are_configurable():
    requests = make_requests(300)
    assert not any(r.matched for r in SimulatedSkipTrace(match_rate=0.0).lookup(requests))
    everything = SimulatedSkipTrace(match_rate=1.0, dnc_rate=1.0).lookup(requests)
    assert all(r.matched for r in everything)
    assert all(p.dnc for r in everything for p in r.phones)
    with pytest.raises(ValueError, match="rates"):
        SimulatedSkipTrace(match_rate=1.5)


def test_duplicate_lead_ids_refused():
    with pytest.raises(ValueError, match="duplicate"):
        SimulatedSkipTrace().lookup([make_request(1), make_request(1)])
