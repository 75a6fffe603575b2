"""Skip trace: find an owner's phones and emails from their property address.

Providers: Melissa Personator Consumer, BatchData, and an offline simulator. Each takes
:class:`SkipTraceRequest` batches and returns one :class:`SkipTraceResult` per request, or
raises a typed :class:`~equity_connect.outbound.ProviderError`.
"""

from __future__ import annotations

from equity_connect.skiptrace.batchdata import BatchDataSkipTrace
from equity_connect.skiptrace.melissa import MelissaPersonator
from equity_connect.skiptrace.schemas import (
    EmailResult,
    PhoneResult,
    PhoneType,
    SkipTraceProvider,
    SkipTraceRequest,
    SkipTraceResult,
    split_batches,
)
from equity_connect.skiptrace.simulator import SimulatedSkipTrace

__all__ = [
    "BatchDataSkipTrace",
    "EmailResult",
    "MelissaPersonator",
    "PhoneResult",
    "PhoneType",
    "SimulatedSkipTrace",
    "SkipTraceProvider",
    "SkipTraceRequest",
    "SkipTraceResult",
    "split_batches",
]
