"""Load the VAPI fixtures (tests/fixtures/providers/vapi/, sources in its SOURCE.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "providers" / "vapi"


def load(name: str, **values: str) -> dict[str, Any]:
    """The fixture's JSON with each ``__NAME__`` placeholder replaced by ``values[name]``.

    Placeholders stand for what a test creates (a lead id, a consent nonce);
    every other field is as VAPI sends it.
    """
    text = (FIXTURES / name).read_text()
    for key, value in values.items():
        text = text.replace(f"__{key.upper()}__", value)
    data: dict[str, Any] = json.loads(text)
    return data


def body(name: str, **values: str) -> bytes:
    """The fixture as the bytes of a request body."""
    return json.dumps(load(name, **values)).encode()
