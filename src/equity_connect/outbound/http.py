"""The one way a provider adapter talks HTTP: a client it owns or borrows, JSON POSTs,
and every failure turned into a typed ``ProviderError``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Self

import httpx

from equity_connect.outbound.retry import (
    ProviderError,
    classify_response,
    classify_transport_error,
)


def utc_now() -> datetime:
    """The default clock (injected in tests to pin Retry-After dates)."""
    return datetime.now(UTC)


class ProviderClient:
    """Base of the HTTP adapters (Melissa, BatchData, Instantly)."""

    name: str  # the provider's name: errors carry it, and skip-trace results too

    def __init__(
        self,
        provider: str,
        *,
        timeout: float,
        client: httpx.Client | None,
        clock: Callable[[], datetime],
    ) -> None:
        self.name = provider
        self._owns_client = client is None
        self._client = client if client is not None else httpx.Client(timeout=timeout)
        self._clock = clock

    def close(self) -> None:
        """Close the HTTP client if this object made it."""
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def post_json(
        self, url: str, body: Any, headers: Mapping[str, str]
    ) -> tuple[httpx.Response, ProviderError | None]:
        """POST ``body``; the response and its typed error (None for a 2xx).

        A transport failure raises its ``ProviderError`` outside the ``except``
        block on purpose: the httpx exception carries the request, credential
        headers included, and would ride along as ``__context__`` into logs
        and the dead-letter queue.
        """
        failure: ProviderError | None = None
        try:
            response = self._client.post(url, json=body, headers=dict(headers))
        except httpx.RequestError as exc:
            failure = classify_transport_error(self.name, exc)
        if failure is not None:
            raise failure
        return response, classify_response(self.name, response, self._clock())
