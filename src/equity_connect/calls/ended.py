"""VAPI's ``endedReason`` codes that say no conversation took place.

A voicemail greeting, a busy line or a call that never connected has no homeowner in it:
classifying its summary or transcript would read the greeting ("leave a message and I'll
call you back") as interest. These codes decide the outcome directly, after the opt-out
guard and before any classifier. Codes from VAPI's ``CallEndedReason``
(VapiAI/server-sdk-python ``src/vapi/types/call_ended_reason.py``). Errors in the middle
of a call (``call.in-progress.error-*``, ``pipeline-error-*``) are not here: the homeowner
may have spoken before the error, so their words are classified first.
"""

from __future__ import annotations

from typing import Final

from equity_connect.replies.schemas import Classification, ReplyIntent

__all__ = ["ENDED_WITHOUT_CONVERSATION", "ended_outcome"]

# code -> what happened; every one routes as ``auto_reply`` (an event, the lead unchanged):
# nobody answered, so nobody accepted, declined or opted out.
ENDED_WITHOUT_CONVERSATION: Final[dict[str, str]] = {
    "voicemail": "voicemail",
    "customer-did-not-answer": "no_answer",
    "call.forwarding.no-answer": "no_answer",
    "customer-busy": "busy",
    "call.forwarding.operator-busy": "busy",
    "twilio-failed-to-connect-call": "failed",
    "vonage-failed-to-connect-call": "failed",
    "vonage-rejected": "failed",
    "sip-outbound-unallocated-number": "failed",
    "sip-outbound-carrier-released-call": "failed",
    "call.in-progress.error-sip-outbound-call-failed-to-connect": "failed",
    "call.in-progress.error-providerfault-outbound-sip-503-service-unavailable": "failed",
    "call.in-progress.error-providerfault-outbound-sip-403-forbidden": "failed",
    "call.in-progress.error-providerfault-outbound-sip-407-proxy-authentication-required": (
        "failed"
    ),
    "call.in-progress.error-providerfault-outbound-sip-408-request-timeout": "failed",
    "call.in-progress.error-providerfault-outbound-sip-480-temporarily-unavailable": "failed",
    "call.in-progress.error-providerfault-transport-never-connected": "failed",
    "call.in-progress.error-vapifault-transport-never-connected": "failed",
    "call.ringing.error-sip-inbound-call-failed-to-connect": "failed",
    "call.ringing.sip-inbound-caller-hungup-before-call-connect": "no_answer",
    "phone-call-provider-bypass-enabled-but-no-call-received": "failed",
    "customer-did-not-give-microphone-permission": "failed",
    "manually-canceled": "failed",
    "scheduled-call-deleted": "failed",
    "call-deleted": "failed",
}
# Whole families that fail before anyone is on the line.
_NO_CALL_PREFIXES: Final = ("call.start.", "assistant-request-", "call-start-error-")


def ended_outcome(reason: object) -> Classification | None:
    """The outcome an ``endedReason`` decides on its own, or None when the call's content
    must be read (the homeowner was on the line, or the code is unknown)."""
    if not isinstance(reason, str):
        return None
    what = ENDED_WITHOUT_CONVERSATION.get(reason)
    if what is None and reason.startswith(_NO_CALL_PREFIXES):
        what = "failed"
    if what is None:
        return None
    return Classification(
        intent=ReplyIntent.AUTO_REPLY,
        confidence=1.0,
        reasons=[f"vapi:ended:{what}", f"vapi:ended_reason:{reason}"],
        backend="provider",
    )
