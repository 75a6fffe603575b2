"""VAPI ``endedReason`` codes decide a call with no conversation; the guard still wins."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from equity_connect.calls.ended import ENDED_WITHOUT_CONVERSATION, ended_outcome
from equity_connect.calls.service import outcome_of
from equity_connect.replies.schemas import ReplyIntent

FIXTURES = Path(__file__).parents[1] / "fixtures" / "providers" / "vapi"


def voicemail() -> dict[str, Any]:
    body = json.loads((FIXTURES / "end_of_call_report_voicemail.json").read_text())
    message: dict[str, Any] = body["message"]
    return message


def test_a_voicemail_greeting_is_not_read_as_interest() -> None:
    result = outcome_of(voicemail())
    assert result.intent is ReplyIntent.AUTO_REPLY
    assert "vapi:ended:voicemail" in result.reasons


@pytest.mark.parametrize(
    ("code", "what"),
    [
        ("customer-did-not-answer", "no_answer"),
        ("customer-busy", "busy"),
        ("twilio-failed-to-connect-call", "failed"),
        ("sip-outbound-unallocated-number", "failed"),
        ("call.start.error-get-phone-number", "failed"),
    ],
)
def test_no_conversation_codes(code: str, what: str) -> None:
    message = voicemail()
    message["endedReason"] = code
    result = outcome_of(message)
    assert result.intent is ReplyIntent.AUTO_REPLY
    assert f"vapi:ended:{what}" in result.reasons


def test_a_conversation_is_still_classified() -> None:
    message = voicemail()
    message["endedReason"] = "customer-ended-call"
    message["analysis"] = {"summary": "The homeowner said yes, call me tomorrow at 10."}
    assert outcome_of(message).intent is ReplyIntent.INTERESTED
    for code in ("customer-ended-call", "assistant-ended-call", "pipeline-error-openai-llm-failed"):
        assert ended_outcome(code) is None
    assert ended_outcome(None) is None
    assert ended_outcome(42) is None


def test_an_opt_out_wins_over_the_ended_reason() -> None:
    spoken = voicemail()
    spoken["analysis"]["summary"] = "Before the voicemail beep the homeowner said: stop calling."
    flagged = copy.deepcopy(voicemail())
    flagged["analysis"]["structuredData"] = {"do_not_call": True}
    for message in (spoken, flagged):
        assert outcome_of(message).intent is ReplyIntent.UNSUBSCRIBE


def test_every_mapped_code_is_a_no_conversation_outcome() -> None:
    for code in ENDED_WITHOUT_CONVERSATION:
        result = ended_outcome(code)
        assert result is not None
        assert result.intent is ReplyIntent.AUTO_REPLY
