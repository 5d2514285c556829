"""Training: the loop, evaluation, perplexity, learning-rate schedules and callbacks.

Chapter 3 (section 3.2, training) walks through one step of this loop; chapter 4 shows that its loss is
the cross-entropy formula; chapter 5 drives it from a live dashboard.

``fit`` is safe to interrupt: Ctrl-C (KeyboardInterrupt), a callback returning ``True`` or raising
``StopTraining`` ends it and returns the history so far, with the model left as trained up to then.
A NaN or infinite loss or gradient stops it and rolls the weights back to the last ones that gave a
finite loss.

The module is in four parts, all importable from here: ``train_config`` (``TrainConfig`` and the
learning-rate schedule), ``train_callbacks`` (``History``, ``Callback``, ``StopTraining``, ``perplexity``),
``train_hardware`` (precision, TF32, torch.compile) and this file, the loop itself (``fit``, ``evaluate``,
``make_optimizer``).
"""

from __future__ import annotations

import contextlib
import inspect
import math
import time
import warnings
from typing import Any, Callable, Iterable, Sequence

import torch
import torch.nn as nn

from . import distributed
from .data import as_tensor, get_batch, windows
from .runtime import resolve_device, seed_everything
from .train_callbacks import Callback, History, StopTraining, _as_callbacks, perplexity
from .train_config import OPTIMIZERS, PRECISIONS, SCHEDULES, TrainConfig, _is_int, _is_real, learning_rate  # noqa: F401
from .train_hardware import (_autocast, _compiled, _grad_scaler, _has_amp_grad_scaler, _ids_checked,  # noqa: F401
                             _tf32_matmuls, resolve_precision)

__all__ = [
    "TrainConfig",
    "History",
    "Callback",
    "StopTraining",
    "fit",
    "evaluate",
    "perplexity",
    "learning_rate",
    "make_optimizer",
    "resolve_precision",
    "seed_everything",
]

BROKEN = "its update broke the model (a non-finite loss, or weights so large that they overflow)"


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """AdamW with weight decay on matrices (dim >= 2) and none on biases, norms' gains.

    On CUDA (the model already moved there) it is torch's fused AdamW: one kernel for all tensors.
    With ``config.optimizer == "muon"``: ``optim.Muon``, Muon (at ``muon_lr``) for the hidden matrices and
    AdamW (at ``lr``) for embeddings, head, biases and gains; each group's ``lr_scale`` is its peak
    learning rate over ``lr``, which ``fit`` multiplies into the schedule.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
    if config.optimizer == "muon":
        from .optim import muon_optimizer

        return muon_optimizer(model, config)
    decay = [p for p in model.parameters() if p.requires_grad and p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.dim() < 2]
    groups = [
        {"params": decay, "weight_decay": config.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    params = decay + no_decay
    fused = bool(params) and all(p.is_cuda for p in params) and "fused" in inspect.signature(torch.optim.AdamW).parameters
    return torch.optim.AdamW(groups, lr=config.lr, betas=config.betas, **({"fused": True} if fused else {}))


def _block_size(model: nn.Module) -> int | None:
    return getattr(getattr(model, "config", None), "block_size", None)


def _checked_ids(name: str, ids: Any, model: nn.Module, seq_len: int) -> torch.Tensor:
    try:
        tensor = as_tensor(ids)
    except (TypeError, ValueError, RuntimeError) as err:
        raise ValueError(f"{name} must be a sequence of token ids: {err}") from err
    if len(tensor) < seq_len + 1:
        raise ValueError(
            f"{name} has {len(tensor)} tokens, fewer than one training window needs "
            f"(seq_len + 1 = {seq_len + 1}); use more text or a shorter seq_len"
        )
    vocab = model.config.vocab_size
    if len(tensor) and (int(tensor.min()) < 0 or int(tensor.max()) >= vocab):
        bad = int(tensor.min()) if int(tensor.min()) < 0 else int(tensor.max())
        raise ValueError(f"{name} contains token id {bad}, outside the model's vocabulary (0..{vocab - 1})")
    return tensor


@torch.no_grad()
def evaluate(
    model: nn.Module, ids: Sequence[int] | torch.Tensor, seq_len: int = 64, batch_size: int = 64,
    max_tokens: int | None = None,
) -> float:
    """Mean cross-entropy (nats per token) of ``model`` on ``ids``, over consecutive non-overlapping windows."""
    if not isinstance(model, nn.Module) or not hasattr(model, "config"):
        raise ValueError(f"model must be an lmlib model (RNNLM or GPT), got {type(model).__name__}")
    for name, value in (("seq_len", seq_len), ("batch_size", batch_size)):
        if not _is_int(value) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if max_tokens is not None and (not _is_int(max_tokens) or max_tokens < 1):
        raise ValueError(f"max_tokens must be a positive int or None, got {max_tokens!r}")
    block = _block_size(model)
    if block is not None and seq_len > block:
        raise ValueError(f"seq_len {seq_len} exceeds the model's block_size {block}")
    tensor = _checked_ids("ids", ids, model, seq_len)
    if max_tokens is not None:
        tensor = tensor[: max(max_tokens, seq_len) + 1]
    x_all, y_all = windows(tensor, seq_len)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    settings = contextlib.ExitStack()
    try:
        settings.enter_context(_ids_checked(model))  # every id was checked above: no check (and sync) per batch
        for start in range(0, len(x_all), batch_size):
            x = x_all[start : start + batch_size].to(device)
            y = y_all[start : start + batch_size].to(device)
            logits = model(x)
            total += float(
                torch.nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1), reduction="sum")
            )
            count += y.numel()
    finally:
        settings.close()
        model.train(was_training)
    return total / count


def _progress_bar(config: TrainConfig):
    if not config.progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=config.steps, desc="training", unit="step", leave=True)


def _batch_sampler(
    ids: torch.Tensor, batch_size: int, seq_len: int, generator: torch.Generator, on_device: bool | None = None
) -> Callable[[], tuple[torch.Tensor, torch.Tensor]]:
    """A function returning the next random batch ``(x, y)`` on ``ids``'s device.

    The start positions are drawn on the CPU exactly as ``data.get_batch`` draws them (so a seed gives the
    same batches on every device); off the CPU (``on_device``) they travel in pinned memory without waiting
    for the device, and the windows are gathered there.
    """
    if not (ids.device.type != "cpu" if on_device is None else on_device):
        return lambda: get_batch(ids, batch_size, seq_len, generator)
    offsets = torch.arange(seq_len + 1, device=ids.device)

    def next_batch() -> tuple[torch.Tensor, torch.Tensor]:
        starts = torch.randint(0, len(ids) - seq_len, (batch_size,), generator=generator)
        if ids.is_cuda:
            starts = starts.pin_memory()
        window = ids[starts.to(ids.device, non_blocking=True).unsqueeze(1) + offsets]
        return window[:, :-1], window[:, 1:]

    return next_batch


def fit(
    model: nn.Module,
    train_ids: Sequence[int] | torch.Tensor,
    val_ids: Sequence[int] | torch.Tensor | None = None,
    config: TrainConfig | None = None,
    *,
    callbacks: Iterable[Callback | Callable] | Callback | Callable | None = None,
    device: str | torch.device | None = None,
    optimizer: torch.optim.Optimizer | None = None,
) -> History:
    """Train ``model`` on random windows of ``train_ids``; evaluate on ``val_ids``; return the ``History``.

    Checks every input before any work. ``device`` defaults to CUDA when available, else the CPU (or
    ``$LMLIB_DEVICE``); the model stays there afterwards. ``config.precision`` and ``config.compile`` choose
    the arithmetic (see ``TrainConfig``). Pass an ``optimizer`` (e.g. from ``make_optimizer``) to continue
    training with its state. Inside a torch.distributed process group (``torchrun``, ``distributed.init()``),
    it trains data-parallel on all processes: see ``lmlib.distributed``.
    """
    config = TrainConfig() if config is None else config
    if not isinstance(config, TrainConfig):
        raise ValueError(f"config must be a TrainConfig, got {type(config).__name__}")
    if not isinstance(model, nn.Module) or not hasattr(model, "config"):
        raise ValueError(f"model must be an lmlib model (RNNLM or GPT), got {type(model).__name__}")
    block = _block_size(model)
    if block is not None and config.seq_len > block:
        raise ValueError(
            f"seq_len {config.seq_len} exceeds the model's block_size {block}; use seq_len <= {block}"
        )
    train_tensor = _checked_ids("train_ids", train_ids, model, config.seq_len)
    val_tensor = None if val_ids is None else _checked_ids("val_ids", val_ids, model, config.seq_len)
    hooks = _as_callbacks(callbacks)
    if optimizer is not None and not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer must be a torch.optim.Optimizer (e.g. from make_optimizer) or None, "
                        f"got {type(optimizer).__name__}")
    ctx = distributed.context()  # several processes under torchrun (chapter 8); otherwise every step is a no-op
    ctx.check_batch(config.batch_size)
    target = ctx.device(resolve_device(device))
    hooks = ctx.callbacks(hooks, StopTraining)  # with several processes: on rank 0, whose decision to stop is shared
    precision = resolve_precision(config.precision, target)

    model.to(target)
    net = ctx.wrap(model, target)
    train_tensor = train_tensor.to(target)
    optimizer = make_optimizer(model, config) if optimizer is None else optimizer
    generator = torch.Generator(device="cpu").manual_seed(config.seed)
    next_batch = _batch_sampler(train_tensor, config.batch_size, config.seq_len, generator)
    forward = _compiled(net) if config.compile else net
    scaler = _grad_scaler(target, precision)
    amp = lambda: _autocast(target, precision)  # noqa: E731 - a fresh context for every forward pass
    settings = contextlib.ExitStack()  # TF32 and the skipped id checks, undone when fit ends
    torch.manual_seed(config.seed + ctx.rank)  # dropout masks
    history = History()
    bar = _progress_bar(config) if ctx.is_main else None
    started = time.perf_counter()
    since_eval: list[float] = []
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    last_good = [p.detach().clone() for p in params]  # weights before the latest update, for a rollback
    copy_all = getattr(torch, "_foreach_copy_", None) or (lambda dst, src: [d.copy_(t) for d, t in zip(dst, src)])
    step = 0
    try:
        for cb in hooks:
            cb.on_start(config, history)
        settings.enter_context(_tf32_matmuls(target))
        settings.enter_context(_ids_checked(model))  # the ids were checked above, once
        for step in range(1, config.steps + 1):
            lr = learning_rate(step - 1, config)
            for group in optimizer.param_groups:
                group["lr"] = lr * group.get("lr_scale", 1.0)
            x, y = ctx.shard(*next_batch())  # with several processes, each takes its slice of the global batch
            try:
                with amp():
                    loss = model.loss(forward(x), y)
            except Exception as err:  # noqa: BLE001 - a compiler failure: go on without it if plain PyTorch works
                if forward is net:
                    raise
                with amp():
                    loss = model.loss(net(x), y)
                warnings.warn(f"torch.compile failed ({type(err).__name__}: {err}); training without it",
                              RuntimeWarning, stacklevel=2)
                forward = net
            optimizer.zero_grad(set_to_none=True)
            (loss if scaler is None else scaler.scale(loss)).backward()
            if scaler is not None:
                scaler.unscale_(optimizer)
            if config.grad_clip is not None:
                norm = torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            else:
                norm = torch.norm(torch.stack([p.grad.norm() for p in model.parameters() if p.grad is not None]))
            # The step's one host-device sync: the loss and the gradient norm, read together.
            value, norm = torch.stack([loss.detach().float(), norm.detach().float()]).tolist()
            value = ctx.mean(value, target)  # with several processes: the global batch's loss
            if not math.isfinite(value):
                with torch.no_grad():
                    for saved, p in zip(last_good, params):
                        p.copy_(saved)
                history.stop_reason = _diverged(
                    step, f"the training loss is {value}", lr, restored=step - 2 if step > 1 else None
                )
                break
            if not math.isfinite(norm) and scaler is None:  # (fp16 overflows now and then: the scaler skips those)
                history.stop_reason = _diverged(step, f"the gradient norm is {norm}", lr, restored=step - 1)
                break
            with torch.no_grad():
                copy_all(last_good, params)
            if scaler is None:
                optimizer.step()
            else:
                scaler.step(optimizer)  # skipped when the scaled gradients overflowed
                scaler.update()  # and the scale shrinks; it grows again after a run of good steps
            history.step_loss.append(value)
            history.lr.append(lr)
            history.tokens_seen += x.numel() * ctx.world
            since_eval.append(value)
            if bar is not None:
                bar.update(1)
                if step % 10 == 0 or step == config.steps:
                    bar.set_postfix(loss=f"{value:.3f}")
            stop = any([bool(cb.on_step(step, value, history)) for cb in hooks])
            if step % config.eval_interval == 0 or step == config.steps:
                if not _finite_after_update(model, x, y):  # never evaluate, or end, on weights that broke
                    _restore(params, last_good)
                    history.stop_reason = _diverged(step, BROKEN, lr, restored=step - 1)
                    break
                stop = _record_eval(model, history, step, since_eval, val_tensor, config, hooks, amp) or stop
                since_eval = []
            if ctx.any(stop, target):
                history.stop_reason = "stopped by callback"
                break
        else:
            history.stop_reason = "completed"
    except KeyboardInterrupt:
        history.stop_reason = "interrupted"
    except StopTraining:
        history.stop_reason = "stopped by callback"
    finally:
        try:  # a second Ctrl-C here skips the rest of this clean-up, never the return of the history
            optimizer.zero_grad(set_to_none=True)
            stopped = history.stop_reason in ("interrupted", "stopped by callback")
            if stopped and history.step_loss and not _finite_after_update(model, x, y):  # the last update broke it
                _restore(params, last_good)
                history.stop_reason = _diverged(step, BROKEN, lr, restored=step - 1)
            model.eval()
            if since_eval and history.stop_reason != "completed":
                _record_eval(model, history, len(history.step_loss), since_eval, val_tensor, config, [], amp)
        except KeyboardInterrupt:
            pass
        settings.close()
        model.eval()
        history.elapsed = time.perf_counter() - started
        if bar is not None:
            try:
                bar.close()
            except KeyboardInterrupt:
                pass
        for cb in hooks:
            try:
                cb.on_end(history)
            except (KeyboardInterrupt, StopTraining):  # training is over: its history is returned all the same
                pass
    return history


def _restore(params: list[torch.Tensor], saved: list[torch.Tensor]) -> None:
    with torch.no_grad():
        for p, s in zip(params, saved):
            p.copy_(s)


@torch.no_grad()
def _finite_after_update(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> bool:
    """Whether the updated model still works: no weight so large that a product with it overflows (above the
    square root of the largest float) and a finite loss on the last batch (eval mode: no dropout, no RNG)."""
    scaled = [p.abs().max().float() / math.sqrt(torch.finfo(p.dtype).max) for p in model.parameters() if p.numel()]
    if scaled and not torch.stack(scaled).max().item() < 1.0:  # NaN fails this too
        return False
    model.eval()
    try:
        return math.isfinite(model.loss(model(x), y).item())
    finally:
        model.train()


def _diverged(step: int, what: str, lr: float, restored: int | None) -> str:
    if restored is None:  # the very first loss: no update caused it
        message = (
            f"training stopped at step {step}: {what}, before any update. The model keeps its initial weights, "
            "which already give a non-finite loss: check that they are finite (and the data); the history so "
            "far is kept. No learning rate can fix this."
        )
    else:
        kept = "the initial weights" if not restored else f"the weights after step {restored}"
        message = (
            f"training stopped at step {step}: {what}. The model keeps {kept}, the last that gave a finite "
            f"loss; the history so far is kept. Try a learning rate smaller than {lr:g}."
        )
    warnings.warn(message, RuntimeWarning, stacklevel=3)
    return message


def _record_eval(
    model: nn.Module,
    history: History,
    step: int,
    since_eval: list[float],
    val_tensor: torch.Tensor | None,
    config: TrainConfig,
    hooks: list[Callback],
    amp: Callable = contextlib.nullcontext,
) -> bool:
    val = math.nan
    if val_tensor is not None:
        with amp():
            val = distributed.context().evaluate(evaluate, model, val_tensor, config.seq_len, config.eval_tokens)
    history.steps.append(step)
    history.train_loss.append(sum(since_eval) / len(since_eval))
    history.val_loss.append(val)
    since_eval.clear()  # recorded: a callback that stops training now must not have it recorded twice
    model.train()
    return any([bool(cb.on_eval(step, history)) for cb in hooks])
