"""``equity-connect classify-reply``: the reply classifier on stdin."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from equity_connect.config import get_settings
from equity_connect.inbound.tasks import llm_for
from equity_connect.replies.classify import classify_reply
from equity_connect.replies.schemas import Classification


def _out(result: Classification) -> str:
    return json.dumps(
        {
            "intent": str(result.intent),
            "confidence": round(result.confidence, 3),
            "phone": result.phone,
            "consent": result.consent,
        }
    )


def classify_reply_cmd(
    jsonl: Annotated[
        bool,
        typer.Option(
            "--jsonl",
            help='One {"text", "subject"?, "channel"?: "email"|"call"} per line in, '
            "one result per line out",
        ),
    ] = False,
) -> None:
    """Classify a reply read from stdin; prints {"intent", "confidence", "phone", "consent"}."""
    llm = llm_for(get_settings())
    if not jsonl:
        print(_out(classify_reply(sys.stdin.read(), llm=llm)))
        return
    for n, line in enumerate(sys.stdin, start=1):
        if not line.strip():
            continue
        text, subject, channel = _item(n, line)
        print(_out(classify_reply(text, subject, llm=llm, channel=channel)), flush=True)


_CHANNELS = ("email", "call")


def _item(n: int, line: str) -> tuple[str, str | None, str]:
    """(text, subject, channel) of one ``--jsonl`` line, or a one-sentence error."""
    try:
        item = json.loads(line)
    except json.JSONDecodeError as exc:
        raise typer.BadParameter(f"line {n}: not JSON ({exc.msg})") from exc
    if not isinstance(item, dict) or not isinstance(item.get("text"), str):
        raise typer.BadParameter(f'line {n}: needs an object with a "text" string')
    subject = item.get("subject")
    if subject is not None and not isinstance(subject, str):
        raise typer.BadParameter(f'line {n}: "subject" must be a string or absent')
    channel = item.get("channel", "email")
    if channel not in _CHANNELS:
        raise typer.BadParameter(f'line {n}: "channel" must be "email" or "call", not {channel!r}')
    return item["text"], subject, channel
