"""Exercises of chapter 3: the core algorithm."""

from __future__ import annotations

import math
import random
from typing import Any

from ._core import Unanswered, _number, register, register_written

EX_3_1_TEXT = "aaabdaaabac"


def _bpe_text(rng: random.Random) -> dict[str, Any]:
    """A short text over a few letters on which BPE makes 2 to 4 merges before no pair repeats."""
    from ..tokenizers import BPETokenizer

    while True:
        text = "".join(rng.choice("aaabbcd") for _ in range(rng.randint(10, 13)))
        merges = len(BPETokenizer.fit(text, vocab_size=300).merges)
        if 2 <= merges <= 4:
            return {"text": text}


@register("3.1", answer="answer_3_1", points=1, book={"text": EX_3_1_TEXT}, variants=_bpe_text,
          describe=lambda p: f"train BPE by hand on the text {p['text']!r} (in place of {EX_3_1_TEXT!r}).",
          solution=lambda p: f"len(tokenizers.BPETokenizer.fit({p['text']!r}, vocab_size=300).encode({p['text']!r}))",
          brute_forceable=True)
def _bpe_tokens_by_hand(answer: Any, p: dict[str, Any]) -> tuple[bool, str]:
    from ..tokenizers import BPETokenizer

    text = p["text"]
    tok = BPETokenizer.fit(text, vocab_size=300)
    truth = len(tok.encode(text))
    value = _number(answer)
    if value == truth:
        pieces = " ".join(tok.token_bytes(i).decode() for i in tok.encode(text))
        return True, f"right: after {len(tok.merges)} merges the text is {truth} tokens: {pieces}."
    if value == len(text.encode("utf-8")):
        return False, "that is the number of bytes before any merge; BPE then merges the most frequent pairs."
    if value == len(tok.merges):
        return False, "that is the number of merges; the question asks how many tokens remain."
    partial = {len(BPETokenizer(tok.merges[:k]).encode(text)): k for k in range(1, len(tok.merges))}
    if value in partial:
        k = partial[int(value)]
        return False, (f"that is the count after {k} merge{'s' if k > 1 else ''}; fit goes on while some pair "
                       "still occurs at least twice.")
    if value == 300 - 256:
        return False, "fit stops early, when no pair occurs twice, long before the vocabulary is full."
    return False, (f"{value:g} is not it: merge the most frequent pair (ties: the smallest pair of ids), then count "
                   "again, until no pair occurs twice.")


def _as_probs(result: Any) -> Any:
    import torch

    if result is None:
        raise Unanswered("your function returns None: finish it so that it returns the probabilities.")
    return torch.as_tensor(result, dtype=torch.float64).flatten()


BOOK_CASES = (
    ((2.0, 1.0, 0.5, 0.0, -1.0, 3.0), 0.5, 3),
    ((0.3, -0.2, 1.7, 0.9), 2.0, 2),
    ((1.0, 4.0, -2.0, 0.0, 2.5), 1.0, 5),
)


def _sampling_cases(rng: random.Random) -> dict[str, Any]:
    """The book's three cases and three more drawn for the student (distinct logits: no ties at the k-th)."""
    cases = list(BOOK_CASES)
    for _ in range(3):
        n = rng.randint(4, 9)
        logits = tuple(round(v, 2) for v in rng.sample([x / 4 for x in range(-16, 17)], n))
        cases.append((logits, rng.choice((0.5, 0.7, 1.0, 1.5, 2.0)), rng.randint(1, n)))
    return {"cases": tuple(cases)}


@register("3.2", kind="function", answer="my_next_token_probs", points=2, book={"cases": BOOK_CASES},
          variants=_sampling_cases)
def _temperature_top_k(answer: Any, p: dict[str, Any]) -> tuple[bool, str]:
    import torch

    from ..generate import next_token_probs

    if not callable(answer):
        return False, "pass your function itself (my_next_token_probs), not its result."
    for values, t, k in p["cases"]:
        logits = torch.tensor(values)
        got = _as_probs(answer(logits.clone(), t, k))
        want = next_token_probs(logits, temperature=t, top_k=k).double()
        if got.shape != want.shape:
            return False, (f"return one probability per token: for {len(values)} logits your function returned "
                           f"{got.numel()} values.")
        if torch.allclose(got, want, atol=1e-6):
            continue
        if not math.isclose(float(got.sum()), 1.0, abs_tol=1e-4):
            return False, ("your probabilities do not sum to 1; after dropping the tokens outside the top k, "
                           "renormalise (softmax of the kept logits does it).")
        if torch.allclose(got, next_token_probs(logits, temperature=1 / t, top_k=k).double(), atol=1e-6):
            return False, "you multiplied the logits by the temperature; divide them by it (T < 1 sharpens)."
        if t != 1 and torch.allclose(got, next_token_probs(logits, temperature=1.0, top_k=k).double(), atol=1e-6):
            return False, "the temperature has no effect in your function: divide the logits by it before the softmax."
        if k < len(values) and torch.allclose(got, next_token_probs(logits, temperature=t).double(), atol=1e-6):
            return False, "every token keeps some probability: set all but the k largest logits to -inf first."
        for kk in (k - 1, k + 1):
            if 1 <= kk <= len(values) and torch.allclose(
                got, next_token_probs(logits, temperature=t, top_k=kk).double(), atol=1e-6
            ):
                return False, f"off by one: with k={k} your function keeps {kk} tokens."
        kept = (got > 0).sum().item()
        if kept != (want > 0).sum().item():
            return False, (f"with k={k} your function keeps {kept} tokens: keep exactly the k largest scaled logits "
                           "(all tied ones at the k-th value).")
        return False, (f"for {len(values)} logits with T={t}, k={k} the right tokens are kept but their probabilities "
                       "are off: divide by the temperature first, then take the softmax over the kept logits only.")
    return True, "right: divide by the temperature, keep the k largest logits, softmax; as generate.next_token_probs."


EX_3_3_CONFIG = dict(vocab_size=100, block_size=16, n_layer=1, n_head=2, n_embd=32)


def _gpt_config(rng: random.Random) -> dict[str, Any]:
    n_embd = rng.choice((16, 24, 32, 48, 64))
    return {"config": dict(vocab_size=rng.choice((50, 64, 100, 128, 200, 256)), block_size=rng.choice((8, 16, 32, 64)),
                           n_layer=rng.choice((1, 2, 3)), n_head=rng.choice([h for h in (1, 2, 4, 8) if n_embd % h == 0]),
                           n_embd=n_embd)}


def _describe_config(p: dict[str, Any]) -> str:
    args = ", ".join(f"{k}={v}" for k, v in p["config"].items())
    return f"count the parameters of models.GPT(models.GPTConfig({args}))."


@register("3.3", answer="answer_3_3", points=1, book={"config": EX_3_3_CONFIG}, variants=_gpt_config,
          describe=_describe_config,
          solution=lambda p: f"models.count_parameters(models.GPT(models.GPTConfig(**{p['config']!r})))",
          brute_forceable=True)
def _count_gpt_parameters(answer: Any, p: dict[str, Any]) -> tuple[bool, str]:
    from .. import models

    c = models.GPTConfig(**p["config"])
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
        linear_biases: "you left out the biases of the Linear layers in the blocks.",
        norm_params: "you left out the LayerNorms: two per block and a final one, each with a gain and a bias.",
        linear_biases + (2 * layers + 1) * e: "you left out all biases (Linear layers and LayerNorms).",
        c.vocab_size * e: "you left out the token embedding.",
        layers * 8 * e * e + layers * 5 * e: "you left out the feed-forward network (n_embd -> 4 n_embd -> n_embd).",
    }
    hint = hints.get(int(truth - value)) if value == int(value) else None
    if hint:
        return False, hint
    if c.n_head > 1 and (value == truth * c.n_head or value == truth + (c.n_head - 1) * layers * 4 * e * e):
        return False, "the heads split n_embd between them; they add no parameters."
    return False, (f"{value:g} is not it: count token and position embeddings, per block two LayerNorms, qkv and "
                   "output projections, the 4x feed-forward layers, and the final LayerNorm.")


register_written("3.4", points=2)
