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
        bool, typer.Option("--jsonl", help='One {"text": …} per line in, one result per line out')
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
        try:
            item = json.loads(line)
            text = item["text"] if isinstance(item, dict) else None
        except json.JSONDecodeError as exc:
            raise typer.BadParameter(f"line {n}: not JSON ({exc.msg})") from exc
        if not isinstance(text, str):
            raise typer.BadParameter(f'line {n}: needs a "text" string')
        subject = item.get("subject") if isinstance(item.get("subject"), str) else None
        print(_out(classify_reply(text, subject, llm=llm)), flush=True)
