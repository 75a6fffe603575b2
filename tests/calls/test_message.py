"""Reading VAPI server messages where VAPI puts things (fixtures from VAPI's SDK types)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from equity_connect.calls.message import call_context, homeowner_turns, says_opt_out, summary
from equity_connect.calls.service import outcome_of
from equity_connect.replies.schemas import ReplyIntent
from tests.calls.vapi_fixtures import load


def message(name: str) -> dict[str, object]:
    m = load(name, lead_id="lead-1", consent_token="nonce-1")["message"]
    assert isinstance(m, dict)
    return m


@pytest.mark.parametrize(
    "name",
    [
        "end_of_call_report_consent.json",  # call.assistantOverrides.metadata
        "end_of_call_report_variable_values.json",  # call.assistantOverrides.variableValues
        "end_of_call_report_assistant_metadata.json",  # message.assistant.metadata
    ],
)
def test_lead_and_token_are_read_where_vapi_puts_them(name: str) -> None:
    context = call_context(message(name))
    assert (context.lead_id, context.consent_token) == ("lead-1", "nonce-1")
    assert context.call_id is not None and context.call_id.startswith("5c7f3a2e")


def test_a_call_level_metadata_field_is_not_read() -> None:
    # VAPI's Call has no `metadata`: a value there was put by no VAPI sender.
    m = {"type": "end-of-call-report", "call": {"id": "c", "metadata": {"lead_id": "x"}}}
    assert call_context(m).lead_id is None


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("end_of_call_report_structured_outputs_dnc.json", "vapi:structured:do_not_call"),
        ("end_of_call_report_structured_output_boolean.json", "vapi:structured:do_not_call"),
    ],
)
def test_structured_outputs_opt_out(name: str, reason: str) -> None:
    m = message(name)
    assert says_opt_out(m)
    verdict = outcome_of(m)
    assert verdict.intent is ReplyIntent.UNSUBSCRIBE and verdict.reasons == [reason]


@pytest.mark.parametrize(
    "name", ["end_of_call_report_transcript_dnc.json", "end_of_call_report_messages_dnc.json"]
)
def test_an_opt_out_said_on_the_call_is_an_unsubscribe(name: str) -> None:
    m = message(name)
    assert not says_opt_out(m) and summary(m) == ""
    assert outcome_of(m).intent is ReplyIntent.UNSUBSCRIBE


def test_only_the_homeowners_turns_are_classified() -> None:
    m = message("end_of_call_report_bot_mentions_opt_out.json")
    assert homeowner_turns(m) == "How does a reverse mortgage work for someone my age?"
    assert outcome_of(m).intent is ReplyIntent.QUESTION


def test_transcript_turns_when_there_are_no_messages() -> None:
    m = message("end_of_call_report_transcript_dnc.json")
    # The assistant's "We never stop helping" is not the homeowner's.
    assert homeowner_turns(m) == "Don't ever call this number again."
    one_line = {"artifact": {"transcript": "AI: How can I help? User: Stop calling me. AI: Ok."}}
    assert homeowner_turns(one_line) == "Stop calling me."
    customer = {"artifact": {"transcript": "Assistant: Hello\nCustomer: remove me from your list"}}
    assert homeowner_turns(customer) == "remove me from your list"


def test_an_opt_out_in_the_turns_wins_over_a_summary_that_leaves_it_out() -> None:
    m = message("end_of_call_report_messages_dnc.json")
    m["analysis"] = {"summary": "The homeowner asked a question about their loan."}
    assert outcome_of(m).intent is ReplyIntent.UNSUBSCRIBE


def test_a_false_flag_elsewhere_cannot_mask_an_opt_out() -> None:
    m = message("end_of_call_report_structured_outputs_dnc.json")
    m["analysis"] = {"structuredData": {"do_not_call": False, "interested": True}}
    assert outcome_of(m).intent is ReplyIntent.UNSUBSCRIBE


def test_a_string_structured_output_serves_as_summary() -> None:
    m = message("end_of_call_report_structured_output_boolean.json")
    assert summary(m) == "The homeowner asked to be taken off the list."


@given(
    st.recursive(
        st.none() | st.booleans() | st.text(max_size=20),
        lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=3),
        max_leaves=20,
    )
)
def test_any_json_in_the_known_places_is_read_without_error(junk: object) -> None:
    m = {
        "type": "end-of-call-report",
        "call": {"assistantOverrides": junk, "artifact": junk},
        "assistant": junk,
        "customer": junk,
        "artifact": {"messages": junk, "transcript": junk, "structuredOutputs": junk},
        "analysis": {"structuredData": junk, "summary": junk},
    }
    call_context(m)
    outcome_of(m)


@given(
    st.lists(
        st.sampled_from(
            ["Stop calling me.", "Say remove me from your list to opt out.", "Do not call."]
        )
        | st.text(max_size=40),
        min_size=1,
        max_size=4,
    )
)
def test_what_the_assistant_says_never_opts_the_homeowner_out(bot_turns: list[str]) -> None:
    m = message("end_of_call_report_bot_mentions_opt_out.json")
    art = m["artifact"]
    assert isinstance(art, dict)
    user = {"role": "user", "message": "How does a reverse mortgage work for someone my age?"}
    art["messages"] = [{"role": "bot", "message": t} for t in bot_turns] + [user]
    assert outcome_of(m).intent is ReplyIntent.QUESTION


@pytest.mark.parametrize("name", ["do_not_call", "doNotCall", "Do Not Call", "do-not-call", "DNC"])
def test_opt_out_keys_in_any_case_style(name: str) -> None:
    as_data = {"analysis": {"structuredData": {name: True}}}
    as_output = {"artifact": {"structuredOutputs": {"id-1": {"name": name, "result": True}}}}
    as_object = {"artifact": {"structuredOutputs": {"id-1": {"name": "x", "result": {name: True}}}}}
    assert says_opt_out(as_data) and says_opt_out(as_output) and says_opt_out(as_object)
