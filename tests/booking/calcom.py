"""Cal.com deliveries for tests: the fixtures under tests/fixtures/providers/calcom, signed."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from equity_connect.security import signatures

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "providers" / "calcom"
SECRET = "cal-secret, typed as is"  # a comma inside: Cal.com secrets are plain strings


@cache
def _raw(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return data


def event(name: str, **payload: Any) -> dict[str, Any]:
    """Fixture ``name`` (booking_created, booking_rescheduled, booking_cancelled) with
    ``payload`` fields replaced; ``ec_ref=None`` drops the metadata's ec_ref."""
    data = copy.deepcopy(_raw(name))
    body = data["payload"]
    if "ec_ref" in payload:
        ref = payload.pop("ec_ref")
        body["metadata"] = {} if ref is None else {**body.get("metadata", {}), "ec_ref": ref}
    body.update(payload)
    return data


def post(client: TestClient, data: dict[str, Any]) -> None:
    """Deliver as Cal.com does: the JSON body, signed with the secret as typed."""
    body = json.dumps(data).encode()
    sig = signatures.sign_calcom(SECRET.encode(), body)
    r = client.post("/v1/webhooks/calcom", content=body, headers={"X-Cal-Signature-256": sig})
    assert r.status_code == 200, r.text
