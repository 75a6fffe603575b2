"""The three webhook receivers, their signing, and the malformed bodies every one must survive.

Each kind is a well-formed provider delivery (tests/fixtures/providers/…, sources
named beside each file) broken in one way, as bytes, with the outcome we decided
on: ``reject`` (a 4xx naming the reason, nothing stored) or ``accept`` (stored
with 200, then processed or failed cleanly, never retried).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from equity_connect.security import signatures
from tests.inbound.conftest import CALCOM_SECRET, INSTANTLY_SECRET, VAPI_SECRET

FIXTURES = Path(__file__).parent.parent / "fixtures" / "providers"
LONG = "i" * 3000  # past the ~2.7 KB a btree index entry can hold


def _fixture(path: str) -> dict[str, Any]:
    data = json.loads((FIXTURES / path).read_text())
    assert isinstance(data, dict)
    return data


def _set(data: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(data)
    node = out
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return out


@dataclass(frozen=True)
class Receiver:
    """One webhook endpoint: its path, a valid delivery, and where its id and type live."""

    name: str
    path: str
    base: dict[str, Any]
    id_path: tuple[str, ...]
    type_path: tuple[str, ...]
    content_path: tuple[str, ...]  # a free-text field the handler reads
    sign: Callable[[bytes], dict[str, str]]

    def with_value(self, path: tuple[str, ...], value: Any) -> dict[str, Any]:
        return _set(self.base, path, value)

    def headers(self, body: bytes, content_type: str = "application/json") -> dict[str, str]:
        return {**self.sign(body), "content-type": content_type}


RECEIVERS = [
    Receiver(
        "instantly",
        "/v1/webhooks/instantly",
        _fixture("instantly/webhook_reply_received.json"),
        ("email_id",),
        ("event_type",),
        ("reply_text",),
        lambda body: {"X-Webhook-Secret": INSTANTLY_SECRET},
    ),
    Receiver(
        "vapi",
        "/v1/webhooks/vapi",
        _fixture("vapi/webhook_status_update.json"),
        ("message", "call", "id"),
        ("message", "type"),
        ("message", "status"),
        lambda body: {"X-Vapi-Secret": VAPI_SECRET},
    ),
    Receiver(
        "calcom",
        "/v1/webhooks/calcom",
        _fixture("calcom/webhook_booking_created.json"),
        ("payload", "uid"),
        ("triggerEvent",),
        ("payload", "title"),
        lambda body: {"X-Cal-Signature-256": signatures.sign_calcom(CALCOM_SECRET.encode(), body)},
    ),
]

Outcome = Literal["reject", "accept"]


def _dumps(data: Any) -> bytes:
    return json.dumps(data).encode()


def _with_raw(r: Receiver, path: tuple[str, ...], raw: bytes) -> bytes:
    """The base body with the JSON at ``path`` replaced by ``raw`` bytes (any bytes at all)."""
    marker = "__raw_value_marker__"
    return _dumps(r.with_value(path, marker)).replace(f'"{marker}"'.encode(), raw)


@dataclass(frozen=True)
class Kind:
    """One way to break a body, and what the receiver must do with it."""

    name: str
    make: Callable[[Receiver], bytes]
    outcome: Outcome
    content_type: str = "application/json"


KINDS = [
    Kind("depth_1001_arrays", lambda r: _with_raw(r, ("x",), b"[" * 1001 + b"]" * 1001), "reject"),
    Kind(
        "depth_1001_objects",
        lambda r: _with_raw(r, ("x",), b'{"a":' * 1001 + b"1" + b"}" * 1001),
        "reject",
    ),
    Kind("int_50000_digits", lambda r: _with_raw(r, ("x",), b"1" + b"0" * 49_999), "reject"),
    Kind("float_overflow", lambda r: _with_raw(r, ("x",), b"1e999999"), "reject"),
    Kind("nan_literal", lambda r: _with_raw(r, ("x",), b"NaN"), "reject"),
    Kind("event_id_3000_chars", lambda r: _dumps(r.with_value(r.id_path, LONG)), "accept"),
    Kind("event_type_3000_chars", lambda r: _dumps(r.with_value(r.type_path, LONG)), "accept"),
    Kind("nul_escape_in_id", lambda r: _with_raw(r, r.id_path, rb'"id\u0000x"'), "accept"),
    Kind("nul_escape_in_text", lambda r: _with_raw(r, r.content_path, rb'"stop\u0000"'), "accept"),
    Kind("lone_surrogate_escape_in_id", lambda r: _with_raw(r, r.id_path, rb'"\ud800"'), "accept"),
    Kind(
        "lone_surrogate_escape_in_type",
        lambda r: _with_raw(r, r.type_path, rb'"x\udfffy"'),
        "accept",
    ),
    Kind("raw_surrogate_bytes", lambda r: _with_raw(r, r.id_path, b'"\xed\xa0\x80"'), "reject"),
    Kind("utf16_le_with_bom", lambda r: json.dumps(r.base).encode("utf-16"), "reject"),
    Kind("utf16_be", lambda r: json.dumps(r.base).encode("utf-16-be"), "reject"),
    Kind("utf32", lambda r: json.dumps(r.base).encode("utf-32"), "reject"),
    Kind("utf8_bom", lambda r: b"\xef\xbb\xbf" + _dumps(r.base), "accept"),
    Kind("invalid_utf8", lambda r: _with_raw(r, r.content_path, b'"caf\xe9"'), "reject"),
    Kind("top_level_array", lambda r: _dumps([r.base]), "reject"),
    Kind("top_level_number", lambda r: b"42", "reject"),
    Kind("top_level_string", lambda r: b'"hello"', "reject"),
    Kind(
        "duplicate_key",
        lambda r: _dumps(r.base)[:-1] + b", " + _dumps(r.base)[1:],
        "reject",
    ),
    Kind("empty_body", lambda r: b"", "reject"),
    Kind("whitespace_body", lambda r: b" \r\n\t", "reject"),
    Kind("truncated_json", lambda r: _dumps(r.base)[:-7], "reject"),
    Kind(
        "form_encoded_body",
        lambda r: b"triggerEvent=BOOKING_CREATED&uid=1",
        "reject",
        "application/x-www-form-urlencoded",
    ),
    Kind("json_labelled_text_plain", lambda r: _dumps(r.base), "accept", "text/plain"),
]
