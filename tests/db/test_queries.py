"""Named-SQL loading."""

from __future__ import annotations

import pytest

from equity_connect.db import queries


def test_parse_splits_named_statements() -> None:
    text = "-- shared comment\n-- name: one\nselect 1;\n\n-- name: two_things\nselect 2\n"
    assert queries.parse(text) == {"one": "select 1;", "two_things": "select 2"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("select 0;\n-- name: a\nselect 1", "before the first"),
        ("-- name: a\nselect 1\n-- name: a\nselect 2", "defined twice"),
        ("-- name: a\n\n-- name: b\nselect 2", "is empty"),
    ],
)
def test_parse_rejects_ambiguous_files(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        queries.parse(text)
