"""Read a VAPI server message where VAPI really puts things.

Field locations follow VAPI's server SDK types (VapiAI/server-sdk-python,
``src/vapi/types/``): ``Call`` has no ``metadata``; per-call data is in
``call.assistantOverrides.metadata`` / ``.variableValues`` (``AssistantOverrides``),
and an assistant's own data in ``message.assistant.metadata`` (``CreateAssistantDto``).
Outcomes are in ``analysis.structuredData`` (``Analysis``) and, for assistants using
Structured Outputs, in ``artifact.structuredOutputs`` as ``{id: {name, result}}``
(``Artifact``; shape from VapiAI/docs ``fern/assistants/structured-outputs-quickstart.mdx``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

# The names we give our per-call values, in metadata and in variableValues alike.
LEAD_ID_KEY: Final = "lead_id"
CONSENT_TOKEN_KEY: Final = "consent_token"  # noqa: S105 (a key name, not a secret)

# Roles of the homeowner's turns in ``artifact.messages`` (``UserMessage.role`` is
# "user"; "customer" is accepted because VAPI calls the callee the customer).
_HOMEOWNER_ROLES: Final = frozenset({"user", "customer"})
# Speaker labels in ``artifact.transcript`` ("AI: …\nUser: …"), the homeowner's first.
_TRANSCRIPT_LABEL_RE: Final = re.compile(
    r"(?:^|(?<=\s))(User|Customer|AI|Assistant|Bot|System):", re.IGNORECASE
)


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _holders(message: dict[str, Any]) -> list[dict[str, Any]]:
    """Where per-call values may be, most specific first."""
    call = _dict(message.get("call"))
    overrides = _dict(call.get("assistantOverrides"))
    customer_overrides = _dict(_dict(message.get("customer")).get("assistantOverrides"))
    return [
        _dict(overrides.get("metadata")),
        _dict(overrides.get("variableValues")),
        _dict(customer_overrides.get("metadata")),
        _dict(customer_overrides.get("variableValues")),
        _dict(_dict(message.get("assistant")).get("metadata")),
        _dict(_dict(call.get("assistant")).get("metadata")),
    ]


def per_call_value(message: dict[str, Any], key: str) -> str | None:
    """The first non-empty string under ``key`` in the message's per-call holders."""
    for holder in _holders(message):
        value = holder.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


@dataclass(frozen=True)
class CallContext:
    """What we put on the call: the lead it is about and the consent nonce."""

    call_id: str | None
    lead_id: str | None
    consent_token: str | None


def call_context(message: dict[str, Any]) -> CallContext:
    """The call id and our per-call values from a VAPI server message."""
    call = _dict(message.get("call"))
    call_id = call.get("id")
    return CallContext(
        call_id=call_id if isinstance(call_id, str) and call_id else None,
        lead_id=per_call_value(message, LEAD_ID_KEY),
        consent_token=per_call_value(message, CONSENT_TOKEN_KEY),
    )


def _key(name: str) -> str:
    """A field or output name as a data key: "Do Not Call", "doNotCall", "do-not-call"
    → "do_not_call" (schemas are written in every case style)."""
    split = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name)
    return re.sub(r"[^0-9a-z]+", "_", split.lower()).strip("_")


def artifact(message: dict[str, Any]) -> dict[str, Any]:
    """``message.artifact`` (required on an end-of-call report), else ``call.artifact``."""
    return _dict(message.get("artifact")) or _dict(_dict(message.get("call")).get("artifact"))


def structured_outputs(message: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Flatten ``artifact.structuredOutputs`` into (data, texts).

    An object ``result`` contributes its keys; a scalar ``result`` (a boolean or
    number schema) is keyed by the output's name; a string ``result`` is also
    returned as text to classify (e.g. a "Call Summary" output). A ``null``
    result means extraction failed and is skipped.
    """
    data: dict[str, Any] = {}
    texts: list[str] = []
    for output in _dict(artifact(message).get("structuredOutputs")).values():
        entry = _dict(output)
        result = entry.get("result")
        name = entry.get("name")
        if isinstance(result, dict):
            for k, v in result.items():
                data.setdefault(_key(str(k)), v)
        elif result is not None and isinstance(name, str) and _key(name):
            data.setdefault(_key(name), result)
            if isinstance(result, str) and result.strip():
                texts.append(result)
    return data, texts


def outcome_data(message: dict[str, Any]) -> dict[str, Any]:
    """``analysis.structuredData`` and the structured outputs, as one mapping.

    Keys are normalized the same way for both. On a conflict the first value
    wins, except that callers check opt-out keys in both (see ``says_opt_out``).
    """
    data: dict[str, Any] = {}
    analysis = _dict(message.get("analysis"))
    for k, v in _dict(analysis.get("structuredData")).items():
        data.setdefault(_key(str(k)), v)
    from_outputs, _ = structured_outputs(message)
    for k, v in from_outputs.items():
        data.setdefault(k, v)
    return data


# Keys whose true value means the homeowner opted out (normalized with ``_key``).
OPT_OUT_KEYS: Final = frozenset(
    {"do_not_call", "dnc", "unsubscribe", "unsubscribed", "opt_out", "opted_out", "do_not_contact"}
)


def says_opt_out(message: dict[str, Any]) -> bool:
    """True when structured data or any structured output flags an opt-out.

    Checked across every source separately, so a ``false`` elsewhere cannot
    mask a ``true``: a missed opt-out is a legal violation.
    """
    analysis = _dict(message.get("analysis"))
    sources = [{_key(str(k)): v for k, v in _dict(analysis.get("structuredData")).items()}]
    for output in _dict(artifact(message).get("structuredOutputs")).values():
        entry = _dict(output)
        result = entry.get("result")
        name = entry.get("name")
        if isinstance(result, dict):
            sources.append({_key(str(k)): v for k, v in result.items()})
        elif isinstance(name, str):
            sources.append({_key(name): result})
    return any(src.get(k) is True for src in sources for k in OPT_OUT_KEYS)


def summary(message: dict[str, Any]) -> str:
    """``analysis.summary``, else a string structured output (e.g. "Call Summary")."""
    text = _dict(message.get("analysis")).get("summary")
    if isinstance(text, str) and text.strip():
        return text
    _, texts = structured_outputs(message)
    return "\n".join(texts)


def homeowner_turns(message: dict[str, Any]) -> str:
    """What the homeowner said: ``artifact.messages`` with a user role, else the
    ``User:``/``Customer:`` turns of ``artifact.transcript``. Never the assistant's words."""
    art = artifact(message)
    messages = art.get("messages")
    if isinstance(messages, list):
        said = [
            m["message"]
            for m in messages
            if isinstance(m, dict)
            and str(m.get("role", "")).lower() in _HOMEOWNER_ROLES
            and isinstance(m.get("message"), str)
        ]
        if said:
            return "\n".join(said)
    transcript = art.get("transcript")
    if not isinstance(transcript, str):
        return ""
    parts = _TRANSCRIPT_LABEL_RE.split(transcript)
    # split() with one group: [before, label, text, label, text, …]
    turns = [
        parts[i + 1].strip()
        for i in range(1, len(parts) - 1, 2)
        if parts[i].lower() in _HOMEOWNER_ROLES
    ]
    return "\n".join(t for t in turns if t)
