"""Putting a pretrained language model to work: its features, a linear head on them, fine-tuning, and
batched greedy completion.

Chapter 6 uses all of it with the base checkpoint (``checkpoint.bundled("base")``): 6.1 probes and
fine-tunes it as a classifier and a tagger, 6.2 embeds passages with it, 6.3 completes prompts in batches,
6.4 fine-tunes it on dialogues (``finetune_lm``). Every loop shows a progress bar and can be interrupted
(Ctrl-C): it returns what was trained so far.

The model's features are the outputs of its final layer norm (one vector per position), captured with a
forward hook, so any lmlib GPT works without reaching into its blocks.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import _checks

__all__ = [
    "hidden_states", "pad_batch", "features", "LinearHead", "fit_linear", "FineTuned", "finetune_classifier",
    "predict", "tagging_features", "finetune_lm", "complete_batch", "continuation_logprob",
]


def _check_model(model: nn.Module) -> None:
    if not hasattr(model, "ln_f") or not hasattr(model, "config") or not hasattr(model.config, "block_size"):
        raise ValueError(f"expected an lmlib GPT (with a final layer norm ln_f), got {type(model).__name__}")


def _check_pool(pool: str) -> None:
    if pool not in ("mean", "last"):
        raise ValueError(f"pool must be 'mean' or 'last', got {pool!r}")


def _check_seqs(name: str, seqs: Sequence[Sequence[int]]) -> None:
    if isinstance(seqs, (str, bytes)) or not hasattr(seqs, "__len__") or not len(seqs):
        raise ValueError(f"{name} must be a non-empty list of token-id sequences, got {seqs!r:.80}")


def hidden_states(model: nn.Module, idx: torch.Tensor) -> torch.Tensor:
    """The final layer norm's output (B, T, n_embd) for token ids ``idx`` (B, T): one feature per position."""
    _check_model(model)
    captured: list[torch.Tensor] = []
    handle = model.ln_f.register_forward_hook(lambda _m, _i, out: captured.append(out))
    try:
        model(idx)
    finally:
        handle.remove()
    return captured[0]


def pad_batch(seqs: Sequence[Sequence[int]], max_len: int, pad: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Sequences cut to ``max_len`` and right-padded: ids (B, T) and lengths (B,). A causal model's
    positions never see the padding after them."""
    if isinstance(seqs, (str, bytes)) or not hasattr(seqs, "__len__"):
        raise ValueError(f"seqs must be a list of token-id sequences, got {type(seqs).__name__}")
    if not len(seqs):
        raise ValueError("no sequences to batch")
    max_len, pad = _checks.count("max_len", max_len), _checks.count("pad", pad, 0)
    cut = [list(s[:max_len]) for s in seqs]
    if any(len(s) == 0 for s in cut):
        raise ValueError("every sequence needs at least one token")
    width = max(len(s) for s in cut)
    ids = torch.full((len(cut), width), pad, dtype=torch.long)
    for i, s in enumerate(cut):
        ids[i, : len(s)] = torch.tensor(s, dtype=torch.long)
    return ids, torch.tensor([len(s) for s in cut])


def _pool(h: torch.Tensor, lengths: torch.Tensor, pool: str) -> torch.Tensor:
    lengths = lengths.to(h.device)
    if pool == "last":
        return h[torch.arange(h.shape[0], device=h.device), lengths - 1]
    if pool == "mean":
        mask = (torch.arange(h.shape[1], device=h.device)[None, :] < lengths[:, None]).unsqueeze(-1)
        return (h * mask).sum(1) / lengths[:, None]
    raise ValueError(f"pool must be 'mean' or 'last', got {pool!r}")


def _bar(total: int, desc: str, progress: bool):
    if not progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, leave=True)


@torch.no_grad()
def features(model: nn.Module, seqs: Sequence[Sequence[int]], pool: str = "mean", max_len: int | None = None,
             batch_size: int = 32, progress: bool = True) -> torch.Tensor:
    """One vector per sequence: the model's final features averaged over positions ("mean") or taken at
    the last position ("last"). Sequences are cut to ``max_len`` (default: the model's block size)."""
    _check_model(model)
    _check_pool(pool)
    batch_size = _checks.count("batch_size", batch_size)
    max_len = model.config.block_size if max_len is None else _checks.count("max_len", max_len)
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))  # similar lengths together: less padding
    out = torch.empty(len(seqs), model.config.n_embd)
    bar = _bar(len(seqs), "features", progress)
    try:
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            ids, lengths = pad_batch([seqs[i] for i in chunk], max_len)
            out[chunk] = _pool(hidden_states(model, ids.to(device)), lengths, pool).float().cpu()
            if bar is not None:
                bar.update(len(chunk))
    finally:
        model.train(was_training)
        if bar is not None:
            bar.close()
    return out


class LinearHead(nn.Module):
    """A linear classifier on standardised features: logits = W ((x - mean) / std) + b."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor, n_classes: int):
        super().__init__()
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)
        self.linear = nn.Linear(mean.numel(), n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear((x - self.mean) / self.std)


def fit_linear(x: torch.Tensor, y: Sequence[int], n_classes: int, steps: int = 300, lr: float = 0.05,
               weight_decay: float = 1e-3, seed: int = 0) -> LinearHead:
    """Logistic regression (softmax) on features ``x`` (N, D) with labels ``y``: full-batch AdamW."""
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise ValueError(f"x must be a floating-point tensor (N, D) of features, got {type(x).__name__}")
    n_classes = _checks.count("n_classes", n_classes)
    steps, lr = _checks.count("steps", steps, 0), _checks.positive_number("lr", lr)
    weight_decay = _checks.positive_number("weight_decay", weight_decay, zero=True)
    y = torch.as_tensor(_checks.labels("y", y, n_classes), dtype=torch.long)
    if x.dim() != 2 or x.shape[0] != len(y):
        raise ValueError(f"x must be (N, D) with one row per label; got x {tuple(x.shape)} and {len(y)} labels")
    if int(y.min()) < 0 or int(y.max()) >= n_classes:
        raise ValueError(f"labels must be in 0..{n_classes - 1}, got {int(y.min())}..{int(y.max())}")
    torch.manual_seed(seed)
    x = x.float()
    head = LinearHead(x.mean(0), x.std(0) + 1e-6, n_classes)
    opt = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=weight_decay)
    for _ in range(steps):
        loss = F.cross_entropy(head(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return head.eval()


@dataclass
class FineTuned:
    """A copy of the base model with a classification head, trained end to end, and its loss per step."""

    model: nn.Module
    head: nn.Module
    pool: str
    max_len: int
    losses: list[float] = field(default_factory=list)
    stop_reason: str = ""


def finetune_classifier(model: nn.Module, seqs: Sequence[Sequence[int]], labels: Sequence[int], n_classes: int,
                        steps: int = 100, batch_size: int = 16, lr: float = 1e-3, pool: str = "mean",
                        max_len: int | None = None, seed: int = 0, progress: bool = True,
                        head: nn.Module | None = None) -> FineTuned:
    """Fine-tune a copy of ``model`` with a linear head on (sequence, label) pairs; ``model`` is untouched.

    ``head`` (e.g. a ``fit_linear`` probe on the same pooled features) starts the head from what a linear
    probe learned instead of from random weights ("linear probing, then fine-tuning"); it is copied."""
    _check_model(model)
    _check_seqs("seqs", seqs)
    _check_pool(pool)
    n_classes = _checks.count("n_classes", n_classes)
    labels = _checks.labels("labels", labels, n_classes)
    if len(seqs) != len(labels):
        raise ValueError(f"need as many labels as sequences (got {len(seqs)} and {len(labels)}), at least one")
    steps, batch_size = _checks.count("steps", steps), _checks.count("batch_size", batch_size)
    lr = _checks.positive_number("lr", lr)
    if max_len is not None:
        _checks.count("max_len", max_len)
    labels_t = torch.as_tensor(labels, dtype=torch.long)
    torch.manual_seed(seed)
    net = copy.deepcopy(model).train()
    head = nn.Linear(net.config.n_embd, n_classes) if head is None else copy.deepcopy(head).train()
    result = FineTuned(net, head, pool, max_len or net.config.block_size)
    params = [*net.parameters(), *head.parameters()]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    gen = torch.Generator().manual_seed(seed)
    device = next(net.parameters()).device
    head.to(device)
    bar = _bar(steps, "fine-tuning", progress)
    try:
        for step in range(steps):
            lr_now = lr * min(1.0, (step + 1) / max(1, steps // 10)) * 0.5 * (1 + math.cos(math.pi * step / steps))
            for group in opt.param_groups:
                group["lr"] = lr_now
            pick = torch.randint(0, len(seqs), (batch_size,), generator=gen).tolist()
            ids, lengths = pad_batch([seqs[i] for i in pick], result.max_len)
            logits = head(_pool(hidden_states(net, ids.to(device)), lengths, pool))
            loss = F.cross_entropy(logits, labels_t[pick].to(device))
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            result.losses.append(loss.item())
            if bar is not None:
                bar.update(1)
        result.stop_reason = "completed"
    except KeyboardInterrupt:
        result.stop_reason = "interrupted"
    finally:
        if bar is not None:
            bar.close()
        net.eval()
    return result


@torch.no_grad()
def predict(tuned: FineTuned, seqs: Sequence[Sequence[int]], batch_size: int = 32) -> list[int]:
    """The fine-tuned classifier's predicted class for each sequence."""
    if not isinstance(tuned, FineTuned):
        raise ValueError(f"tuned must be what finetune_classifier returned, got {type(tuned).__name__}")
    batch_size = _checks.count("batch_size", batch_size)
    out = []
    device = next(tuned.model.parameters()).device
    for start in range(0, len(seqs), batch_size):
        ids, lengths = pad_batch(seqs[start : start + batch_size], tuned.max_len)
        logits = tuned.head(_pool(hidden_states(tuned.model, ids.to(device)), lengths, tuned.pool))
        out += logits.argmax(-1).tolist()
    return out


@torch.no_grad()
def tagging_features(model: nn.Module, windows: torch.Tensor, lookahead: int, batch_size: int = 32,
                     progress: bool = True) -> torch.Tensor:
    """Features to tag each position t of ``windows`` (N, W + lookahead): the model's features at t and at
    t + lookahead, concatenated, shape (N, W, 2 n_embd). A causal model sees only the left; reading the
    features ``lookahead`` positions later lets the tag depend on a little of what follows."""
    _check_model(model)
    lookahead, batch_size = _checks.count("lookahead", lookahead, 0), _checks.count("batch_size", batch_size)
    if not isinstance(windows, torch.Tensor):
        raise ValueError(f"windows must be a tensor of token ids (N, W + lookahead), got {type(windows).__name__}")
    if windows.dim() != 2 or windows.shape[1] <= lookahead:
        raise ValueError(f"windows must be (N, W + lookahead) with W >= 1; got {tuple(windows.shape)}, lookahead {lookahead}")
    was_training = model.training
    model.eval()
    width = windows.shape[1] - lookahead
    out = torch.empty(windows.shape[0], width, 2 * model.config.n_embd)
    bar = _bar(windows.shape[0], "features", progress)
    device = next(model.parameters()).device
    try:
        for start in range(0, windows.shape[0], batch_size):
            h = hidden_states(model, windows[start : start + batch_size].to(device)).float().cpu()
            out[start : start + batch_size] = torch.cat([h[:, :width], h[:, lookahead:]], dim=-1)
            if bar is not None:
                bar.update(h.shape[0])
    finally:
        model.train(was_training)
        if bar is not None:
            bar.close()
    return out


def finetune_lm(model: nn.Module, examples: Sequence[tuple[Sequence[int], Sequence[int]]], steps: int = 100,
                batch_size: int = 16, lr: float = 1e-3, seed: int = 0, progress: bool = True) -> list[float]:
    """Fine-tune ``model`` in place on (ids, mask) examples: next-token loss only where ``mask`` is 1 (the
    tokens the model should learn to write, e.g. the assistant's turns). Returns the loss of each step."""
    _check_model(model)
    if not examples:
        raise ValueError("no examples to fine-tune on")
    steps, batch_size = _checks.count("steps", steps), _checks.count("batch_size", batch_size)
    lr = _checks.positive_number("lr", lr)
    block = model.config.block_size
    for i, (ids, mask) in enumerate(examples):
        if len(ids) != len(mask) or len(ids) < 2:
            raise ValueError(f"example {i}: ids and mask must have the same length, at least 2 (got {len(ids)}, {len(mask)})")
        if len(ids) > block + 1:
            raise ValueError(f"example {i} has {len(ids)} tokens; the model reads at most block_size + 1 = {block + 1}")
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    device = next(model.parameters()).device
    losses: list[float] = []
    model.train()
    bar = _bar(steps, "fine-tuning", progress)
    try:
        for step in range(steps):
            for group in opt.param_groups:
                group["lr"] = lr * 0.5 * (1 + math.cos(math.pi * step / steps))
            pick = torch.randint(0, len(examples), (batch_size,), generator=gen).tolist()
            width = max(len(examples[i][0]) for i in pick) - 1
            x = torch.zeros(batch_size, width, dtype=torch.long)
            y = torch.zeros(batch_size, width, dtype=torch.long)
            w = torch.zeros(batch_size, width)
            for row, i in enumerate(pick):
                ids, mask = examples[i]
                n = len(ids) - 1
                x[row, :n] = torch.tensor(ids[:-1])
                y[row, :n] = torch.tensor(ids[1:])
                w[row, :n] = torch.tensor(mask[1:], dtype=torch.float)
            logits = model(x.to(device))
            per_token = F.cross_entropy(logits.reshape(-1, logits.size(-1)), y.to(device).reshape(-1), reduction="none")
            loss = (per_token * w.to(device).reshape(-1)).sum() / w.sum().clamp(min=1).to(device)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            losses.append(loss.item())
            if bar is not None:
                bar.update(1)
    except KeyboardInterrupt:
        pass
    finally:
        if bar is not None:
            bar.close()
        model.eval()
    return losses


@torch.no_grad()
def complete_batch(model: nn.Module, prompts: Sequence[Sequence[int]], max_new_tokens: int, stop: int | None = None,
                   prompt_len: int | None = None, pad: int = 10, batch_size: int = 64) -> list[list[int]]:
    """Greedy continuations of many prompts at once. Every prompt is cut to its last ``prompt_len`` tokens
    (or left-padded with ``pad`` up to it), so a batch shares positions and one key/value cache; a row
    stops at the token ``stop`` (not included)."""
    _check_model(model)
    _check_seqs("prompts", prompts)
    max_new_tokens, batch_size = _checks.count("max_new_tokens", max_new_tokens, 0), _checks.count("batch_size", batch_size)
    if prompt_len is not None:
        _checks.count("prompt_len", prompt_len)
    prompt_len = prompt_len or max(len(p) for p in prompts)
    if prompt_len + max_new_tokens > model.config.block_size:
        raise ValueError(f"prompt_len + max_new_tokens = {prompt_len + max_new_tokens} exceeds the block size "
                         f"{model.config.block_size}")
    model.eval()
    device = next(model.parameters()).device
    out: list[list[int]] = []
    for start in range(0, len(prompts), batch_size):
        chunk = [list(p)[-prompt_len:] for p in prompts[start : start + batch_size]]
        ids = torch.tensor([[pad] * (prompt_len - len(p)) + p for p in chunk], dtype=torch.long, device=device)
        logits, state = model.advance(ids)
        rows = [[] for _ in chunk]
        done = [False] * len(chunk)
        for _ in range(max_new_tokens):
            nxt = logits[:, -1].argmax(-1)
            for r, t in enumerate(nxt.tolist()):
                if not done[r]:
                    if t == stop:
                        done[r] = True
                    else:
                        rows[r].append(t)
            if all(done):
                break
            logits, state = model.advance(nxt.view(-1, 1), state)
        out += rows
    return out


@torch.no_grad()
def continuation_logprob(model: nn.Module, contexts: Sequence[Sequence[int]], continuations: Sequence[Sequence[int]],
                         batch_size: int = 32) -> list[float]:
    """Mean log-probability per token of each continuation after its context (contexts are cut from the
    left so that context + continuation fits the block size). Chapter 6.2 ranks passages by how well they
    predict a question."""
    _check_model(model)
    batch_size = _checks.count("batch_size", batch_size)
    if len(contexts) != len(continuations) or not contexts:
        raise ValueError(f"need one continuation per context, at least one (got {len(contexts)} and {len(continuations)})")
    block = model.config.block_size
    model.eval()
    device = next(model.parameters()).device
    out: list[float] = []
    for start in range(0, len(contexts), batch_size):
        rows, spans = [], []
        for ctx, cont in zip(contexts[start : start + batch_size], continuations[start : start + batch_size]):
            if not cont or len(cont) >= block:
                raise ValueError(f"a continuation must have 1 to {block - 1} tokens, got {len(cont)}")
            ctx = list(ctx)[-(block - len(cont)) :] or list(cont[:1])
            rows.append(ctx + list(cont))
            spans.append((len(ctx), len(ctx) + len(cont)))
        ids, lengths = pad_batch(rows, block)
        logp = model(ids.to(device)).log_softmax(-1).float().cpu()
        for r, (lo, hi) in enumerate(spans):
            targets = ids[r, lo:hi]
            out.append(float(logp[r, lo - 1 : hi - 1].gather(-1, targets[:, None]).mean()))
    return out
