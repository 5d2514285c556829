"""Checks for chapter 3: the core algorithm."""

from __future__ import annotations

import math
from typing import Any

from ._core import _number, register

EX_3_1_TEXT = "aaabdaaabac"


@register("3.1")
def _bpe_tokens_by_hand(answer: Any) -> tuple[bool, str]:
    from ..tokenizers import BPETokenizer

    tok = BPETokenizer.fit(EX_3_1_TEXT, vocab_size=300)
    truth = len(tok.encode(EX_3_1_TEXT))
    value = _number(answer)
    if value == truth:
        pieces = " ".join(tok.token_bytes(i).decode() for i in tok.encode(EX_3_1_TEXT))
        return True, f"right: after {len(tok.merges)} merges the text is {truth} tokens: {pieces}."
    if value == len(EX_3_1_TEXT.encode("utf-8")):
        return False, "that is the number of bytes before any merge; BPE then merges the most frequent pairs."
    if value == len(tok.merges):
        return False, f"{len(tok.merges)} is the number of merges; the question asks how many tokens remain."
    partial = {len(BPETokenizer(tok.merges[:k]).encode(EX_3_1_TEXT)): k for k in range(1, len(tok.merges))}
    if value in partial:
        k = partial[int(value)]
        return False, (f"that is the count after {k} merge{'s' if k > 1 else ''}; fit goes on while some pair "
                       "still occurs at least twice.")
    if value == 300 - 256:
        return False, "fit stops early, when no pair occurs twice, long before the vocabulary is full."
    return False, f"{value:g} is not it: merge (a, a) first, then the most frequent pair again, until none repeats."


def _as_probs(result: Any) -> Any:
    import torch

    if result is None:
        raise ValueError("your function returned None: return the probabilities")
    return torch.as_tensor(result, dtype=torch.float64).flatten()


@register("3.2")
def _temperature_top_k(answer: Any) -> tuple[bool, str]:
    import torch

    from ..generate import next_token_probs

    if not callable(answer):
        return False, "pass your function itself (my_next_token_probs), not its result."
    cases = [
        (torch.tensor([2.0, 1.0, 0.5, 0.0, -1.0, 3.0]), 0.5, 3),
        (torch.tensor([0.3, -0.2, 1.7, 0.9]), 2.0, 2),
        (torch.tensor([1.0, 4.0, -2.0, 0.0, 2.5]), 1.0, 5),
    ]
    for logits, t, k in cases:
        try:
            got = _as_probs(answer(logits.clone(), t, k))
        except ValueError as err:
            return False, str(err) + "."
        want = next_token_probs(logits, temperature=t, top_k=k).double()
        if got.shape != want.shape:
            return False, (f"return one probability per token: expected shape {tuple(want.shape)}, "
                           f"got {tuple(got.shape)}.")
        if torch.allclose(got, want, atol=1e-6):
            continue
        if not math.isclose(float(got.sum()), 1.0, abs_tol=1e-4):
            return False, (f"your probabilities sum to {float(got.sum()):.4f}, not 1; after dropping the tokens "
                           "outside the top k, renormalise (softmax of the kept logits does it).")
        if torch.allclose(got, next_token_probs(logits, temperature=1 / t, top_k=k).double(), atol=1e-6):
            return False, "you multiplied the logits by the temperature; divide them by it (T < 1 sharpens)."
        if torch.allclose(got, next_token_probs(logits, temperature=1.0, top_k=k).double(), atol=1e-6):
            return False, "the temperature has no effect in your function: divide the logits by it before the softmax."
        if torch.allclose(got, next_token_probs(logits, temperature=t).double(), atol=1e-6):
            return False, "every token keeps some probability: set all but the k largest logits to -inf first."
        for kk in (k - 1, k + 1):
            if 1 <= kk <= len(logits) and torch.allclose(
                got, next_token_probs(logits, temperature=t, top_k=kk).double(), atol=1e-6
            ):
                return False, f"off by one: you kept {kk} tokens where top-k with k={k} keeps {k}."
        return False, (f"for logits {logits.tolist()}, T={t}, k={k} expected {[round(v, 4) for v in want.tolist()]}, "
                       f"got {[round(v, 4) for v in got.tolist()]}.")
    return True, "right: divide by the temperature, keep the k largest logits, softmax; as generate.next_token_probs."


EX_3_3_CONFIG = dict(vocab_size=100, block_size=16, n_layer=1, n_head=2, n_embd=32)


@register("3.3")
def _count_gpt_parameters(answer: Any) -> tuple[bool, str]:
    from .. import models

    c = models.GPTConfig(**EX_3_3_CONFIG)
    truth = models.count_parameters(models.GPT(c))
    value = _number(answer)
    if value == truth:
        return True, f"right: {truth:,} parameters (the output layer reuses the token embedding)."
    e, layers = c.n_embd, c.n_layer
    linear_biases = layers * (3 * e + e + 4 * e + e)
    norm_params = (2 * layers + 1) * 2 * e
    hints = {
        -c.vocab_size * e: ("the output layer shares its weight matrix with the token embedding (weight tying): "
                            "count it once."),
        c.block_size * e: "you left out the position embeddings (block_size x n_embd).",
        linear_biases: "you left out the biases of the Linear layers in the block.",
        norm_params: "you left out the LayerNorms: two per block and a final one, each with a gain and a bias.",
        linear_biases + (2 * layers + 1) * e: "you left out all biases (Linear layers and LayerNorms).",
        c.vocab_size * e: "you left out the token embedding.",
        layers * 8 * e * e + layers * 5 * e: "you left out the feed-forward network (n_embd -> 4 n_embd -> n_embd).",
    }
    hint = hints.get(int(truth - value))
    if hint:
        return False, hint
    if value == truth * c.n_head or value == truth + (c.n_head - 1) * layers * 4 * e * e:
        return False, "the heads split n_embd between them; they add no parameters."
    return False, (f"{value:g} is not it (off by {truth - value:+g}): count token and position embeddings, per block "
                   "two LayerNorms, qkv and output projections, the 4x feed-forward layers, and the final LayerNorm.")
