"""Calls to external providers: typed failures and the shared retry policy."""

from __future__ import annotations

from equity_connect.outbound.retry import (
    DEFAULT_MAX_RETRY_AFTER,
    MalformedResponse,
    ProviderAuthError,
    ProviderError,
    ProviderFailure,
    ProviderRejected,
    ProviderUnavailable,
    RateLimited,
    backoff_delay,
    classify_response,
    classify_transport_error,
    decode_json,
    error_for_status,
    next_delay,
    parse_retry_after,
)

__all__ = [
    "DEFAULT_MAX_RETRY_AFTER",
    "MalformedResponse",
    "ProviderAuthError",
    "ProviderError",
    "ProviderFailure",
    "ProviderRejected",
    "ProviderUnavailable",
    "RateLimited",
    "backoff_delay",
    "classify_response",
    "classify_transport_error",
    "decode_json",
    "error_for_status",
    "next_delay",
    "parse_retry_after",
]
