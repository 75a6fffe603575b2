"""A real local HTTP server per test, standing in for the provider."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.outbound.fakeserver import FakeServer, running_server


@pytest.fixture
def server() -> Iterator[FakeServer]:
    """A started fake provider on 127.0.0.1 (random port), stopped after the test."""
    with running_server() as fake:
        yield fake
