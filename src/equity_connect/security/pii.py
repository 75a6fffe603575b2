"""A lead's contact details in clear, for the few places that must send or show them."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from equity_connect.security.crypto import PiiCipher, aad_for


def lead_contact(cipher: PiiCipher, row: Mapping[str, Any], channel: str) -> str | None:
    """The lead row's ``email`` or ``phone`` (from ``{channel}_ciphertext``, bound to
    ``row["id"]``), or None when it has none."""
    value = row[f"{channel}_ciphertext"]
    return None if value is None else cipher.decrypt(value, aad_for("leads", channel, row["id"]))


def lead_extras(cipher: PiiCipher, row: Mapping[str, Any]) -> dict[str, str]:
    """The lead row's unknown CSV columns (vendor free text), from
    ``raw_extra_ciphertext`` bound to ``row["id"]``; empty when it has none."""
    value = row["raw_extra_ciphertext"]
    if value is None:
        return {}
    extras: dict[str, str] = json.loads(
        cipher.decrypt(value, aad_for("leads", "raw_extra", row["id"]))
    )
    return extras
