"""Our VAPI fixtures, answers and requests checked against VAPI's own server SDK models.

``vapi-server-sdk`` (a dev dependency) is generated from VAPI's OpenAPI document;
its pydantic models accept unknown fields into ``model_extra``, so a field VAPI
does not define (like ``call.metadata``) is caught by walking every model for extras.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import BaseModel
from vapi import Vapi
from vapi.types import (
    AssistantOverrides,
    BearerAuthenticationPlan,
    Call,
    CreateCustomerDto,
    HmacAuthenticationPlan,
    ServerMessage,
    ServerMessageEndOfCallReport,
    ServerMessageResponseAssistantRequest,
    ServerMessageResponseKnowledgeBaseRequest,
    ServerMessageResponseToolCalls,
    ServerMessageResponseTransferDestinationRequest,
)

from equity_connect.calls.answers import answer, assistant_for_caller
from equity_connect.calls.client import SimulatedVapi, VapiClient
from equity_connect.calls.service import prepare_call
from equity_connect.config import Settings
from equity_connect.db.pool import Conn
from equity_connect.security.crypto import PiiCipher
from tests.calls.vapi_fixtures import FIXTURES, load
from tests.factories import make_broker, make_lead
from tests.outbound.fakeserver import Reply, running_server

SERVER_MESSAGES = [
    *sorted(p.name for p in FIXTURES.glob("end_of_call_report_*.json")),
    "assistant_request.json",
    "tool_calls.json",
    "status_update.json",
]


def extras(value: object, path: str = "") -> Iterator[str]:
    """Every field, anywhere in ``value``, that the SDK's model does not define."""
    if isinstance(value, BaseModel):
        for name in value.model_extra or {}:
            yield f"{path}.{name}"
        for name in type(value).model_fields:
            yield from extras(getattr(value, name), f"{path}.{name}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from extras(item, f"{path}[{i}]")


def conforms(model: type[BaseModel], data: Any) -> BaseModel:
    parsed = model.model_validate(data)
    assert list(extras(parsed)) == []
    return parsed


@pytest.mark.parametrize("name", SERVER_MESSAGES)
def test_every_server_message_fixture_is_a_vapi_server_message(name: str) -> None:
    body = load(name, lead_id=str(uuid.uuid4()), consent_token="nonce")
    parsed = conforms(ServerMessage, body)
    assert type(parsed.message).__name__ != "dict"  # recognised as one of VAPI's types


def test_the_walk_catches_a_field_vapi_does_not_define() -> None:
    call = load("create_call_response.json", lead_id="l", consent_token="t")
    assert list(extras(Call.model_validate({**call, "metadata": {"lead_id": "l"}}))) == [
        ".metadata"
    ]


def test_the_credential_fixture_uses_vapis_plans() -> None:
    plans = json.loads((FIXTURES / "credentials_rotation.json").read_text())
    for plan in plans:
        kind = plan.pop("type")  # our discriminator
        conforms(BearerAuthenticationPlan if kind == "bearer" else HmacAuthenticationPlan, plan)


def test_our_answers_are_vapis_response_types() -> None:
    settings = Settings(vapi_assistant_id="asst-1")
    for fixture, model in (
        ("assistant_request.json", ServerMessageResponseAssistantRequest),
        ("tool_calls.json", ServerMessageResponseToolCalls),
    ):
        reply = answer(settings, load(fixture)["message"])
        parsed = conforms(model, reply)
        assert parsed.model_dump(by_alias=True, exclude_none=True) == reply
    for kind, model in (
        ("transfer-destination-request", ServerMessageResponseTransferDestinationRequest),
        ("knowledge-base-request", ServerMessageResponseKnowledgeBaseRequest),
    ):
        conforms(model, answer(settings, {"type": kind}))


def test_the_simulated_report_is_a_vapi_end_of_call_report(conn: Conn, cipher: PiiCipher) -> None:
    settings = Settings(vapi_assistant_id="asst-1", vapi_phone_number_id="pn-1")
    lead = make_lead(conn, make_broker(conn), cipher=cipher, phone="+12135550147")
    vapi = SimulatedVapi()
    started = vapi.create_call(prepare_call(conn, cipher, settings, lead).body)
    report = vapi.end_of_call_report(
        started.call_id,
        assistant_said="May we call you?",
        homeowner_said="Yes.",
        summary="Yes.",
        structured_data={"interested": True},
    )
    assert isinstance(conforms(ServerMessage, report).message, ServerMessageEndOfCallReport)


def test_our_create_call_body_is_what_vapis_sdk_sends(conn: Conn, cipher: PiiCipher) -> None:
    settings = Settings(vapi_assistant_id="asst-1", vapi_phone_number_id="pn-1")
    lead = make_lead(conn, make_broker(conn), cipher=cipher, phone="+12135550147")
    body = prepare_call(conn, cipher, settings, lead).body
    created = load("create_call_response.json", lead_id="l", consent_token="t")
    with running_server() as fake:
        fake.queue(Reply(201, created), Reply(201, created))
        with VapiClient("key", base_url=fake.url) as ours:
            ours.create_call(body)
        sdk = Vapi(token="key", base_url=fake.url)
        sdk.calls.create(
            assistant_id=body["assistantId"],
            phone_number_id=body["phoneNumberId"],
            customer=CreateCustomerDto(**body["customer"]),
            assistant_overrides=AssistantOverrides(**body["assistantOverrides"]),
        )
        ours_sent, sdk_sent = fake.requests
    assert ours_sent.path.rstrip("/") == sdk_sent.path.rstrip("/")
    assert ours_sent.json() == sdk_sent.json()
    assert ours_sent.headers["authorization"] == sdk_sent.headers["authorization"]
    conforms(Call, created)


def test_the_answer_to_a_known_caller_is_vapis_response_type(conn: Conn, cipher: PiiCipher) -> None:
    settings = Settings(vapi_assistant_id="asst-1")
    lead = make_lead(conn, make_broker(conn), cipher=cipher, phone="+12135550147")
    reply = assistant_for_caller(conn, cipher, settings, load("assistant_request.json")["message"])
    parsed = conforms(ServerMessageResponseAssistantRequest, reply)
    assert isinstance(parsed, ServerMessageResponseAssistantRequest)
    assert parsed.assistant_overrides is not None
    assert parsed.assistant_overrides.metadata is not None
    assert parsed.assistant_overrides.metadata["lead_id"] == str(lead)
