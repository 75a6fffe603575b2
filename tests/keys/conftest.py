"""Set-up shared by the rotation tests that move env-key values onto a KEK provider."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from equity_connect.config import get_settings
from equity_connect.security.crypto import generate_key

K1, INDEX = f"k1:{generate_key()}", generate_key()


@pytest.fixture
def env_keys(monkeypatch: pytest.MonkeyPatch, fresh_database_url: str) -> Iterator[None]:
    """The CLI on a fresh database, with the env key k1 active (one staging process)."""
    monkeypatch.setenv("DATABASE_URL", fresh_database_url)
    monkeypatch.setenv("EC_ENCRYPTION_KEYS", K1)
    monkeypatch.setenv("EC_INDEX_KEY", INDEX)
    monkeypatch.setenv("EC_INGEST_WORKERS", "1")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()
