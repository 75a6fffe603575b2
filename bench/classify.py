"""Local reply classifier vs an always-"question" baseline on the labelled replies.

Usage: python bench/classify.py [--repeat 100]

Prints accuracy (all rows, dev and holdout splits, per intent), unsubscribe recall, the
confusions, and replies/s of both classifiers over the labelled set repeated ``--repeat``
times, in the same process. The baseline builds the same ``Classification`` object, so the
ratio is the cost of the rules themselves.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA = REPO_ROOT / "tests" / "replies" / "data" / "labelled_replies.jsonl"

sys.path.insert(0, str(REPO_ROOT / "src"))

from equity_connect.replies.classify import LocalClassifier  # noqa: E402
from equity_connect.replies.schemas import Classification, ReplyIntent  # noqa: E402

Classify = Callable[[str, str | None], Classification]


def baseline(text: str, subject: str | None = None) -> Classification:
    """Always "question": the classifier's own default, and the route that loses nothing."""
    return Classification(intent=ReplyIntent.QUESTION, confidence=0.3)


def accuracy(rows: list[dict[str, str]], predicted: list[str]) -> str:
    if not rows:
        return "n/a"
    ok = sum(r["intent"] == p for r, p in zip(rows, predicted, strict=True))
    return f"{ok}/{len(rows)} = {ok / len(rows):6.1%}"


def report(name: str, rows: list[dict[str, str]], classify: Classify) -> None:
    predicted = [classify(r["text"], r.get("subject")).intent.value for r in rows]
    print(f"--- {name}")
    print(f"accuracy all      {accuracy(rows, predicted)}")
    for split in ("dev", "holdout"):
        pairs = [(r, p) for r, p in zip(rows, predicted, strict=True) if r["split"] == split]
        print(f"accuracy {split:<8} {accuracy([r for r, _ in pairs], [p for _, p in pairs])}")
    for lang in ("en", "es"):
        pairs = [(r, p) for r, p in zip(rows, predicted, strict=True) if r["lang"] == lang]
        print(f"accuracy {lang:<8} {accuracy([r for r, _ in pairs], [p for _, p in pairs])}")
    for intent in ReplyIntent:
        pairs = [(r, p) for r, p in zip(rows, predicted, strict=True) if r["intent"] == intent]
        flagged = sum(p == intent for p in predicted)
        right = sum(r["intent"] == p for r, p in pairs)
        precision = f"{right / flagged:6.1%}" if flagged else "   n/a"
        print(
            f"  {intent.value:<15} recall {accuracy([r for r, _ in pairs], [p for _, p in pairs])}"
            f"   precision {precision}"
        )
    confusions = Counter(
        (r["intent"], p) for r, p in zip(rows, predicted, strict=True) if r["intent"] != p
    )
    print("confusions (true -> predicted: count):")
    for (true, pred), count in confusions.most_common():
        print(f"  {true} -> {pred}: {count}")


def throughput(texts: list[tuple[str, str | None]], classify: Classify) -> float:
    started = time.perf_counter()
    for text, subject in texts:
        classify(text, subject)
    return len(texts) / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=100)
    args = parser.parse_args()

    with DATA.open(encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    local = LocalClassifier().classify
    langs = Counter(r["lang"] for r in rows)
    print(f"{len(rows)} labelled replies ({langs['en']} en, {langs['es']} es) from {DATA.name}")
    report("local rules", rows, local)
    report("baseline: always question", rows, baseline)

    texts = [(r["text"], r.get("subject")) for r in rows] * args.repeat
    throughput(texts[: len(rows)], local)  # warm the regex caches
    local_rate = throughput(texts, local)
    base_rate = throughput(texts, baseline)
    print(f"--- throughput over {len(texts)} replies")
    print(f"local rules  {local_rate:12,.0f} replies/s")
    print(f"baseline     {base_rate:12,.0f} replies/s")
    print(f"local/baseline speed ratio {local_rate / base_rate:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
