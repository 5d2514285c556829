"""Exercises of Appendix A (the article's FAQ, 9.1-9.10): evaluation and data cleaning. Numbered A.1, A.2, ..."""

from __future__ import annotations

import math
import random
from typing import Any

from ._core import Unanswered, _grade, _number, register, register_written


def _bpb_variant(rng: random.Random) -> dict[str, Any]:
    return {"loss": rng.choice((2.1, 2.6, 3.0, 3.2, 3.5)), "bytes_per_token": rng.choice((3.2, 3.7, 4.2, 4.6))}


@register("A.1", answer="answer_A_1", points=1, book={"loss": 3.2, "bytes_per_token": 4.2}, variants=_bpb_variant,
          describe=lambda p: (f"a BPE model has a validation loss of {p['loss']} nats per token, and its tokens "
                              f"average {p['bytes_per_token']} bytes of text."),
          solution=lambda p: f"{p['loss']} / math.log(2) / {p['bytes_per_token']}")
def _bits_per_byte(answer: Any, p: dict[str, Any]) -> tuple[bool, str]:
    loss, bpt = p["loss"], p["bytes_per_token"]
    truth = loss / math.log(2) / bpt
    value = _number(answer)
    mistakes = [
        (loss / bpt, "that is nats per byte; divide by ln 2 to get bits."),
        (loss / math.log(2), "that is bits per token; a token covers several bytes, so divide by bytes per token."),
        (loss * bpt / math.log(2), "divide by the bytes per token, don't multiply: one token's loss is spread over its bytes."),
        (loss / math.log(10) / bpt, "bits need log base 2: divide by ln 2, not ln 10."),
    ]
    right = f"right: {loss} / ln 2 / {bpt} = {truth:.3f} bits per byte, comparable across tokenizers."
    return _grade(value, truth, 0.005, right, mistakes,
                  f"{value:g} is not it: convert nats to bits, then spread each token's bits over its bytes.")


def _ppl_variant(rng: random.Random) -> dict[str, Any]:
    return {"bpb": rng.choice((0.9, 1.1, 1.6, 2.0, 2.4))}


@register("A.2", answer="answer_A_2", points=1, book={"bpb": 1.6}, variants=_ppl_variant,
          describe=lambda p: f"a byte-level model scores {p['bpb']} bits per byte on held-out text.",
          solution=lambda p: f"2 ** {p['bpb']}")
def _perplexity_from_bits(answer: Any, p: dict[str, Any]) -> tuple[bool, str]:
    b = p["bpb"]
    truth = 2**b
    value = _number(answer)
    mistakes = [(math.exp(b), "e^x undoes a loss in nats; this loss is in bits, so the base is 2."),
                (10**b, "the loss is in bits: the perplexity is 2 to its power."),
                (b * math.log(2), "that converts bits to nats; the perplexity is the exponential of the loss.")]
    right = f"right: 2^{b} = {truth:.3f}: as uncertain as a fair choice among {truth:.2f} bytes at each step."
    return _grade(value, truth, 0.005, right, mistakes, f"{value:g} is not it: perplexity = 2^(bits per token).")


BOOK_LINES = (("a", "b", "a", "", "c", "b", ""),)


def _lines_variant(rng: random.Random) -> dict[str, Any]:
    cases = list(BOOK_LINES)
    for _ in range(3):
        cases.append(tuple(rng.choice(("x = 1", "return x", "", "    pass", "# note", "x = 1 ")) for _ in range(rng.randint(5, 12))))
    return {"cases": tuple(cases)}


@register("A.3", kind="function", answer="dedup", points=2, book={"cases": BOOK_LINES}, variants=_lines_variant)
def _dedup(answer: Any, p: dict[str, Any]) -> tuple[bool, str]:
    if not callable(answer):
        return False, "pass your function itself (dedup), not its result."
    for lines in p["cases"]:
        got = answer(list(lines))
        if got is None:
            raise Unanswered("dedup returns None: finish it so that it returns the kept lines.")
        got = list(got)
        seen, want = set(), []
        for line in lines:
            if not line.strip() or line not in seen:
                want.append(line)
            seen.add(line)
        if got == want:
            continue
        if [x for x in got if x.strip()] == [x for x in want if x.strip()]:
            return False, "blank lines are structure, not content: keep every one of them."
        if sorted(got) == sorted(want):
            return False, "keep the lines in their original order."
        if len(got) < len(want):
            return False, f"you removed too much from {list(lines)}: only a repeat of an earlier non-blank line goes."
        return False, f"for {list(lines)} the kept lines should be the first occurrence of each non-blank line, in order."
    return True, "right: first occurrences kept in order, repeats dropped, blank lines kept."


register_written("A.4", points=2)
