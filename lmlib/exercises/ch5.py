"""Checks for chapter 5: project practice."""

from __future__ import annotations

from typing import Any

from ._core import _number, register


@register("5.1")
def _windows(answer: Any) -> tuple[bool, str]:
    import torch

    if not callable(answer):
        return False, "pass your function itself (make_windows), not its result."
    ids = list(range(10))
    got = answer(ids, 3)
    if got is None:
        return False, "make_windows returned None: finish it so that it returns x, y."
    if not (isinstance(got, tuple) and len(got) == 2):
        return False, "return a pair (x, y)."
    x, y = (torch.as_tensor(t) for t in got)
    want_x = torch.tensor([[0, 1, 2], [3, 4, 5], [6, 7, 8]])
    want_y = want_x + 1
    if x.shape != want_x.shape:
        return False, f"for 10 ids and seq_len 3, x should have shape (3, 3); yours has {tuple(x.shape)}."
    if torch.equal(x, want_x) and torch.equal(y, want_x):
        return False, "your targets equal the inputs; each target is the token that comes next (shift by one)."
    if torch.equal(x, want_x) and torch.equal(y, want_y):
        return True, "right: non-overlapping windows, targets shifted one step to the right."
    return False, f"for ids 0..9 and seq_len 3 expected x={want_x.tolist()}, y={want_y.tolist()}; got x={x.tolist()}, y={y.tolist()}."


def _rnn_parameters(cell: str, vocab: int, emb: int, hidden: int) -> int:
    gates = {"rnn": 1, "lstm": 4, "gru": 3}[cell]
    return vocab * emb + gates * (emb * hidden + hidden * hidden + 2 * hidden) + hidden * vocab + vocab


@register("5.2")
def _count_rnn_parameters(answer: Any) -> tuple[bool, str]:
    from .. import models

    model = models.RNNLM(models.RNNConfig(vocab_size=256, embedding_dim=64, hidden_dim=128, cell="gru"))
    truth = models.count_parameters(model)
    value = _number(answer)
    if value == truth:
        return True, f"right: {truth:,} parameters."
    diffs = {
        2 * 3 * 128: "you left out the GRU's biases (two bias vectors per gate, 3 gates).",
        3 * 128: "you counted one bias vector per GRU gate; PyTorch keeps two (input and hidden).",
        256: "you left out the output layer's bias.",
        2 * 3 * 128 + 256: "you left out all biases.",
        256 * 64: "you left out the embedding table.",
        128 * 256 + 256: "you left out the output layer.",
    }
    hint = diffs.get(int(truth - value))
    if hint:
        return False, hint
    if value == _rnn_parameters("rnn", 256, 64, 128):
        return False, "that is the count for a plain RNN cell; a GRU has 3 gates, each with its own weights."
    return False, f"{value:g} is not it (off by {truth - value:+g}); count embedding, GRU weights and biases, and the output layer."
