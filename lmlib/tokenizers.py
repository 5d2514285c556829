"""Tokenizers: text <-> token ids at four granularities (character, byte, word, byte-level BPE).

Chapter 3 (section 3.2, preprocessing) compares them on the same text; chapter 5 uses the byte tokenizer
so that any Unicode prompt, such as the article's "这是一个", can be encoded.

Every tokenizer has ``encode``, ``decode``, ``vocab_size``, ``token_bytes`` and ``save``; ``load`` reads
any of them back. ``decode(encode(s)) == s`` for every string a tokenizer accepts.
"""

from __future__ import annotations

import json
import numbers
import os
import re
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, ClassVar, Iterable, Sequence

from . import _checks

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
_SURROGATE = re.compile("[\ud800-\udfff]")  # lone surrogates: in a Python str, but not Unicode text


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
        if isinstance(ids, (str, bytes)) or not hasattr(ids, "__iter__"):
            raise TypeError(f"ids must be a sequence of token ids (ints), got {type(ids).__name__}")
        out = []
        for pos, i in enumerate(ids):
            if isinstance(i, bool) or not isinstance(i, numbers.Integral):
                raise ValueError(f"token id at position {pos} is {i!r}; ids must be ints")
            if not 0 <= i < self.vocab_size:
                raise ValueError(
                    f"token id {i} at position {pos} is outside the vocabulary (0..{self.vocab_size - 1})"
                )
            out.append(int(i))
        return out

    def _checked_id(self, token_id: Any) -> int:
        if isinstance(token_id, bool) or not isinstance(token_id, numbers.Integral):
            raise TypeError(f"token_id must be an int, got {type(token_id).__name__}")
        if not 0 <= token_id < self.vocab_size:
            raise ValueError(f"token_id {token_id} is outside the vocabulary (0..{self.vocab_size - 1})")
        return int(token_id)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(vocab_size={self.vocab_size})"


def _check_text(text: Any) -> str:
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    bad = _SURROGATE.search(text)
    if bad:
        raise ValueError(
            f"text contains a lone surrogate {bad.group()!r} (U+{ord(bad.group()):04X}) at position {bad.start()}; "
            "only valid Unicode text (text that can be written as UTF-8) can be tokenized"
        )
    return text


def _check_flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return value


def _check_tokens(name: str, items: Any, single_chars: bool) -> list[str]:
    """A list of distinct, non-empty strings (single characters if ``single_chars``) of valid Unicode."""
    if isinstance(items, (bytes, dict)) or not (isinstance(items, str) or _checks.iterable(items)):
        raise TypeError(f"{name} must be a sequence of strings, got {type(items).__name__}")
    items = list(items)
    for pos, item in enumerate(items):
        if not isinstance(item, str) or (len(item) != 1 if single_chars else not item):
            what = "single characters" if single_chars else "non-empty strings"
            raise ValueError(f"{name} must be {what}; item {pos} is {item!r}")
        if _SURROGATE.search(item):
            raise ValueError(f"{name} must be valid Unicode text; item {pos} ({item!r}) holds a lone surrogate")
    if len(set(items)) != len(items):
        raise ValueError(f"{name} must not repeat")
    return items


class CharTokenizer(Tokenizer):
    """One token per Unicode character seen in the training text (optionally plus ``<unk>``)."""

    kind = "char"

    def __init__(self, chars: Sequence[str], unk: bool = False):
        chars = _check_tokens("chars", chars, single_chars=True)
        self.chars = chars
        self.unk = _check_flag("unk", unk)
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
        token_id = self._checked_id(token_id)
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
        return bytes((self._checked_id(token_id),))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "version": FORMAT_VERSION}


class WordTokenizer(Tokenizer):
    """One token per word, symbol or whitespace run seen in the training text (``WORD_PATTERN``)."""

    kind = "word"

    def __init__(self, words: Sequence[str], unk: bool = False):
        words = _check_tokens("words", words, single_chars=False)
        self.words = words
        self.unk = _check_flag("unk", unk)
        self._index = {w: i for i, w in enumerate(words)}
        self.unk_id = len(words) if unk else None

    @classmethod
    def fit(cls, text: str, max_vocab: int | None = None, unk: bool = False) -> "WordTokenizer":
        """Vocabulary of the words of ``text``, most frequent first (ties alphabetical), at most ``max_vocab``."""
        text = _check_text(text)
        if not text:
            raise ValueError("cannot fit a tokenizer on empty text")
        if max_vocab is not None and (isinstance(max_vocab, bool) or not isinstance(max_vocab, numbers.Integral)
                                      or max_vocab < 1):
            raise ValueError(f"max_vocab must be an int >= 1 or None, got {max_vocab!r}")
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
        token_id = self._checked_id(token_id)
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


def _check_merge(rank: int, merge: Any) -> tuple[int, int]:
    if (isinstance(merge, (str, bytes)) or not hasattr(merge, "__len__") or len(merge) != 2
            or any(isinstance(i, bool) or not isinstance(i, numbers.Integral) for i in merge)):
        raise ValueError(f"merges must be pairs of token ids (ints); merge {rank} is {merge!r}")
    return (int(merge[0]), int(merge[1]))


def _compile_pattern(pattern: Any) -> re.Pattern:
    if not isinstance(pattern, str):
        raise TypeError(f"pattern must be a regular expression (str), got {type(pattern).__name__}")
    try:
        return re.compile(pattern)
    except re.error as err:
        raise ValueError(f"pattern {pattern!r} is not a valid regular expression: {err}") from None


class BPETokenizer(Tokenizer):
    """Byte-level byte-pair encoding: 256 byte tokens plus one token per learned merge."""

    kind = "bpe"

    def __init__(self, merges: Sequence[tuple[int, int]], pattern: str = PRETOKENIZE_PATTERN):
        if isinstance(merges, dict) or not _checks.iterable(merges):
            raise TypeError(f"merges must be a sequence of (int, int) pairs, got {type(merges).__name__}")
        self.merges = [_check_merge(rank, m) for rank, m in enumerate(merges)]
        self.pattern = pattern
        self._regex = _compile_pattern(pattern)
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
        if isinstance(vocab_size, bool) or not isinstance(vocab_size, numbers.Integral) or vocab_size < 256:
            raise ValueError(f"vocab_size must be an int, at least 256 (the byte alphabet), got {vocab_size!r}")
        chunk_counts = Counter(_compile_pattern(pattern).findall(text))
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
        return self._vocab[self._checked_id(token_id)]

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
    kind = spec.get("kind") if isinstance(spec, dict) else None
    if not isinstance(kind, str) or kind not in _KINDS:
        raise ValueError(f"not a tokenizer description: kind is {kind!r}, expected one of {sorted(_KINDS)}")
    version = spec.get("version", FORMAT_VERSION)
    if isinstance(version, bool) or not isinstance(version, int):
        raise ValueError(f"damaged {kind} tokenizer description: version is {version!r}, expected an int")
    if version > FORMAT_VERSION:
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
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as err:
        raise ValueError(f"{path} is not a tokenizer file (not UTF-8 JSON: {type(err).__name__})") from None
    return from_dict(spec)
