"""Build the configured providers, in order, with their shared rate limits."""

from __future__ import annotations

from psycopg_pool import ConnectionPool

from equity_connect.config import Settings
from equity_connect.db.pool import Conn
from equity_connect.jobs.ratelimit import SharedTokenBucket
from equity_connect.jobs.worker import PermanentJobError
from equity_connect.skiptrace.batchdata import BatchDataSkipTrace
from equity_connect.skiptrace.melissa import MelissaPersonator
from equity_connect.skiptrace.schemas import SkipTraceProvider
from equity_connect.skiptrace.simulator import SimulatedSkipTrace


def build_providers(settings: Settings) -> list[SkipTraceProvider]:
    """``EC_SKIPTRACE_PROVIDERS`` (e.g. ``melissa,batchdata``) as provider objects.

    Nothing configured is a permanent job error, not a silent fallback to the
    simulator: simulated contacts in a real pipeline would be worse than none.
    """
    providers: list[SkipTraceProvider] = []
    for name in (n.strip() for n in settings.skiptrace_providers.split(",")):
        if not name:
            continue
        if name == "simulator":
            providers.append(SimulatedSkipTrace(max_batch=settings.skiptrace_batch_size))
        elif name == "melissa":
            if not settings.melissa_license:
                raise PermanentJobError("EC_MELISSA_LICENSE is not set")
            providers.append(
                MelissaPersonator(
                    settings.melissa_license,
                    base_url=settings.melissa_base_url,
                    path=settings.melissa_path,
                    max_batch=min(100, settings.skiptrace_batch_size),
                )
            )
        elif name == "batchdata":
            if not settings.batchdata_token:
                raise PermanentJobError("EC_BATCHDATA_TOKEN is not set")
            providers.append(
                BatchDataSkipTrace(
                    settings.batchdata_token,
                    base_url=settings.batchdata_base_url,
                    max_batch=settings.skiptrace_batch_size,
                )
            )
        elif name == "batchdata-mcp":
            providers.append(_batchdata_mcp(settings))
        else:
            raise PermanentJobError(f"unknown skip-trace provider {name!r}")
    if not providers:
        raise PermanentJobError(
            "no skip-trace provider configured: set EC_SKIPTRACE_PROVIDERS "
            "(melissa, batchdata, batchdata-mcp or simulator)"
        )
    return providers


def _batchdata_mcp(settings: Settings) -> SkipTraceProvider:
    """BatchData through its MCP server (``EC_BATCHDATA_MCP_*``)."""
    # Imported here: the MCP SDK is half a second of import that only this provider needs.
    from equity_connect.skiptrace.batchdata_mcp import (  # noqa: PLC0415
        BatchDataMcpSkipTrace,
        parse_arguments,
    )

    if not settings.batchdata_mcp_url:
        raise PermanentJobError("EC_BATCHDATA_MCP_URL is not set (batchdata-mcp needs it)")
    try:
        arguments = parse_arguments(settings.batchdata_mcp_arguments)
    except ValueError as exc:
        raise PermanentJobError(str(exc)) from None
    return BatchDataMcpSkipTrace(
        settings.batchdata_mcp_url,
        transport=settings.batchdata_mcp_transport,
        tool=settings.batchdata_mcp_tool,
        arguments=arguments,
        token=settings.batchdata_mcp_token,
        max_batch=settings.skiptrace_batch_size,
        timeout=settings.batchdata_mcp_timeout_seconds,
    )


def build_buckets(pool: ConnectionPool[Conn], settings: Settings) -> dict[str, SharedTokenBucket]:
    """One shared token bucket per real provider (the simulator needs none)."""
    rates = {"melissa": settings.melissa_rate_per_sec, "batchdata": settings.batchdata_rate_per_sec}
    # batchdata-mcp is BatchData by another transport: the same bucket, the same rate.
    names = {
        "batchdata" if n.strip() == "batchdata-mcp" else n.strip()
        for n in settings.skiptrace_providers.split(",")
    }
    return {
        name: SharedTokenBucket(pool, name, rate_per_sec=rate, burst=max(1.0, rate))
        for name, rate in rates.items()
        if name in names
    }
