"""Exercises of chapter 5: project practice."""

from __future__ import annotations

import random
from typing import Any

from ._core import Unanswered, _number, register, register_written

# The book's cases: ids that count up, and ids that do not (so "targets = inputs + 1" is not the same as the
# next ids), with len(ids) - 1 a multiple of seq_len and not (so one window too many shows).
BOOK_WINDOW_CASES = ((tuple(range(10)), 3), ((5, 3, 9, 1, 7, 2, 8, 6, 4, 0, 11, 10, 12), 4),
                     ((7, 1, 4, 2, 9, 3, 8, 5, 6, 11, 0, 10), 4))


def _window_cases(rng: random.Random) -> dict[str, Any]:
    """The book's case and three more drawn for the student: random ids, lengths and window sizes."""
    cases = list(BOOK_WINDOW_CASES)
    for _ in range(3):
        n = rng.randint(7, 31)
        cases.append((tuple(rng.randrange(256) for _ in range(n)), rng.randint(2, 5)))
    return {"cases": tuple(cases)}


@register("5.1", kind="function", answer="make_windows", points=2, book={"cases": BOOK_WINDOW_CASES},
          variants=_window_cases)
def _windows(answer: Any, p: dict[str, Any]) -> tuple[bool, str]:
    import torch

    if not callable(answer):
        return False, "pass your function itself (make_windows), not its result."
    for ids, seq_len in p["cases"]:
        got = answer(list(ids), seq_len)
        if got is None:
            raise Unanswered("make_windows returns None: finish it so that it returns x, y.")
        if not (isinstance(got, tuple) and len(got) == 2):
            return False, "return a pair (x, y)."
        x, y = (torch.as_tensor(t) for t in got)
        n = (len(ids) - 1) // seq_len
        starts = torch.arange(n) * seq_len
        want_x = torch.tensor(ids)[starts[:, None] + torch.arange(seq_len)]
        want_y = torch.tensor(ids)[starts[:, None] + torch.arange(seq_len) + 1]
        if x.ndim != 2 or x.shape[1] != seq_len:
            return False, f"x should hold windows of seq_len ids each (one row per window); yours has shape {tuple(x.shape)}."
        if x.shape[0] != n and x.shape[0] > 1 and torch.equal(x[1, :-1], x[0, 1:]):
            return False, "your windows overlap; each window must start where the previous one ended."
        if x.shape[0] != n:
            return False, (f"for {len(ids)} ids and seq_len {seq_len} your function made {x.shape[0]} windows: use as "
                           "many whole windows as fit while leaving room for the last target.")
        if y.shape != x.shape:
            return False, "y should have the same shape as x: one target for each input position."
        if torch.equal(x, want_x) and torch.equal(y, want_x):
            return False, "your targets equal the inputs; each target is the token that comes next (shift by one)."
        if torch.equal(x, want_x) and torch.equal(y, want_y):
            continue
        if torch.equal(x, want_x) and torch.equal(y, want_x + 1):
            return False, "your targets are the inputs plus one; each target is the next id in the list, whatever its value."
        if n > 1 and torch.equal(x[1, :-1], x[0, 1:]):
            return False, "your windows overlap; consecutive windows should not share ids."
        if not torch.equal(x, want_x):
            return False, "your windows x are not the right spans: window i covers ids[i*seq_len : (i+1)*seq_len]."
        return False, "your windows are right, but the targets are not: each target is the id right after its input."
    return True, "right: non-overlapping windows, targets shifted one step to the right."


def _rnn_parameters(cell: str, vocab: int, emb: int, hidden: int) -> int:
    gates = {"rnn": 1, "lstm": 4, "gru": 3}[cell]
    return vocab * emb + gates * (emb * hidden + hidden * hidden + 2 * hidden) + hidden * vocab + vocab


def _rnn_config(rng: random.Random) -> dict[str, Any]:
    return {"config": dict(vocab_size=rng.choice((64, 128, 256, 512)), embedding_dim=rng.choice((16, 32, 64, 128)),
                           hidden_dim=rng.choice((32, 64, 128, 256)), cell=rng.choice(("rnn", "lstm", "gru")))}


def _describe_rnn(p: dict[str, Any]) -> str:
    c = p["config"]
    return (f"count the parameters of models.RNNLM(models.RNNConfig(vocab_size={c['vocab_size']}, "
            f"embedding_dim={c['embedding_dim']}, hidden_dim={c['hidden_dim']}, cell={c['cell']!r})).")


@register("5.2", answer="answer_5_2", points=1,
          book={"config": dict(vocab_size=256, embedding_dim=64, hidden_dim=128, cell="gru")},
          variants=_rnn_config, describe=_describe_rnn,
          solution=lambda p: f"models.count_parameters(models.RNNLM(models.RNNConfig(**{p['config']!r})))",
          brute_forceable=True)
def _count_rnn_parameters(answer: Any, p: dict[str, Any]) -> tuple[bool, str]:
    from .. import models

    c = p["config"]
    model = models.RNNLM(models.RNNConfig(**c))
    truth = models.count_parameters(model)
    value = _number(answer)
    if value == truth:
        return True, f"right: {truth:,} parameters."
    vocab, emb, hidden, cell = c["vocab_size"], c["embedding_dim"], c["hidden_dim"], c["cell"]
    gates = {"rnn": 1, "lstm": 4, "gru": 3}[cell]
    name = {"rnn": "RNN cell", "lstm": "LSTM", "gru": "GRU"}[cell]
    diffs = {
        2 * gates * hidden: f"you left out the {name}'s biases (two bias vectors per gate, {gates} gate{'s' * (gates > 1)}).",
        gates * hidden: f"you counted one bias vector per {name} gate; PyTorch keeps two (input and hidden).",
        vocab: "you left out the output layer's bias.",
        2 * gates * hidden + vocab: "you left out all biases.",
        vocab * emb: "you left out the embedding table.",
        hidden * vocab + vocab: "you left out the output layer.",
    }
    hint = diffs.get(int(truth - value)) if value == int(value) else None
    if hint:
        return False, hint
    for other in ("rnn", "lstm", "gru"):
        if other != cell and value == _rnn_parameters(other, vocab, emb, hidden):
            return False, (f"that is the count for a {other.upper() if other != 'rnn' else 'plain RNN'} cell; "
                           f"the {name} has {gates} weight block{'s' * (gates > 1)} per matrix.")
    return False, (f"{value:g} is not it: count the embedding table, the {name}'s input and hidden weights and its "
                   "biases, and the output layer with its bias.")


register_written("5.3", points=2)
