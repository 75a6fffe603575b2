"""Who is calling: the one type every entry point (API, dashboard, CLI, MCP server) shares."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Literal

from equity_connect.errors import DomainError


@dataclass(frozen=True)
class Principal:
    """An authenticated caller."""

    kind: Literal["ops", "broker"]
    id: str
    scopes: frozenset[str] = frozenset()

    @property
    def broker_id(self) -> uuid.UUID:
        """The broker's id (their Supabase user id)."""
        if self.kind != "broker":
            raise DomainError(403, "brokers_only", "this needs a broker's login")
        return uuid.UUID(self.id)
