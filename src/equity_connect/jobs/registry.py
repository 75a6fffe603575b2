"""Task names → functions. A task's name is "<domain>.<verb>_<noun>"; its args are ids."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from psycopg_pool import ConnectionPool

from equity_connect.config import Settings
from equity_connect.db.pool import Conn
from equity_connect.security.crypto import Keyring

_NAME = re.compile(r"^[a-z_]+\.[a-z_]+$")


@dataclass(frozen=True)
class TaskContext:
    """What a running task may use. The task owns its transactions."""

    pool: ConnectionPool[Conn]
    settings: Settings
    keyring: Keyring
    job_id: int
    attempt: int
    services: dict[str, Any] = field(default_factory=dict)


TaskFn = Callable[[TaskContext, dict[str, Any]], None]
# A start-up check: given a connection and the settings, why this worker must
# not start (one sentence naming the setting to fix), or None.
PreflightFn = Callable[[Conn, Settings], str | None]


class Registry:
    """The tasks a worker can run."""

    def __init__(self) -> None:
        self._tasks: dict[str, TaskFn] = {}
        self._preflights: list[PreflightFn] = []

    def task(self, name: str) -> Callable[[TaskFn], TaskFn]:
        """Register the decorated function as task ``name``."""
        if not _NAME.match(name):
            raise ValueError(f"task name {name!r} must look like 'domain.verb_noun'")

        def register(fn: TaskFn) -> TaskFn:
            if name in self._tasks:
                raise ValueError(f"task {name!r} is registered twice")
            self._tasks[name] = fn
            return fn

        return register

    def preflight(self, fn: PreflightFn) -> PreflightFn:
        """Register a start-up check (e.g. queued jobs need a provider that is not configured)."""
        self._preflights.append(fn)
        return fn

    def refusals(self, conn: Conn, settings: Settings) -> list[str]:
        """Why a worker must not start: what every registered check objects to."""
        return [r for check in self._preflights if (r := check(conn, settings)) is not None]

    def get(self, name: str) -> TaskFn | None:
        """The task function, or None for an unknown name."""
        return self._tasks.get(name)

    def names(self) -> list[str]:
        """Every registered task name."""
        return sorted(self._tasks)


registry = Registry()
