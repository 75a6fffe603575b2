"""``equity-connect classify-reply``: stdin in, one JSON verdict out (``--jsonl`` per line)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from equity_connect.cli import app

runner = CliRunner()


@pytest.fixture(autouse=True)
def _no_llm(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EC_LLM_BASE_URL", raising=False)


def _run(stdin: str, *args: str) -> list[dict[str, object]]:
    result = runner.invoke(app, ["classify-reply", *args], input=stdin)
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.output.splitlines() if line.strip()]


def test_jsonl_reads_text_subject_and_channel() -> None:
    lines = [
        {"text": "Opt me out of all future emails."},
        {"text": "thanks", "subject": "Unsubscribe"},
        # Read whole as a call: the email clean-up would cut at "Hello," and lose it.
        {"text": "Yes this is Rosa.\nHello,\nDon't call again.", "channel": "call"},
        {"text": "Yes this is Rosa.\nHello,\nDon't call again.", "channel": "email"},
    ]
    out = _run("\n".join(json.dumps(x) for x in lines) + "\n", "--jsonl")
    assert [o["intent"] for o in out[:3]] == ["unsubscribe"] * 3
    assert out[3]["intent"] != "unsubscribe"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("not json", "not JSON"),
        ('["text"]', '"text" string'),
        ('{"text": "hi", "channel": "sms"}', '"channel" must be'),
        ('{"text": "hi", "subject": 3}', '"subject" must be'),
    ],
)
def test_jsonl_bad_lines_say_which_and_why(line: str, message: str) -> None:
    result = runner.invoke(app, ["classify-reply", "--jsonl"], input=line + "\n")
    assert result.exit_code != 0
    assert "line 1" in result.output
    assert message in result.output
