"""Application state shared by every route (kept apart from the app factory to avoid cycles)."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import Request
from psycopg_pool import ConnectionPool

from equity_connect.auth.client import JwksClient
from equity_connect.config import Settings
from equity_connect.db.pool import Conn
from equity_connect.observability.metrics import Metrics
from equity_connect.security.crypto import Keyring
from equity_connect.security.events import RejectionCounter


@dataclass
class AppState:
    """What every request handler may use."""

    settings: Settings
    pool: ConnectionPool[Conn]
    keyring: Keyring
    metrics: Metrics
    jwks: JwksClient | None = None  # the Supabase project's signing keys, when configured

    # refused requests counted in memory between writes (web/guards.py)
    rejections: RejectionCounter = field(default_factory=RejectionCounter)


def state_of(request: Request) -> AppState:
    """The application's state, for route handlers."""
    state: AppState = request.app.state.ec
    return state
