"""Retrieval-based question answering over Python's reference manual (chapter 6.2).

* ``manual_passages()``: the manual (``pydoc_data.topics``, in the edition every Python reads:
  ``data.python_docs_topics``) cut into passages: every method entry such as ``str.strip([chars])`` with
  its description, and the first paragraph of every section.
* ``method_questions()``: questions with known answers, written by other people than the manual's
  authors: the docstring summary of each ``str`` method (from CPython's C source), e.g. "Return a copy
  of the string with leading and trailing whitespace removed." The answer is the method, ``str.strip``,
  whose manual entry says the same thing in other words.
* ``BM25``: the classic lexical ranking function (Robertson and Zaragoza, 2009); ``dense_ranking``:
  cosine similarity of embedding vectors (e.g. ``adapt.features`` of the base model).
* ``top_k_accuracy``, ``answer_from``: scoring a ranking, and reading the answer off a passage.
"""

from __future__ import annotations

import builtins
import math
import re
from collections import Counter
from dataclasses import dataclass
from typing import Sequence

import torch

from . import _checks

__all__ = ["Passage", "manual_passages", "Question", "method_questions", "terms", "BM25", "dense_ranking",
           "top_k_accuracy", "answer_from", "STOPWORDS"]

_ENTRY = re.compile(r"^(?P<head>(?P<owner>[a-z]+)\.(?P<name>\w+)\([^)\n]*\))\n\n(?P<body>(?:   .*\n|[ \t]*\n)+)", re.M)
_HEADING = re.compile(r"^(?P<title>[^\n]+)\n(?P<line>[*=\-~^]+)\n\n(?P<para>(?:[^\n]+\n)+)", re.M)


@dataclass(frozen=True)
class Passage:
    """A retrievable unit of the manual: its id (``str.strip`` for an entry, the heading for a section)."""

    key: str
    text: str


def manual_passages() -> list[Passage]:
    """Every method entry and the first paragraph of every section of the manual, each once, by key."""
    from .data import python_docs_topics

    topics = python_docs_topics()  # the edition every Python reads (lmlib.data)
    found: dict[str, Passage] = {}
    for name in sorted(topics):
        text = topics[name]
        for m in _ENTRY.finditer(text):
            key = f"{m['owner']}.{m['name']}"
            body = re.sub(r"\s+", " ", m["body"]).strip()
            found.setdefault(key, Passage(key, f"{m['head']}: {body}"))
        for m in _HEADING.finditer(text):
            if len(m["line"]) == len(m["title"]):
                found.setdefault(m["title"], Passage(m["title"], re.sub(r"\s+", " ", m["para"]).strip()))
    return [found[k] for k in sorted(found)]


@dataclass(frozen=True)
class Question:
    """A question (a docstring summary, the method's name masked) and the key of the passage answering it."""

    text: str
    answer: str


def _summary(doc: str) -> str:
    for line in doc.strip().splitlines():
        line = line.strip()
        if line and not re.match(r"^[A-Z]\.\w+\(.*\)( ->.*)?$", line):  # skip "S.find(sub[, start]) -> int"
            return line
    return ""


def method_questions(owner: str = "str") -> list[Question]:
    """One question per method of ``owner`` that has both a docstring and a manual entry, sorted."""
    typ = getattr(builtins, owner, None)
    if not isinstance(typ, type):
        raise ValueError(f"owner must name a built-in type such as 'str', got {owner!r}")
    keys = {p.key for p in manual_passages()}
    out = []
    for name in sorted(vars(typ)):
        doc = getattr(getattr(typ, name), "__doc__", None)
        key = f"{owner}.{name}"
        if name.startswith("_") or key not in keys or not doc:
            continue
        text = re.sub(rf"\b{re.escape(name)}\b", "this method", _summary(doc))
        if text:
            out.append(Question(text, key))
    return out


STOPWORDS = frozenset("a an and are as at be by for from if in into is it its of on or that the then this to with".split())


def terms(text: str) -> list[str]:
    """Lower-cased words without stopwords: what BM25 matches on."""
    return [w for w in re.findall(r"[a-z0-9_]+", _checks.text("text", text).lower()) if w not in STOPWORDS]


class BM25:
    """Okapi BM25 over a fixed list of documents: score(q, d) = sum over query terms t of
    idf(t) * f(t, d) (k1 + 1) / (f(t, d) + k1 (1 - b + b |d| / avgdl))."""

    def __init__(self, documents: Sequence[str], k1: float = 1.5, b: float = 0.75):
        documents = _checks.texts("documents", documents, empty=True)
        if not documents:
            raise ValueError("BM25 needs at least one document")
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (k1, b)) \
                or not 0 <= k1 < math.inf or not 0.0 <= b <= 1.0:
            raise ValueError(f"need k1 >= 0 and 0 <= b <= 1, got k1={k1!r}, b={b!r}")
        self.k1, self.b = k1, b
        self.docs = [Counter(terms(d)) for d in documents]
        self.lengths = [sum(c.values()) for c in self.docs]
        self.avgdl = sum(self.lengths) / len(self.docs) or 1.0
        df = Counter(t for c in self.docs for t in c)
        n = len(self.docs)
        self.idf = {t: math.log(1 + (n - k + 0.5) / (k + 0.5)) for t, k in df.items()}

    def scores(self, query: str) -> list[float]:
        """The BM25 score of every document for ``query``."""
        out = []
        for counts, length in zip(self.docs, self.lengths):
            s = 0.0
            for t in terms(query):
                f = counts.get(t, 0)
                if f:
                    s += self.idf[t] * f * (self.k1 + 1) / (f + self.k1 * (1 - self.b + self.b * length / self.avgdl))
            out.append(s)
        return out

    def rank(self, query: str, k: int | None = None) -> list[int]:
        """Document indices, best first (ties by index); the first ``k`` if given."""
        s = self.scores(query)
        if k is not None:
            _checks.count("k", k)
        order = sorted(range(len(s)), key=lambda i: (-s[i], i))
        return order[:k] if k else order


def dense_ranking(queries: torch.Tensor, documents: torch.Tensor, k: int | None = None) -> list[list[int]]:
    """For each query vector, document indices by cosine similarity of the vectors, best first."""
    if not isinstance(queries, torch.Tensor) or not isinstance(documents, torch.Tensor):
        raise ValueError(f"queries and documents must be tensors (Q, D) and (N, D), got "
                         f"{type(queries).__name__} and {type(documents).__name__}")
    if k is not None:
        _checks.count("k", k)
    if queries.dim() != 2 or documents.dim() != 2 or queries.shape[1] != documents.shape[1]:
        raise ValueError(f"need (Q, D) queries and (N, D) documents, got {tuple(queries.shape)} and {tuple(documents.shape)}")
    sim = torch.nn.functional.normalize(queries.float(), dim=1) @ torch.nn.functional.normalize(documents.float(), dim=1).T
    order = sim.argsort(dim=1, descending=True, stable=True)
    return [row[:k].tolist() if k else row.tolist() for row in order]


def top_k_accuracy(rankings: Sequence[Sequence[int]], gold: Sequence[int], k: int) -> float:
    """Fraction of queries whose gold document is among the first ``k`` of its ranking."""
    _checks.count("k", k)
    if len(rankings) != len(gold) or not gold:
        raise ValueError(f"need one ranking per gold answer, at least one (got {len(rankings)} and {len(gold)})")
    return sum(g in list(r)[:k] for r, g in zip(rankings, gold)) / len(gold)


def answer_from(passage: Passage) -> str:
    """The answer a passage gives: the method its entry describes (e.g. ``str.strip``), or "" if none."""
    m = re.match(r"^([a-z]+\.\w+)\(", passage.text)
    return m.group(1) if m else ""
