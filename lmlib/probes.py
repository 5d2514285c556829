"""Linear probes: what a trained model's hidden states encode, read off with a linear classifier.

Chapter 8 (notebook 8f, the article's trend 8.1.5 and research direction 8.3.3, 可解释性和透明性) labels
every byte of real Python source with properties Python's own ``tokenize`` module defines (is it inside
a string literal? how deep is its line indented? what class of token is it part of?), collects a model's
hidden states at every byte, layer by layer, and fits a multinomial logistic regression from states to
labels on some files and tests it on others. A property a linear probe reads well is *linearly
decodable* from that layer; a control (the same probe on an untrained model of the same shape, and on
the byte embedding alone) says how much of that the training put there (Hewitt and Liang, 2019).
"""

from __future__ import annotations

import io
import tokenize
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["TOKEN_CLASSES", "MAX_DEPTH", "code_labels", "layer_states", "Probe", "fit_probe", "probe_accuracy",
           "majority_accuracy"]

# Token classes, as tokenize names them (keywords are NAMEs there; f-string parts count as STRING).
TOKEN_CLASSES = ("NAME", "OP", "NUMBER", "STRING", "COMMENT", "LAYOUT")  # LAYOUT: spaces, newlines, indents
MAX_DEPTH = 4  # indentation depths of 4 and more share one label


def code_labels(source: str) -> dict[str, list[int]]:
    """Per UTF-8 byte of ``source``: ``in_string`` (0/1), ``depth`` (indent level, capped at MAX_DEPTH) and
    ``token_class`` (index into TOKEN_CLASSES), from Python's ``tokenize`` module.

    An f-string counts as one string literal on every Python (3.12 splits it into parts). Raises ValueError
    for source that does not tokenize.
    """
    if not isinstance(source, str):
        raise TypeError(f"source must be a str, got {type(source).__name__}")
    lines = source.splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))
    n = len(source)
    layout = TOKEN_CLASSES.index("LAYOUT")
    token_class = [layout] * n
    line_depth: list[int | None] = [None] * (len(lines) + 2)
    classes = {tokenize.NAME: "NAME", tokenize.OP: "OP", tokenize.NUMBER: "NUMBER", tokenize.STRING: "STRING",
               tokenize.COMMENT: "COMMENT"}
    f_start, f_end = getattr(tokenize, "FSTRING_START", -1), getattr(tokenize, "FSTRING_END", -1)
    open_fstrings: list[int] = []
    depth = 0

    def offset(row: int, col: int) -> int:
        return starts[row - 1] + col if row <= len(lines) else n

    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.INDENT:
                depth += 1
            elif tok.type == tokenize.DEDENT:
                depth -= 1
            (r0, c0), (r1, c1) = tok.start, tok.end
            for row in range(r0, min(r1, len(lines)) + 1):
                if line_depth[row] is None and tok.type not in (tokenize.INDENT, tokenize.DEDENT):
                    line_depth[row] = depth
            a, b = offset(r0, c0), min(offset(r1, c1), n)
            if tok.type == f_start:
                open_fstrings.append(a)
            elif tok.type == f_end:
                a = open_fstrings.pop()
                token_class[a:b] = [TOKEN_CLASSES.index("STRING")] * (b - a)
            elif tok.type in classes and not open_fstrings:
                token_class[a:b] = [TOKEN_CLASSES.index(classes[tok.type])] * (b - a)
    except (tokenize.TokenError, SyntaxError) as err:
        raise ValueError(f"the source does not tokenize: {err}") from err
    string = TOKEN_CLASSES.index("STRING")
    out: dict[str, list[int]] = {"in_string": [], "depth": [], "token_class": []}
    for row, line in enumerate(lines, start=1):
        d = min(line_depth[row] or 0, MAX_DEPTH)
        for i in range(starts[row - 1], starts[row]):
            width = len(source[i].encode("utf-8"))
            out["in_string"].extend([int(token_class[i] == string)] * width)
            out["depth"].extend([d] * width)
            out["token_class"].extend([token_class[i]] * width)
    return out


@torch.no_grad()
def layer_states(model: nn.Module, ids: Sequence[int] | torch.Tensor, window: int | None = None
                 ) -> list[tuple[str, torch.Tensor]]:
    """Hidden states at every position of ``ids``, per layer: [(name, tensor (len(ids), width)), ...].

    A GPT gives its residual stream after the embeddings and after each block; it reads ``ids`` in windows
    of ``window`` tokens (default: its block_size) that overlap by half, and each position is taken from a
    window in which it has at least half a window of context (the first half-window excepted).
    An RNN language model gives its embedding and its recurrent layer's output, reading ``ids`` in one pass.
    """
    ids = torch.as_tensor(ids, dtype=torch.long)
    if ids.dim() != 1 or len(ids) == 0:
        raise ValueError(f"ids must be a non-empty 1-D sequence of token ids, got shape {tuple(ids.shape)}")
    was_training = model.training
    model.eval()
    try:
        if hasattr(model, "blocks"):
            return _gpt_states(model, ids, window or model.config.block_size)
        if hasattr(model, "rnn"):
            captured: dict[str, torch.Tensor] = {}
            hooks = [model.embedding.register_forward_hook(lambda m, i, o: captured.__setitem__("embedding", o)),
                     model.rnn.register_forward_hook(lambda m, i, o: captured.__setitem__("recurrent", o[0]))]
            try:
                model(ids[None].to(model.device))
            finally:
                for h in hooks:
                    h.remove()
            return [(name, captured[name][0].float().cpu()) for name in ("embedding", "recurrent")]
    finally:
        model.train(was_training)
    raise ValueError(f"layer_states reads lmlib's GPT and RNNLM, got {type(model).__name__}")


def _gpt_states(model: nn.Module, ids: torch.Tensor, window: int) -> list[tuple[str, torch.Tensor]]:
    if window < 2 or window > model.config.block_size:
        raise ValueError(f"window must be in [2, block_size={model.config.block_size}], got {window}")
    half = window // 2
    captured: list[torch.Tensor] = []
    hooks = [model.blocks[0].register_forward_pre_hook(lambda m, args: captured.append(args[0]))]
    hooks += [b.register_forward_hook(lambda m, i, o: captured.append(o)) for b in model.blocks]
    n_layers = len(model.blocks) + 1
    out = [torch.empty(len(ids), model.config.n_embd) for _ in range(n_layers)]
    starts = list(range(0, max(len(ids) - window, 0) + 1, half))
    if starts[-1] + window < len(ids):
        starts.append(len(ids) - window)
    try:
        for s in starts:
            captured.clear()
            chunk = ids[s:s + window]
            model(chunk[None].to(model.device))
            keep_from = 0 if s == 0 else window - half
            if s == starts[-1] and s > 0:
                prev_end = starts[-2] + window
                keep_from = max(prev_end - s, 0)
            for layer, states in enumerate(captured):
                out[layer][s + keep_from:s + len(chunk)] = states[0, keep_from:].float().cpu()
    finally:
        for h in hooks:
            h.remove()
    names = ["embedding"] + [f"block {i + 1}" for i in range(n_layers - 1)]
    return list(zip(names, out))


@dataclass
class Probe:
    """A linear classifier on standardised features: logits = ((x - mean) / std) @ weight.T + bias."""

    mean: torch.Tensor
    std: torch.Tensor
    weight: torch.Tensor
    bias: torch.Tensor

    def predict(self, features: torch.Tensor) -> torch.Tensor:
        """The class with the highest logit for each row of ``features``."""
        return (((features - self.mean) / self.std) @ self.weight.T + self.bias).argmax(dim=-1)


def fit_probe(features: torch.Tensor, labels: torch.Tensor, n_classes: int | None = None,
              weight_decay: float = 1e-3, max_iter: int = 200) -> Probe:
    """Multinomial logistic regression with L2 penalty ``weight_decay``, fitted by L-BFGS (deterministic)."""
    features = torch.as_tensor(features, dtype=torch.float32)
    labels = torch.as_tensor(labels, dtype=torch.long)
    if features.dim() != 2 or labels.dim() != 1 or len(features) != len(labels):
        raise ValueError(f"features must be (N, D) and labels (N,), got {tuple(features.shape)} and "
                         f"{tuple(labels.shape)}")
    if len(labels) == 0:
        raise ValueError("no examples to fit a probe on")
    n_classes = int(labels.max()) + 1 if n_classes is None else n_classes
    mean, std = features.mean(0), features.std(0).clamp_min(1e-6)
    x = (features - mean) / std
    weight = torch.zeros(n_classes, x.shape[1], requires_grad=True)
    bias = torch.zeros(n_classes, requires_grad=True)
    optimizer = torch.optim.LBFGS([weight, bias], lr=1.0, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = F.cross_entropy(x @ weight.T + bias, labels) + weight_decay * weight.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return Probe(mean, std, weight.detach(), bias.detach())


def probe_accuracy(probe: Probe, features: torch.Tensor, labels: torch.Tensor) -> float:
    """Share of rows whose predicted class equals the label."""
    labels = torch.as_tensor(labels)
    return float((probe.predict(torch.as_tensor(features, dtype=torch.float32)) == labels).float().mean())


def majority_accuracy(train_labels: torch.Tensor, test_labels: torch.Tensor) -> float:
    """Accuracy of always answering the most frequent training label: the floor a probe must beat."""
    train_labels, test_labels = torch.as_tensor(train_labels), torch.as_tensor(test_labels)
    if len(train_labels) == 0 or len(test_labels) == 0:
        raise ValueError("need training and test labels")
    return float((test_labels == torch.mode(train_labels).values).float().mean())
