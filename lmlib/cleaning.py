"""Cleaning training text: exact and near-duplicate removal, and simple quality filters.

Appendix A (question 9.7, how training data is collected and processed) measures each step on the default
corpus; chapter 8 (notebook 8d) uses ``dedup_lines`` as a privacy mitigation: a secret repeated in the
training text is memorised far more than one seen once (Kandpal et al., 2022).

* ``dedup_lines`` drops repeated lines (keeping the first), ``dedup_paragraphs`` repeated paragraphs;
* ``near_duplicates`` finds pairs of paragraphs whose sets of character n-grams overlap (Jaccard
  similarity) above a threshold, with MinHash signatures and banding (Broder, 1997) so that not every pair
  has to be compared;
* ``FILTERS`` are heuristic quality rules of the kind web-scale pipelines use (Rae et al., 2021);
  ``apply_filters`` reports what each one removes.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

__all__ = ["DedupStats", "dedup_lines", "paragraphs", "dedup_paragraphs", "shingles", "jaccard",
           "minhash_signatures", "near_duplicates", "FILTERS", "apply_filters"]


@dataclass
class DedupStats:
    """What a deduplication pass removed."""

    units: int  # lines or paragraphs looked at
    removed: int  # of them, how many were dropped as repeats
    chars_before: int
    chars_after: int
    most_repeated: list[tuple[str, int]] = field(default_factory=list)  # the most frequent repeats, with counts

    @property
    def removed_fraction(self) -> float:
        """Share of the characters removed."""
        return 1 - self.chars_after / self.chars_before if self.chars_before else 0.0


def _dedup(units: Sequence[str], key: Callable[[str], str], skip: Callable[[str], bool]) -> tuple[list[int], dict]:
    seen: dict[str, int] = {}
    keep = []
    for i, unit in enumerate(units):
        if skip(unit):
            keep.append(i)
            continue
        k = key(unit)
        seen[k] = seen.get(k, 0) + 1
        if seen[k] == 1:
            keep.append(i)
    return keep, seen


def dedup_lines(text: str, min_chars: int = 1, normalise: bool = False) -> tuple[str, DedupStats]:
    """``text`` with every line that repeats an earlier one removed; lines shorter than ``min_chars``
    (after stripping, e.g. blank lines) are always kept. ``normalise`` compares lines stripped and lower-cased.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    if isinstance(min_chars, bool) or not isinstance(min_chars, int) or min_chars < 1:
        raise ValueError(f"min_chars must be a positive int, got {min_chars!r}")
    lines = text.splitlines(keepends=True)
    key = (lambda s: s.strip().lower()) if normalise else (lambda s: s.rstrip("\n"))
    keep, seen = _dedup(lines, key, lambda s: len(s.strip()) < min_chars)
    out = "".join(lines[i] for i in keep)
    top = sorted(((k, c) for k, c in seen.items() if c > 1), key=lambda kc: (-kc[1], kc[0]))[:10]
    return out, DedupStats(len(lines), len(lines) - len(keep), len(text), len(out), top)


def paragraphs(text: str) -> list[str]:
    """The paragraphs of ``text``: blocks separated by one or more blank lines (without the blank lines)."""
    return [p for p in re.split(r"\n(?:[ \t]*\n)+", text) if p.strip()]


def dedup_paragraphs(text: str) -> tuple[list[str], DedupStats]:
    """The paragraphs of ``text`` with exact repeats (ignoring surrounding whitespace) removed."""
    paras = paragraphs(text)
    keep, seen = _dedup(paras, lambda s: s.strip(), lambda s: False)
    out = [paras[i] for i in keep]
    top = sorted(((k, c) for k, c in seen.items() if c > 1), key=lambda kc: (-kc[1], kc[0]))[:10]
    before = sum(len(p) for p in paras)
    return out, DedupStats(len(paras), len(paras) - len(keep), before, sum(len(p) for p in out), top)


def shingles(text: str, n: int = 5) -> set[str]:
    """The set of character ``n``-grams of ``text`` with runs of whitespace collapsed (a short text: itself)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    t = re.sub(r"\s+", " ", text.strip())
    return {t[i:i + n] for i in range(max(1, len(t) - n + 1))}


def jaccard(a: str, b: str, n: int = 5) -> float:
    """|A & B| / |A | B| of the two texts' character n-gram sets."""
    sa, sb = shingles(a, n), shingles(b, n)
    return len(sa & sb) / len(sa | sb) if sa | sb else 1.0


_PRIME = (1 << 61) - 1


def _hash64(s: str) -> int:
    return int.from_bytes(hashlib.blake2b(s.encode("utf-8"), digest_size=8).digest(), "little") % _PRIME


def minhash_signatures(docs: Sequence[str], num_perm: int = 64, n: int = 5, seed: int = 0) -> np.ndarray:
    """MinHash signatures (len(docs), num_perm): two rows agree in a column with probability = their Jaccard."""
    if isinstance(num_perm, bool) or not isinstance(num_perm, int) or num_perm < 1:
        raise ValueError(f"num_perm must be a positive int, got {num_perm!r}")
    rng = np.random.default_rng(seed)
    a = rng.integers(1, 1 << 31, size=num_perm, dtype=np.uint64)
    b = rng.integers(0, 1 << 31, size=num_perm, dtype=np.uint64)
    out = np.empty((len(docs), num_perm), dtype=np.uint64)
    for i, doc in enumerate(docs):
        x = np.fromiter((_hash64(s) for s in shingles(doc, n)), dtype=np.uint64)
        x = x % np.uint64(1 << 31)  # keep a*x + b inside 64 bits
        out[i] = ((x[:, None] * a[None, :] + b[None, :]) % np.uint64((1 << 31) - 1)).min(axis=0)
    return out


def near_duplicates(docs: Sequence[str], threshold: float = 0.8, num_perm: int = 64, bands: int = 16,
                    n: int = 5, seed: int = 0) -> list[tuple[int, int, float]]:
    """Pairs (i, j, jaccard) of distinct, non-identical docs whose n-gram Jaccard similarity >= ``threshold``.

    Candidate pairs share a whole band of their MinHash signature (``bands`` bands of ``num_perm // bands``
    rows); each candidate is then verified with its exact Jaccard similarity.
    """
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must be in (0, 1], got {threshold!r}")
    if isinstance(bands, bool) or not isinstance(bands, int) or bands < 1 or num_perm % bands:
        raise ValueError(f"bands must be a positive int dividing num_perm ({num_perm}), got {bands!r}")
    sig = minhash_signatures(docs, num_perm, n, seed)
    rows = num_perm // bands
    candidates: set[tuple[int, int]] = set()
    for band in range(bands):
        buckets: dict[bytes, list[int]] = defaultdict(list)
        for i in range(len(docs)):
            buckets[sig[i, band * rows:(band + 1) * rows].tobytes()].append(i)
        for members in buckets.values():
            for x in range(len(members)):
                for y in range(x + 1, len(members)):
                    candidates.add((members[x], members[y]))
    found = []
    for i, j in sorted(candidates):
        if docs[i].strip() == docs[j].strip():
            continue
        sim = jaccard(docs[i], docs[j], n)
        if sim >= threshold:
            found.append((i, j, round(sim, 4)))
    return found


# ---- Quality filters (each returns True when a paragraph should be removed) ---------------------------

def _words(p: str) -> list[str]:
    return re.findall(r"[A-Za-z]+", p)


FILTERS: dict[str, Callable[[str], bool]] = {
    "fewer than 5 words": lambda p: len(_words(p)) < 5,
    "under 60% letters and spaces": lambda p: sum(c.isalpha() or c.isspace() for c in p) < 0.6 * len(p),
    "mean word length outside 3-10": lambda p: not 3 <= (sum(map(len, _words(p))) / max(len(_words(p)), 1)) <= 10,
    "over 10% '#', '{', '}' or '...'": lambda p: (p.count("#") + p.count("{") + p.count("}") + 3 * p.count("...")) > 0.1 * len(p),
}


def apply_filters(paras: Sequence[str], filters: dict[str, Callable[[str], bool]] | None = None
                  ) -> tuple[list[str], dict[str, int]]:
    """The paragraphs no filter rejects, and how many each filter rejected (first matching filter counts)."""
    filters = FILTERS if filters is None else filters
    counts = {name: 0 for name in filters}
    kept = []
    for p in paras:
        for name, rule in filters.items():
            if rule(p):
                counts[name] += 1
                break
        else:
            kept.append(p)
    return kept, counts
