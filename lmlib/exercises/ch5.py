"""Checks for chapter 5: project practice."""

from __future__ import annotations

from typing import Any

from ._core import _number, register


@register("5.1")
def _windows(answer: Any) -> tuple[bool, str]:
    import torch

    from ..data import windows

    if not callable(answer):
        return False, "pass your function itself (make_windows), not its result."
    # ids that do not count up (so y = x + 1 is not the same as shifting), and lengths where len(ids) - 1 is
    # and is not a multiple of seq_len (so "as many whole windows as fit, leaving room for the last target" counts)
    cases = [(list(range(10)), 3), ([5, 3, 9, 1, 7, 2, 8, 6, 4, 0, 11, 10, 12], 4), ([7, 1, 4, 2, 9, 3, 8, 5, 6, 11, 0, 10], 4)]
    for ids, seq_len in cases:
        got = answer(list(ids), seq_len)
        if got is None:
            return False, "make_windows returned None: finish it so that it returns x, y."
        if not (isinstance(got, tuple) and len(got) == 2):
            return False, "return a pair (x, y)."
        x, y = (torch.as_tensor(t) for t in got)
        want_x, want_y = windows(torch.tensor(ids), seq_len)
        shown = f"for ids {ids} and seq_len {seq_len}"
        if x.shape != want_x.shape or y.shape != want_y.shape:
            if x.dim() == 2 and len(x) > 1 and x.shape[1] == seq_len and x[1, 0] == ids[1]:
                return False, f"{shown} your windows overlap; each window must start where the previous one ended."
            if x.dim() == 2 and len(x) == len(want_x) + 1:
                return False, f"{shown} you made one window too many: the last window needs room for its target."
            return False, (f"{shown} x and y should have shape {tuple(want_x.shape)}; yours have {tuple(x.shape)} "
                           f"and {tuple(y.shape)}.")
        if torch.equal(x, want_x) and torch.equal(y, want_x):
            return False, "your targets equal the inputs; each target is the token that comes next (shift by one)."
        if torch.equal(x, want_x) and torch.equal(y, want_x + 1) and not torch.equal(y, want_y):
            return False, f"{shown} your targets are the inputs plus one; they must be the next ids in the list."
        if not (torch.equal(x, want_x) and torch.equal(y, want_y)):
            return False, f"{shown} expected x={want_x.tolist()}, y={want_y.tolist()}; got x={x.tolist()}, y={y.tolist()}."
    return True, "right: non-overlapping windows, targets shifted one step to the right."


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
