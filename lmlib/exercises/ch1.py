"""Checks for chapter 1: background."""

from __future__ import annotations

import math
from typing import Any

from ._core import _number, register


@register("1.1")
def _perplexity_of_uniform_bytes(answer: Any) -> tuple[bool, str]:
    value = _number(answer)
    if math.isclose(value, 256, rel_tol=1e-6):
        return True, "right: a model that spreads its bets evenly over 256 bytes has perplexity 256."
    if math.isclose(value, math.log(256), rel_tol=1e-3):
        return False, "that is the loss ln(256) in nats; perplexity is exp(loss)."
    if math.isclose(value, 8, rel_tol=1e-6):
        return False, "8 is the loss in bits (log2 256); perplexity is 2**bits = exp(nats)."
    return False, f"{value:g} is not it: perplexity is exp(loss), and the loss of a uniform guess over V tokens is ln V."


@register("1.2")
def _bytes_of_prompt(answer: Any) -> tuple[bool, str]:
    truth = len("这是一个".encode("utf-8"))
    value = _number(answer)
    if value == truth:
        return True, f"right: each of the 4 characters takes 3 bytes in UTF-8, so {truth} byte tokens."
    if value == 4:
        return False, "4 is the number of characters; a byte tokenizer sees their UTF-8 bytes."
    return False, f"{value:g} is not it; try len('这是一个'.encode('utf-8'))."
