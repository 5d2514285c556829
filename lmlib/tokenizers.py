"""Tokenizers: text <-> token ids at four granularities (character, byte, word, byte-level BPE).

Chapter 3 (section 3.2, preprocessing) compares them on the same text; chapter 5 uses the byte tokenizer
so that any Unicode prompt, such as the article's "这是一个", can be encoded.

Every tokenizer has ``encode``, ``decode``, ``vocab_size``, ``token_bytes`` and ``save``; ``load`` reads
any of them back. ``decode(encode(s)) == s`` for every string a tokenizer accepts.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, ClassVar, Iterable, Sequence

__all__ = [
    "Tokenizer",
    "CharTokenizer",
    "ByteTokenizer",
    "WordTokenizer",
    "BPETokenizer",
    "PRETOKENIZE_PATTERN",
    "WORD_PATTERN",
    "UNK",
    "load",
    "from_dict",
]

UNK = "<unk>"
FORMAT_VERSION = 1
# Word tokens: runs of letters/digits/underscore, single other symbols, runs of whitespace.
WORD_PATTERN = r"\w+|[^\w\s]|\s+"
# BPE pre-tokenization: merges never cross these chunks (an optional space, then letters or symbols).
PRETOKENIZE_PATTERN = r" ?\w+| ?[^\w\s]+|\s+"


class Tokenizer:
    """Common interface: ``encode``, ``decode``, ``vocab_size``, ``token_bytes``, ``save``."""

    kind: ClassVar[str] = ""

    @property
    def vocab_size(self) -> int:
        """Number of distinct token ids: ids run from 0 to ``vocab_size - 1``."""
        raise NotImplementedError

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text``."""
        raise NotImplementedError

    def token_bytes(self, token_id: int) -> bytes:
        """The UTF-8 bytes one token stands for (used to decode and to stream text)."""
        raise NotImplementedError

    def decode(self, ids: Iterable[int]) -> str:
        """Text of a sequence of token ids (invalid UTF-8 becomes U+FFFD)."""
        return b"".join(self.token_bytes(i) for i in self._checked_ids(ids)).decode("utf-8", errors="replace")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable description from which ``from_dict`` rebuilds this tokenizer."""
        raise NotImplementedError

    def save(self, path: str | os.PathLike) -> None:
        """Write the tokenizer as JSON to ``path``."""
        Path(path).write_text(json.dumps(self.to_dict(), ensure_ascii=False), encoding="utf-8")

    def _checked_ids(self, ids: Iterable[int]) -> list[int]:
        if hasattr(ids, "tolist"):
            ids = ids.tolist()
        out = []
        for pos, i in enumerate(ids):
            if isinstance(i, bool) or not isinstance(i, int):
                raise ValueError(f"token id at position {pos} is {i!r}; ids must be ints")
            if not 0 <= i < self.vocab_size:
                raise ValueError(
                    f"token id {i} at position {pos} is outside the vocabulary (0..{self.vocab_size - 1})"
                )
            out.append(i)
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}(vocab_size={self.vocab_size})"


def _check_text(text: Any) -> str:
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    return text


class CharTokenizer(Tokenizer):
    """One token per Unicode character seen in the training text (optionally plus ``<unk>``)."""

    kind = "char"

    def __init__(self, chars: Sequence[str], unk: bool = False):
        chars = list(chars)
        if any(not isinstance(c, str) or len(c) != 1 for c in chars):
            raise ValueError("chars must be single characters")
        if len(set(chars)) != len(chars):
            raise ValueError("chars must not repeat")
        self.chars = chars
        self.unk = unk
        self._index = {c: i for i, c in enumerate(chars)}
        self.unk_id = len(chars) if unk else None

    @classmethod
    def fit(cls, text: str, unk: bool = False) -> "CharTokenizer":
        """A vocabulary of the distinct characters of ``text``, sorted; ``unk=True`` adds ``<unk>``."""
        text = _check_text(text)
        if not text:
            raise ValueError("cannot fit a tokenizer on empty text")
        return cls(sorted(set(text)), unk=unk)

    @property
    def vocab_size(self) -> int:
        return len(self.chars) + (1 if self.unk else 0)

    def encode(self, text: str) -> list[int]:
        text = _check_text(text)
        index = self._index
        try:
            return [index[c] for c in text]
        except KeyError:
            pass
        out = []
        for pos, c in enumerate(text):
            i = index.get(c)
            if i is None:
                if self.unk_id is None:
                    raise ValueError(
                        f"character {c!r} (U+{ord(c):04X}) at position {pos} is not in the vocabulary of "
                        f"{len(self.chars)} characters; fit on text that contains it, or use "
                        "CharTokenizer.fit(text, unk=True) to map unseen characters to <unk>"
                    ) from None
                i = self.unk_id
            out.append(i)
        return out

    def decode(self, ids: Iterable[int]) -> str:
        chars, unk_id = self.chars, self.unk_id
        return "".join(UNK if i == unk_id else chars[i] for i in self._checked_ids(ids))

    def token_bytes(self, token_id: int) -> bytes:
        return (UNK if token_id == self.unk_id else self.chars[token_id]).encode("utf-8")

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "version": FORMAT_VERSION, "chars": self.chars, "unk": self.unk}


class ByteTokenizer(Tokenizer):
    """One token per UTF-8 byte: 256 ids, and every string is encodable."""

    kind = "byte"

    @property
    def vocab_size(self) -> int:
        return 256

    def encode(self, text: str) -> list[int]:
        return list(_check_text(text).encode("utf-8"))

    def token_bytes(self, token_id: int) -> bytes:
        return bytes((token_id,))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "version": FORMAT_VERSION}


class WordTokenizer(Tokenizer):
    """One token per word, symbol or whitespace run seen in the training text (``WORD_PATTERN``)."""

    kind = "word"

    def __init__(self, words: Sequence[str], unk: bool = False):
        words = list(words)
        if len(set(words)) != len(words):
            raise ValueError("words must not repeat")
        self.words = words
        self.unk = unk
        self._index = {w: i for i, w in enumerate(words)}
        self.unk_id = len(words) if unk else None

    @classmethod
    def fit(cls, text: str, max_vocab: int | None = None, unk: bool = False) -> "WordTokenizer":
        """Vocabulary of the words of ``text``, most frequent first (ties alphabetical), at most ``max_vocab``."""
        text = _check_text(text)
        if not text:
            raise ValueError("cannot fit a tokenizer on empty text")
        if max_vocab is not None and max_vocab < 1:
            raise ValueError(f"max_vocab must be at least 1, got {max_vocab}")
        counts = Counter(re.findall(WORD_PATTERN, text))
        words = sorted(counts, key=lambda w: (-counts[w], w))
        if max_vocab is not None:
            words = words[:max_vocab]
        return cls(words, unk=unk)

    @property
    def vocab_size(self) -> int:
        return len(self.words) + (1 if self.unk else 0)

    def encode(self, text: str) -> list[int]:
        text = _check_text(text)
        out = []
        for match in re.finditer(WORD_PATTERN, text):
            i = self._index.get(match.group())
            if i is None:
                if self.unk_id is None:
                    raise ValueError(
                        f"word {match.group()!r} at position {match.start()} is not in the vocabulary of "
                        f"{len(self.words)} words; use WordTokenizer.fit(text, unk=True) to map unseen "
                        "words to <unk>"
                    )
                i = self.unk_id
            out.append(i)
        return out

    def token_bytes(self, token_id: int) -> bytes:
        return (UNK if token_id == self.unk_id else self.words[token_id]).encode("utf-8")

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "version": FORMAT_VERSION, "words": self.words, "unk": self.unk}


def _merge_word(word: tuple[int, ...], pair: tuple[int, int], new_id: int) -> tuple[int, ...]:
    out = []
    i = 0
    n = len(word)
    while i < n:
        if i < n - 1 and word[i] == pair[0] and word[i + 1] == pair[1]:
            out.append(new_id)
            i += 2
        else:
            out.append(word[i])
            i += 1
    return tuple(out)


def _pairs(word: tuple[int, ...]) -> Iterable[tuple[int, int]]:
    return zip(word, word[1:])


class BPETokenizer(Tokenizer):
    """Byte-level byte-pair encoding: 256 byte tokens plus one token per learned merge."""

    kind = "bpe"

    def __init__(self, merges: Sequence[tuple[int, int]], pattern: str = PRETOKENIZE_PATTERN):
        self.merges = [tuple(m) for m in merges]
        self.pattern = pattern
        self._regex = re.compile(pattern)
        self._vocab = [bytes((b,)) for b in range(256)]
        self._rank: dict[tuple[int, int], int] = {}
        for rank, (a, b) in enumerate(self.merges):
            if not (0 <= a < len(self._vocab) and 0 <= b < len(self._vocab)):
                raise ValueError(f"merge {rank} ({a}, {b}) refers to a token that does not exist yet")
            self._rank[(a, b)] = rank
            self._vocab.append(self._vocab[a] + self._vocab[b])
        self._cache: dict[str, list[int]] = {}

    @classmethod
    def fit(
        cls, text: str, vocab_size: int = 512, pattern: str = PRETOKENIZE_PATTERN, verbose: bool = False
    ) -> "BPETokenizer":
        """Learn ``vocab_size - 256`` merges from ``text``: always merge the most frequent adjacent pair.

        Ties go to the smallest pair of ids, so training is deterministic. Merges never cross the chunks
        of ``pattern``. Stops early when no pair occurs twice.
        """
        text = _check_text(text)
        if vocab_size < 256:
            raise ValueError(f"vocab_size must be at least 256 (the byte alphabet), got {vocab_size}")
        chunk_counts = Counter(re.findall(pattern, text))
        words = [tuple(chunk.encode("utf-8")) for chunk in chunk_counts]
        freqs = list(chunk_counts.values())
        pair_counts: Counter = Counter()
        where: dict[tuple[int, int], set[int]] = defaultdict(set)
        for w, (word, f) in enumerate(zip(words, freqs)):
            for pair in _pairs(word):
                pair_counts[pair] += f
                where[pair].add(w)
        merges: list[tuple[int, int]] = []
        for new_id in range(256, vocab_size):
            if not pair_counts:
                break
            best = min(pair_counts.items(), key=lambda kv: (-kv[1], kv[0]))
            pair, count = best
            if count < 2:
                break
            merges.append(pair)
            if verbose:
                print(f"merge {len(merges):4d}: {pair} -> {new_id} (count {count})")
            for w in list(where[pair]):
                old, f = words[w], freqs[w]
                new = _merge_word(old, pair, new_id)
                for p in _pairs(old):
                    pair_counts[p] -= f
                    if pair_counts[p] <= 0:
                        del pair_counts[p]
                for p in _pairs(new):
                    pair_counts[p] += f
                for p in set(_pairs(old)) - set(_pairs(new)):
                    where[p].discard(w)
                for p in _pairs(new):
                    where[p].add(w)
                words[w] = new
            pair_counts.pop(pair, None)
            where.pop(pair, None)
        return cls(merges, pattern=pattern)

    @property
    def vocab_size(self) -> int:
        return len(self._vocab)

    def _encode_chunk(self, chunk: str) -> list[int]:
        cached = self._cache.get(chunk)
        if cached is not None:
            return cached
        word = list(chunk.encode("utf-8"))
        rank = self._rank
        while len(word) > 1:
            best = min(
                ((rank[p], i) for i, p in enumerate(zip(word, word[1:])) if p in rank), default=None
            )
            if best is None:
                break
            r, _ = best
            a, b = self.merges[r]
            new_id = 256 + r
            merged, i = [], 0
            while i < len(word):
                if i < len(word) - 1 and word[i] == a and word[i + 1] == b:
                    merged.append(new_id)
                    i += 2
                else:
                    merged.append(word[i])
                    i += 1
            word = merged
        if len(self._cache) < 100_000:
            self._cache[chunk] = word
        return word

    def encode(self, text: str) -> list[int]:
        text = _check_text(text)
        out: list[int] = []
        pos = 0
        for match in self._regex.finditer(text):
            if match.start() != pos:  # text the pattern skipped: encode it as its own chunk
                out.extend(self._encode_chunk(text[pos : match.start()]))
            out.extend(self._encode_chunk(match.group()))
            pos = match.end()
        if pos != len(text):
            out.extend(self._encode_chunk(text[pos:]))
        return out

    def token_bytes(self, token_id: int) -> bytes:
        return self._vocab[token_id]

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "version": FORMAT_VERSION,
            "pattern": self.pattern,
            "merges": [list(m) for m in self.merges],
        }


_KINDS: dict[str, type[Tokenizer]] = {
    cls.kind: cls for cls in (CharTokenizer, ByteTokenizer, WordTokenizer, BPETokenizer)
}


def from_dict(spec: dict[str, Any]) -> Tokenizer:
    """Rebuild a tokenizer from the dictionary its ``to_dict`` returned."""
    if not isinstance(spec, dict) or spec.get("kind") not in _KINDS:
        kind = spec.get("kind") if isinstance(spec, dict) else None
        raise ValueError(f"not a tokenizer description: kind is {kind!r}, expected one of {sorted(_KINDS)}")
    if spec.get("version", FORMAT_VERSION) > FORMAT_VERSION:
        raise ValueError(f"tokenizer format version {spec['version']} is newer than this lmlib understands")
    kind = spec["kind"]
    try:
        if kind == "char":
            return CharTokenizer(spec["chars"], unk=spec.get("unk", False))
        if kind == "byte":
            return ByteTokenizer()
        if kind == "word":
            return WordTokenizer(spec["words"], unk=spec.get("unk", False))
        return BPETokenizer([tuple(m) for m in spec["merges"]], pattern=spec.get("pattern", PRETOKENIZE_PATTERN))
    except (KeyError, TypeError) as err:
        raise ValueError(f"damaged {kind} tokenizer description: {err!r}") from err


def load(path: str | os.PathLike) -> Tokenizer:
    """Read a tokenizer that ``Tokenizer.save`` wrote."""
    try:
        spec = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not a tokenizer file (invalid JSON: {err})") from err
    return from_dict(spec)
