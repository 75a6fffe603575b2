"""Helpers for the rotation tests."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from equity_connect.cli import app
from tests.ingest.helpers import csv_bytes, row


def ingest_numbered(
    runner: CliRunner,
    tmp_path: Path,
    name: str,
    first: int,
    n: int,
    *,
    mak_prefix: str,
    street: str,
) -> None:
    """Ingest ``n`` leads numbered from ``first`` (each with an e-mail) through the CLI."""
    rows = [
        row(
            mak=f"{mak_prefix}{first + i:08d}",
            property_address=f"{first + i + 1} {street}",
            email=f"owner{first + i}@example.com",
        )
        for i in range(n)
    ]
    (tmp_path / name).write_bytes(csv_bytes(rows))
    done = runner.invoke(app, ["ingest", str(tmp_path / name), "--json"])
    assert done.exit_code == 0, done.output
