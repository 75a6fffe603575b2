"""Named SQL statements loaded from a domain's ``queries.sql``.

A file holds statements each introduced by ``-- name: <name>``; code uses
them by name, so SQL is never assembled with f-strings.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import LiteralString

_NAME_LINE = re.compile(r"^--\s*name:\s*([a-z_][a-z0-9_]*)\s*$", re.MULTILINE)


def parse(text: str) -> dict[str, LiteralString]:
    """Split a queries file into ``{name: statement}``."""
    parts = _NAME_LINE.split(text)
    if parts[0].strip() and not all(
        line.startswith("--") or not line.strip() for line in parts[0].splitlines()
    ):
        raise ValueError("SQL before the first '-- name:' line")
    named: dict[str, LiteralString] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        if name in named:
            raise ValueError(f"query {name!r} is defined twice")
        statement = body.strip()
        if not statement:
            raise ValueError(f"query {name!r} is empty")
        # Read from our own package, never from input: what LiteralString means.
        named[name] = statement
    return named


@cache
def load(package: str) -> Mapping[str, LiteralString]:
    """The named statements of ``<package>/queries.sql``, read once."""
    text = (resources.files(package) / "queries.sql").read_text(encoding="utf-8")
    return parse(text)
