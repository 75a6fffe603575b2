"""The shared shape of the HTTP skip-trace adapters: split into batches, one POST each."""

from __future__ import annotations

from collections.abc import Sequence

from equity_connect.outbound.http import ProviderClient
from equity_connect.skiptrace.schemas import SkipTraceRequest, SkipTraceResult, split_batches


class BatchingSkipTrace(ProviderClient):
    """A skip-trace provider over HTTP; subclasses implement one batch call."""

    name: str
    max_batch: int

    def lookup(self, requests: Sequence[SkipTraceRequest]) -> list[SkipTraceResult]:
        """One result per request, in order; one POST per ``max_batch`` requests.

        Raises:
            ProviderError: the first failing call's typed error.
            ValueError: two requests share a lead id.
        """
        results: list[SkipTraceResult] = []
        for batch in split_batches(requests, self.max_batch):
            results.extend(self._lookup_batch(batch))
        return results

    def _lookup_batch(self, batch: Sequence[SkipTraceRequest]) -> list[SkipTraceResult]:
        raise NotImplementedError
