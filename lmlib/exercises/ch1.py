"""Exercises of chapter 1: background."""

from __future__ import annotations

import math
import random
from typing import Any

from ._core import _number, register, register_written

# A uniform guess over V tokens: the vocabularies of well-known tokenizers (and the byte model's 256).
VOCABULARIES = (256, 512, 1000, 4096, 32_000, 50_257, 65_536, 100_277)


def _vocabulary(rng: random.Random) -> dict[str, Any]:
    return {"vocab": rng.choice(VOCABULARIES)}


@register("1.1", answer="answer_1_1", points=1, book={"vocab": 256}, variants=_vocabulary,
          describe=lambda p: f"the model has a vocabulary of {p['vocab']:,} tokens (in place of the 256 bytes) "
                             "and gives each of them the same probability.",
          solution=lambda p: f"{p['vocab']}", brute_forceable=True)
def _perplexity_of_uniform_guess(answer: Any, p: dict[str, Any]) -> tuple[bool, str]:
    value, vocab = _number(answer), p["vocab"]
    if math.isclose(value, vocab, rel_tol=1e-6):
        return True, f"right: a model that spreads its bets evenly over {vocab:,} tokens has perplexity {vocab:,}."
    if math.isclose(value, math.log(vocab), rel_tol=1e-3):
        return False, "that is the loss in nats; perplexity is exp(loss)."
    if math.isclose(value, math.log2(vocab), rel_tol=1e-6):
        return False, "that is the loss in bits; perplexity is 2**bits = exp(nats)."
    if math.isclose(value, 1 / vocab, rel_tol=1e-6):
        return False, "that is the probability of one token; perplexity is its inverse (the number of equal choices)."
    return False, f"{value:g} is not it: perplexity is exp(loss), and the loss of a uniform guess over V tokens is ln V."


# Short prompts in several scripts: ASCII takes 1 byte in UTF-8, Latin/Greek/Cyrillic letters with
# diacritics 2, CJK and most other BMP characters 3, characters beyond U+FFFF 4.
PROMPTS = ("你好世界", "机器学习", "语言模型", "Grüße aus Köln", "naïve café", "日本語の文章", "Привет, мир",
           "Ελληνικά", "über 9000 €", "한국어 문장", "数据 data", "🙂 ok", "déjà vu", "mañana 明天")


def _prompt(rng: random.Random) -> dict[str, Any]:
    return {"text": rng.choice(PROMPTS)}


@register("1.2", answer="answer_1_2", points=1, book={"text": "这是一个"}, variants=_prompt,
          describe=lambda p: f"your prompt is {p['text']!r} (in place of 这是一个).",
          solution=lambda p: f"len({p['text']!r}.encode('utf-8'))", brute_forceable=True)
def _bytes_of_prompt(answer: Any, p: dict[str, Any]) -> tuple[bool, str]:
    text = p["text"]
    truth = len(text.encode("utf-8"))
    value = _number(answer)
    if value == truth:
        return True, f"right: the byte tokenizer gives one token per UTF-8 byte, {truth} for {text!r}."
    if value == len(text):
        return False, "that is the number of characters; a byte tokenizer sees their UTF-8 bytes."
    if value == len(text.encode("utf-16-le")):
        return False, "that is the size in UTF-16; the byte tokenizer reads UTF-8."
    if value == 3 * len(text) and truth != 3 * len(text):
        return False, "not every character takes 3 bytes: ASCII takes 1, accented Latin, Greek and Cyrillic letters 2."
    return False, (f"{value:g} is not it: count the UTF-8 bytes of each character: 1 up to U+007F, 2 up to U+07FF, "
                   "3 up to U+FFFF, 4 beyond.")


register_written("1.3", points=2)
