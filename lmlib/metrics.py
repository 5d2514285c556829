"""Scores for chapter 6's tasks: accuracy and confusion matrices, per-class and span F1, exact match and
character error rate, ROUGE, and bootstrap intervals that say how much a small test set can tell.

Chapter 6.1 (classification, tagging, translation), 6.2 (retrieval and answers) and 6.3 (summaries) use
them. Every function takes plain Python sequences and returns plain numbers, so a result can be checked
by hand.
"""

from __future__ import annotations

import math
import numbers
import random
import re
from collections import Counter
from typing import Callable, Hashable, Sequence

from . import _checks

__all__ = [
    "accuracy", "confusion_matrix", "per_class_f1", "macro_f1", "bio_spans", "span_f1", "edit_distance",
    "char_error_rate", "exact_match", "words", "rouge_n", "rouge_l", "rouge", "bootstrap_interval",
]


MAX_BOOTSTRAP_SAMPLES = 1_000_000  # resamples bootstrap_interval accepts (each one reads every score)


def _sequence(name: str, value: object, texts: bool = False) -> None:
    """Raise TypeError unless ``value`` is a sized sequence (of str, with ``texts``; a lone str is not one)."""
    sized = hasattr(value, "__len__") and (isinstance(value, str) or _checks.iterable(value))
    if not sized or (texts and isinstance(value, str)):
        what = "a list of strings (one per item)" if texts else "a sequence (list, tuple)"
        raise TypeError(f"{name} must be {what}, got {type(value).__name__}")
    if texts and not all(isinstance(x, str) for x in value):
        bad = next(x for x in value if not isinstance(x, str))
        raise TypeError(f"{name} must hold strings only, got an item of type {type(bad).__name__}")


def _text(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {type(value).__name__}")
    return value


def _same_length(pred: Sequence, gold: Sequence, texts: bool = False) -> None:
    _sequence("pred", pred, texts)
    _sequence("gold", gold, texts)
    if len(pred) != len(gold):
        raise ValueError(f"predictions and references differ in length: {len(pred)} vs {len(gold)}")
    if not gold:
        raise ValueError("no items to score: predictions and references are empty")


def accuracy(pred: Sequence[Hashable], gold: Sequence[Hashable]) -> float:
    """Fraction of items whose prediction equals the reference."""
    _same_length(pred, gold)
    return sum(p == g for p, g in zip(pred, gold)) / len(gold)


def confusion_matrix(pred: Sequence[Hashable], gold: Sequence[Hashable], labels: Sequence[Hashable]) -> list[list[int]]:
    """Counts ``m[i][j]`` of items with reference ``labels[i]`` predicted as ``labels[j]``."""
    _same_length(pred, gold)
    index = {label: i for i, label in enumerate(labels)}
    unknown = sorted({str(x) for x in (*pred, *gold) if x not in index})
    if unknown:
        raise ValueError(f"labels {unknown[:5]} are not in the label list {list(labels)}")
    m = [[0] * len(labels) for _ in labels]
    for p, g in zip(pred, gold):
        m[index[g]][index[p]] += 1
    return m


def _prf(tp: int, fp: int, fn: int) -> dict[str, float]:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "support": tp + fn}


def per_class_f1(pred: Sequence[Hashable], gold: Sequence[Hashable], labels: Sequence[Hashable]) -> dict:
    """Precision, recall, F1 and support (number of references) for each label."""
    _same_length(pred, gold)
    out = {}
    for label in labels:
        tp = sum(p == label and g == label for p, g in zip(pred, gold))
        fp = sum(p == label and g != label for p, g in zip(pred, gold))
        fn = sum(p != label and g == label for p, g in zip(pred, gold))
        out[label] = _prf(tp, fp, fn)
    return out


def macro_f1(pred: Sequence[Hashable], gold: Sequence[Hashable], labels: Sequence[Hashable]) -> float:
    """Unweighted mean of the per-label F1 scores (every class counts the same, however rare)."""
    scores = per_class_f1(pred, gold, labels)
    return sum(s["f1"] for s in scores.values()) / len(scores)


def bio_spans(tags: Sequence[str]) -> set[tuple[int, int, str]]:
    """Spans (start, end, class) of a BIO tag sequence; an I- tag without its B- starts a span (as conlleval)."""
    spans, start, cls = set(), None, None
    for i, tag in enumerate([*tags, "O"]):
        prefix, _, name = tag.partition("-")
        if prefix not in ("B", "I", "O") or (prefix != "O" and not name):
            raise ValueError(f"tag {tag!r} at position {i} is not a BIO tag (O, B-CLASS or I-CLASS)")
        continues = prefix == "I" and name == cls
        if start is not None and not continues:
            spans.add((start, i, cls))
            start, cls = None, None
        if prefix == "B" or (prefix == "I" and not continues):
            start, cls = i, name
    return spans


def span_f1(pred: Sequence[Sequence[str]], gold: Sequence[Sequence[str]], classes: Sequence[str]) -> dict:
    """Span-level precision, recall and F1 per class and overall ("micro"): a span counts only if exact."""
    _same_length(pred, gold)
    counts = {c: Counter() for c in classes}
    for p_tags, g_tags in zip(pred, gold):
        if len(p_tags) != len(g_tags):
            raise ValueError(f"a predicted tag sequence has {len(p_tags)} tags, its reference {len(g_tags)}")
        p, g = bio_spans(p_tags), bio_spans(g_tags)
        for c in classes:
            pc, gc = {s for s in p if s[2] == c}, {s for s in g if s[2] == c}
            counts[c].update(tp=len(pc & gc), fp=len(pc - gc), fn=len(gc - pc))
    out = {c: _prf(n["tp"], n["fp"], n["fn"]) for c, n in counts.items()}
    total = sum(counts.values(), Counter())
    out["micro"] = _prf(total["tp"], total["fp"], total["fn"])
    return out


def edit_distance(a: Sequence, b: Sequence) -> int:
    """Levenshtein distance: fewest insertions, deletions and substitutions turning ``a`` into ``b``."""
    _sequence("a", a)
    _sequence("b", b)
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


def char_error_rate(pred: Sequence[str], gold: Sequence[str]) -> float:
    """Character edits needed to turn every prediction into its reference, per reference character."""
    _same_length(pred, gold, texts=True)
    chars = sum(len(g) for g in gold)
    if chars == 0:
        raise ValueError("the references are all empty: a character error rate needs reference characters")
    return sum(edit_distance(p, g) for p, g in zip(pred, gold)) / chars


def exact_match(pred: Sequence[str], gold: Sequence[str], normalise: Callable[[str], str] = str.strip) -> float:
    """Fraction of predictions equal to their reference after ``normalise`` (default: strip spaces)."""
    _same_length(pred, gold, texts=True)
    if not callable(normalise):
        raise TypeError(f"normalise must be a function str -> str, got {type(normalise).__name__}")
    return sum(normalise(p) == normalise(g) for p, g in zip(pred, gold)) / len(gold)


def words(text: str) -> list[str]:
    """Lower-cased word tokens (letters, digits, underscore) as ROUGE compares them."""
    return re.findall(r"\w+", _text("text", text).lower())


def _ngrams(tokens: list[str], n: int) -> Counter:
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def rouge_n(pred: str, ref: str, n: int = 1) -> float:
    """ROUGE-N F1 of one prediction: overlap of word n-grams with the reference (Lin, 2004)."""
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"n must be a positive int (1 for unigrams, 2 for bigrams), got {n!r}")
    p, r = _ngrams(words(_text("pred", pred)), n), _ngrams(words(_text("ref", ref)), n)
    overlap = sum((p & r).values())
    if not overlap:
        return 0.0
    precision, recall = overlap / sum(p.values()), overlap / sum(r.values())
    return 2 * precision * recall / (precision + recall)


def _lcs(a: list[str], b: list[str]) -> int:
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b, 1):
            current.append(previous[j - 1] + 1 if x == y else max(previous[j], current[j - 1]))
        previous = current
    return previous[-1]


def rouge_l(pred: str, ref: str) -> float:
    """ROUGE-L F1 of one prediction: the longest common subsequence of words, against the reference."""
    p, r = words(_text("pred", pred)), words(_text("ref", ref))
    lcs = _lcs(p, r)
    if not lcs:
        return 0.0
    precision, recall = lcs / len(p), lcs / len(r)
    return 2 * precision * recall / (precision + recall)


def rouge(pred: Sequence[str], gold: Sequence[str]) -> dict[str, float]:
    """Mean ROUGE-1, ROUGE-2 and ROUGE-L F1 over pairs of predictions and references."""
    _same_length(pred, gold, texts=True)
    return {
        "rouge1": sum(rouge_n(p, g, 1) for p, g in zip(pred, gold)) / len(gold),
        "rouge2": sum(rouge_n(p, g, 2) for p, g in zip(pred, gold)) / len(gold),
        "rougeL": sum(rouge_l(p, g) for p, g in zip(pred, gold)) / len(gold),
    }


def bootstrap_interval(scores: Sequence[float], confidence: float = 0.95, samples: int = 1000,
                       seed: int = 0) -> tuple[float, float]:
    """A percentile bootstrap interval for the mean of per-item ``scores`` (e.g. 1/0 for right/wrong)."""
    _sequence("scores", scores)
    if not len(scores):
        raise ValueError("no scores: a bootstrap interval needs at least one item")
    if not all(isinstance(x, numbers.Real) and math.isfinite(x) for x in scores):
        raise ValueError("scores must be finite numbers (one per item, e.g. 1 for right and 0 for wrong)")
    if isinstance(samples, bool) or not isinstance(samples, numbers.Integral) or not 1 <= samples <= MAX_BOOTSTRAP_SAMPLES:
        raise ValueError(f"samples must be an int in [1, {MAX_BOOTSTRAP_SAMPLES:,}], got {samples!r}")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    if not isinstance(confidence, numbers.Real) or not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be strictly between 0 and 1, got {confidence!r}")
    rng = random.Random(seed)
    n = len(scores)
    means = sorted(sum(scores[rng.randrange(n)] for _ in range(n)) / n for _ in range(samples))
    tail = (1.0 - confidence) / 2
    return means[int(tail * (samples - 1))], means[int(round((1.0 - tail) * (samples - 1)))]
