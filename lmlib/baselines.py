"""Simple baselines that chapter 6 measures its neural models against. A model that does not beat these
has learned nothing worth its cost.

* ``BagOfWords``: word (or character n-gram) counts, tf-idf weighted, into a linear classifier (6.1);
* ``LookupTagger``: the most frequent tag of each byte in its context of neighbouring bytes (6.1);
* ``nearest_translation``: the translation of the most similar training input (6.1);
* ``lead_sentence``: the first sentence of a text as its summary (6.3); BM25 is in ``retrieval`` (6.2).
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from typing import Sequence

import torch

from . import _checks

__all__ = ["BagOfWords", "LookupTagger", "nearest_translation", "lead_sentence"]


class BagOfWords:
    """Text -> tf-idf weighted counts of words ("word") or of character n-grams ("char") -> linear classifier."""

    def __init__(self, analyzer: str = "word", ngram: tuple[int, int] = (1, 3), min_count: int = 2):
        if analyzer not in ("word", "char"):
            raise ValueError(f"analyzer must be 'word' or 'char', got {analyzer!r}")
        if not (isinstance(ngram, tuple) and len(ngram) == 2 and all(isinstance(n, int) for n in ngram)
                and 1 <= ngram[0] <= ngram[1] <= 32):
            raise ValueError(f"ngram must be a pair of ints (lo, hi) with 1 <= lo <= hi <= 32, got {ngram!r}")
        _checks.count("min_count", min_count)
        self.analyzer, self.ngram, self.min_count = analyzer, ngram, min_count
        self.vocab: dict[str, int] = {}
        self.idf: torch.Tensor | None = None
        self.head: bool | None = None
        self.weight = self.bias = None

    def tokens(self, text: str) -> list[str]:
        """The units counted: lower-cased words, or character n-grams of the text padded with spaces."""
        if self.analyzer == "word":
            return re.findall(r"\w+", _checks.text("text", text).lower())
        padded = f" {text.lower()} "
        lo, hi = self.ngram
        return [padded[i : i + n] for n in range(lo, hi + 1) for i in range(len(padded) - n + 1)]

    def vectors(self, texts: Sequence[str]) -> torch.Tensor:
        """tf-idf vectors (N, vocabulary) as a sparse tensor, each row scaled to length 1."""
        if self.idf is None:
            raise ValueError("call fit first: the vocabulary comes from the training texts")
        texts = _checks.texts("texts", texts, empty=True)
        rows, cols, vals = [], [], []
        for row, text in enumerate(texts):
            entries = [(self.vocab[t], (1.0 + math.log(c)) * float(self.idf[self.vocab[t]]))
                       for t, c in Counter(self.tokens(text)).items() if t in self.vocab]
            norm = math.sqrt(sum(v * v for _, v in entries)) or 1.0
            for j, v in entries:
                rows.append(row), cols.append(j), vals.append(v / norm)
        index = torch.tensor([rows, cols], dtype=torch.long).reshape(2, -1)
        shape = (len(texts), len(self.vocab))
        return torch.sparse_coo_tensor(index, torch.tensor(vals), shape, check_invariants=True).coalesce()

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sparse.mm(x, self.weight) + self.bias

    def fit(self, texts: Sequence[str], labels: Sequence[int], n_classes: int, steps: int = 200,
            lr: float = 0.1, weight_decay: float = 1e-4, seed: int = 0) -> "BagOfWords":
        """Build the vocabulary (units seen in ``min_count`` texts or more) and train a logistic regression."""
        texts = _checks.texts("texts", texts)
        n_classes = _checks.count("n_classes", n_classes)
        labels = _checks.labels("labels", labels, n_classes)
        if len(texts) != len(labels):
            raise ValueError(f"need one label per text (got {len(texts)} texts and {len(labels)} labels)")
        steps, lr = _checks.count("steps", steps, 0), _checks.positive_number("lr", lr)
        weight_decay = _checks.positive_number("weight_decay", weight_decay, zero=True)
        df = Counter(t for text in texts for t in set(self.tokens(text)))
        kept = sorted(t for t, c in df.items() if c >= self.min_count)
        if not kept:
            raise ValueError(f"no unit occurs in {self.min_count} or more texts; lower min_count")
        self.vocab = {t: i for i, t in enumerate(kept)}
        self.idf = torch.tensor([math.log((1 + len(texts)) / (1 + df[t])) + 1.0 for t in kept])
        x, y = self.vectors(texts), torch.as_tensor(list(labels), dtype=torch.long)
        torch.manual_seed(seed)
        self.weight = torch.zeros(len(kept), n_classes, requires_grad=True)
        self.bias = torch.zeros(n_classes, requires_grad=True)
        opt = torch.optim.Adam([self.weight, self.bias], lr=lr)
        for _ in range(steps):
            loss = torch.nn.functional.cross_entropy(self._logits(x), y) + weight_decay * self.weight.pow(2).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
        self.head = True
        return self

    @torch.no_grad()
    def predict(self, texts: Sequence[str]) -> list[int]:
        """The predicted class of each text."""
        if self.head is None:
            raise ValueError("call fit before predict")
        return self._logits(self.vectors(texts)).argmax(-1).tolist()


class LookupTagger:
    """Tags each byte with the tag seen most often for the same bytes around it in training (``left`` bytes
    before, ``right`` after); unseen contexts back off to narrower ones, then to the most frequent tag."""

    def __init__(self, left: int = 2, right: int = 2):
        _checks.count("left", left, 0, 64), _checks.count("right", right, 0, 64)
        self.left, self.right = left, right
        self.tables: list[dict[bytes, int]] = []
        self.default = 0

    def _contexts(self, data: bytes, i: int) -> list[bytes]:
        out = []
        for k in range(max(self.left, self.right), -1, -1):  # widest context first
            lo, hi = max(0, i - min(k, self.left)), i + 1 + min(k, self.right)
            out.append(bytes([lo == 0 and i - min(k, self.left) < 0]) + data[lo:hi] + bytes([hi > len(data)]))
        return out

    def fit(self, samples: Sequence[tuple[bytes, Sequence[int]]]) -> "LookupTagger":
        """Count tags per context over (bytes, tags) samples."""
        counts: list[dict[bytes, Counter]] = [defaultdict(Counter) for _ in range(max(self.left, self.right) + 1)]
        overall: Counter = Counter()
        if not _checks.iterable(samples):
            raise TypeError(f"samples must be a list of (bytes, tags) pairs, got {type(samples).__name__}")
        for data, tags in samples:
            if not isinstance(data, bytes):
                raise TypeError(f"each sample must be a (bytes, tags) pair, got data of type {type(data).__name__}")
            if len(data) != len(tags):
                raise ValueError(f"a sample has {len(data)} bytes but {len(tags)} tags")
            for i, tag in enumerate(tags):
                for level, ctx in enumerate(self._contexts(data, i)):
                    counts[level][ctx][tag] += 1
                overall[tag] += 1
        if not overall:
            raise ValueError("samples hold no tagged bytes: give at least one non-empty sample")
        self.tables = [{ctx: c.most_common(1)[0][0] for ctx, c in table.items()} for table in counts]
        self.default = overall.most_common(1)[0][0]
        return self

    def predict(self, data: bytes) -> list[int]:
        """One tag per byte of ``data``."""
        if not self.tables:
            raise ValueError("call fit before predict")
        if not isinstance(data, bytes):
            raise TypeError(f"data must be bytes (e.g. text.encode()), got {type(data).__name__}")
        out = []
        for i in range(len(data)):
            for table, ctx in zip(self.tables, self._contexts(data, i)):
                if ctx in table:
                    out.append(table[ctx])
                    break
            else:
                out.append(self.default)
        return out


def nearest_translation(source: str, train: Sequence[tuple[str, str]]) -> str:
    """The translation of the training source closest to ``source`` (fewest differing characters, same
    length first; ties to the earliest): what a system that only memorises can do with an unseen input."""
    _checks.text("source", source)
    if isinstance(train, (str, bytes)) or not hasattr(train, "__len__") or not all(
            isinstance(pair, tuple) and len(pair) == 2 and all(isinstance(t, str) for t in pair) for pair in train):
        raise TypeError("train must be a list of (source, translation) pairs of strings")
    if not train:
        raise ValueError("no training pairs to look up")

    def distance(other: str) -> tuple[int, int]:
        return abs(len(other) - len(source)), sum(a != b for a, b in zip(other.rjust(len(source)), source.rjust(len(other))))

    return min(train, key=lambda pair: distance(pair[0]))[1]


def lead_sentence(text: str) -> str:
    """The first sentence of ``text`` (up to the first '.', '!' or '?' followed by a space or the end)."""
    flat = " ".join(_checks.text("text", text).split())
    m = re.search(r"[.!?](\s|$)", flat)
    return flat[: m.start() + 1] if m else flat
