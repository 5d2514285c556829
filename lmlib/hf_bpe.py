"""lmlib's byte-level BPE beside the HuggingFace ``tokenizers`` library, trained the same way.

Chapter 3 (section 3.2, preprocessing) uses these functions to check ``lmlib.tokenizers.BPETokenizer`` against
``tokenizers`` (the Rust library behind most released LLM tokenizers); ``tests/test_bpe_vs_tokenizers.py``
runs the same checks. The library is optional: ``pip install tokenizers``.

Both learn merges the same way (most frequent adjacent pair first, within the chunks of
``PRETOKENIZE_PATTERN``, at least two occurrences). They differ in how ties are broken: lmlib takes the
smallest pair of ids, where a byte's id is its value; the library also takes the smallest pair of ids, but
its ids for single bytes come from sorting the *characters* that stand for the bytes. Two alphabets:

* ``"gpt2"``: GPT-2's byte-level alphabet (``pre_tokenizers.ByteLevel``), which gives the printable bytes
  their own character and moves the others (space, newline, ...) to U+0100 and above. Sorted, the space
  comes after the letters, so ties involving a space can go the other way. The merges come in a slightly
  different order; mostly the same set, but a different choice at a tie can change later counts, and
  then now and then a merge.
* ``"bytes"``: byte ``b`` stands for the character U+0100 + b, so sorting characters sorts bytes. Ties
  break as in lmlib, and the merge lists are identical.

One more difference, in splitting: the library's regex engine counts combining marks (U+0301) and
connector punctuation (U+203F) as word characters (``\\w``) and Python's ``re`` does not, so on text with
them the ``"gpt2"`` variant cuts chunks differently. The ``"bytes"`` variant splits with Python's ``re``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Sequence

from .tokenizers import PRETOKENIZE_PATTERN, BPETokenizer

__all__ = [
    "ALPHABETS",
    "gpt2_bytes_to_unicode",
    "HFBPE",
    "train_hf_bpe",
    "lmlib_merges",
    "MergeComparison",
    "compare_merges",
]

ALPHABETS = ("gpt2", "bytes")
_BYTES_OFFSET = 0x100  # the "bytes" alphabet: byte b <-> chr(0x100 + b), no whitespace among them


def _hf() -> Any:
    try:
        import tokenizers as hf  # the HuggingFace library (absolute import, not lmlib.tokenizers)
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("this comparison needs the HuggingFace tokenizers library: pip install tokenizers") from err
    return hf


def _check_alphabet(alphabet: str) -> None:
    if alphabet not in ALPHABETS:
        raise ValueError(f"alphabet must be one of {ALPHABETS}, got {alphabet!r}")


def gpt2_bytes_to_unicode() -> dict[int, str]:
    """GPT-2's printable stand-in character for each byte (what ``pre_tokenizers.ByteLevel`` shows)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    table = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + extra)
            extra += 1
    return table


def _decoder(alphabet: str) -> dict[str, int]:
    if alphabet == "gpt2":
        return {c: b for b, c in gpt2_bytes_to_unicode().items()}
    return {chr(_BYTES_OFFSET + b): b for b in range(256)}


def _bytes_chunks(text: str, pattern: str) -> str:
    """Text as lmlib's chunks, each spelt in the "bytes" alphabet, joined by spaces."""
    return " ".join(
        "".join(chr(_BYTES_OFFSET + b) for b in chunk.encode("utf-8")) for chunk in re.findall(pattern, text)
    )


@dataclass
class HFBPE:
    """A trained ``tokenizers.Tokenizer`` with the alphabet and pattern it was trained with."""

    tokenizer: Any  # the library's Tokenizer (a BPE model)
    alphabet: str  # "gpt2" or "bytes"
    pattern: str  # the pre-tokenization regex

    def merges(self) -> list[tuple[bytes, bytes]]:
        """The library's merges, in order, as pairs of byte strings."""
        import json

        decode = _decoder(self.alphabet)
        out = []
        for merge in json.loads(self.tokenizer.to_str())["model"]["merges"]:
            left, right = merge if isinstance(merge, list) else merge.split(" ")  # the JSON format changed
            out.append((bytes(decode[c] for c in left), bytes(decode[c] for c in right)))
        return out

    def encode(self, text: str) -> list[int]:
        """Token ids the library gives ``text`` (spelt in the tokenizer's alphabet first)."""
        if self.alphabet == "bytes":
            return self.tokenizer.encode(_bytes_chunks(text, self.pattern)).ids
        return self.tokenizer.encode(text).ids

    def pieces(self, text: str) -> list[bytes]:
        """The bytes of each token of ``text``: comparable with lmlib's, whatever the ids."""
        decode = _decoder(self.alphabet)
        return [bytes(decode[c] for c in self.tokenizer.id_to_token(i)) for i in self.encode(text)]


def train_hf_bpe(
    text: str, vocab_size: int = 512, alphabet: str = "gpt2", pattern: str = PRETOKENIZE_PATTERN
) -> HFBPE:
    """The library's BPE trained on ``text`` as ``BPETokenizer.fit`` trains (same pattern, min. count 2).

    ``alphabet="gpt2"`` splits with ``pattern`` and maps bytes with GPT-2's ``ByteLevel``; ``"bytes"``
    splits in Python and spells each byte ``b`` as chr(0x100 + b) (see the module docstring).
    """
    _check_alphabet(alphabet)
    hf = _hf()
    from tokenizers import models, pre_tokenizers, trainers

    tok = hf.Tokenizer(models.BPE())
    if alphabet == "gpt2":
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(hf.Regex(pattern), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ])
        initial, corpus = pre_tokenizers.ByteLevel.alphabet(), text
    else:
        tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
        initial, corpus = [chr(_BYTES_OFFSET + b) for b in range(256)], _bytes_chunks(text, pattern)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, initial_alphabet=initial, min_frequency=2,
                                  show_progress=False)
    tok.train_from_iterator([corpus], trainer=trainer)
    return HFBPE(tok, alphabet, pattern)


def lmlib_merges(bpe: BPETokenizer) -> list[tuple[bytes, bytes]]:
    """lmlib's merges, in order, as pairs of byte strings."""
    return [(bpe.token_bytes(a), bpe.token_bytes(b)) for a, b in bpe.merges]


@dataclass
class MergeComparison:
    """How two merge lists relate."""

    n_lmlib: int  # merges lmlib learned
    n_hf: int  # merges the library learned
    common: int  # merges in both (as byte strings, order ignored)
    same_order: bool  # the two lists are identical
    first_difference: int | None  # index of the first merge that differs (None when identical)

    @property
    def same_set(self) -> bool:
        """Both learned the same merges, perhaps in a different order."""
        return self.common == self.n_lmlib == self.n_hf


def compare_merges(ours: Sequence[tuple[bytes, bytes]], theirs: Sequence[tuple[bytes, bytes]]) -> MergeComparison:
    """Compare two merge lists given as byte-string pairs."""
    ours, theirs = list(ours), list(theirs)
    first = next((i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b), None)
    if first is None and len(ours) != len(theirs):
        first = min(len(ours), len(theirs))
    return MergeComparison(
        n_lmlib=len(ours), n_hf=len(theirs), common=len(set(ours) & set(theirs)),
        same_order=ours == theirs, first_difference=first,
    )
