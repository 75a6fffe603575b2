"""Every task the worker can run: importing a domain's tasks module registers them."""

from __future__ import annotations

from equity_connect.jobs.registry import registry

__all__ = ["registry"]
