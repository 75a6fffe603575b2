"""The real ``equity-connect worker`` command, run as its own process by the fault tests.

It registers one extra task, ``faults.write_result``, into the production
registry before handing over to the CLI, so what runs is the shipped
command: its pool, its supervisor loops, its exit codes and messages.
"""

from __future__ import annotations

import sys
from typing import Any

from equity_connect.cli import app
from equity_connect.jobs.catalog import registry
from equity_connect.jobs.registry import TaskContext


@registry.task("faults.write_result")
def write_result(ctx: TaskContext, args: dict[str, Any]) -> None:
    """Work that spans a few round trips (so a kill lands mid-work) and is idempotent."""
    with ctx.pool.connection() as conn:
        conn.execute("select pg_sleep(%s)", [float(args.get("sleep", 0.02))])
        conn.execute(
            "insert into fault_results (job_id, n) values (%s, %s) "
            "on conflict (job_id) do update set runs = fault_results.runs + 1",
            [ctx.job_id, args["n"]],
        )


if __name__ == "__main__":
    app(["worker", *sys.argv[1:]])
