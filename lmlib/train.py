"""Training: the loop, evaluation, perplexity, learning-rate schedules and callbacks.

Chapter 3 (section 3.2, training) walks through one step of this loop; chapter 4 shows that its loss is
the cross-entropy formula; chapter 5 drives it from a live dashboard.

``fit`` is safe to interrupt: Ctrl-C (KeyboardInterrupt), a callback returning ``True`` or raising
``StopTraining`` ends it and returns the history so far, with the model left as trained up to then.
A NaN or infinite loss or gradient stops it and rolls the weights back to the last ones that gave a
finite loss.
"""

from __future__ import annotations

import contextlib
import inspect
import math
import time
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterable, Sequence

import torch
import torch.nn as nn

from . import distributed
from .data import as_tensor, get_batch, windows
from .runtime import resolve_device, seed_everything

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

SCHEDULES = ("constant", "cosine")
OPTIMIZERS = ("adamw", "muon")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")


@dataclass
class TrainConfig:
    """How to train: steps, batch shape, optimiser and schedule, evaluation, seed."""

    steps: int = 500  # optimiser steps (one batch each)
    batch_size: int = 32  # windows per batch
    seq_len: int = 64  # tokens per window (must not exceed a GPT's block_size)
    lr: float = 3e-3  # peak learning rate of AdamW
    seed: int = 0  # seeds the weights' init is not touched; seeds batch sampling and dropout
    weight_decay: float = 0.0  # AdamW decoupled weight decay, applied to matrices only
    betas: tuple[float, float] = (0.9, 0.99)  # AdamW moment decay rates
    grad_clip: float | None = 1.0  # clip the global gradient norm to this (None: no clipping)
    schedule: str = "constant"  # "constant" or "cosine" (decay to min_lr_ratio * lr at the last step)
    warmup_steps: int = 0  # linear warm-up from 0 to lr over this many steps
    min_lr_ratio: float = 0.1  # final lr as a fraction of lr, for the cosine schedule
    eval_interval: int = 100  # evaluate on validation data every this many steps (and at the end)
    eval_tokens: int = 16_384  # validation tokens used per evaluation (the first ones, so it repeats)
    progress: bool = True  # show a tqdm progress bar
    optimizer: str = "adamw"  # "adamw", or "muon": Muon for hidden matrices, AdamW for the rest (chapter 8)
    muon_lr: float = 0.02  # Muon's peak learning rate (follows the same warm-up and schedule as lr)
    # "fp32"; "bf16" or "fp16": matmuls in 16 bits under autocast, weights kept in fp32 ("fp16" with a grad
    # scaler, for GPUs without bf16 such as a T4); "auto": fp32 on the CPU, bf16 on a GPU that has it, else fp16
    precision: str = "auto"
    compile: bool = False  # train through torch.compile(model): slow first steps, faster ones after

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "seq_len", "eval_interval", "eval_tokens"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if not isinstance(self.lr, (int, float)) or not math.isfinite(self.lr) or self.lr <= 0:
            raise ValueError(f"lr must be a finite number > 0, got {self.lr!r}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative int, got {self.seed!r}")
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay!r}")
        if len(self.betas) != 2 or not all(0.0 <= b < 1.0 for b in self.betas):
            raise ValueError(f"betas must be two numbers in [0, 1), got {self.betas!r}")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise ValueError(f"grad_clip must be > 0 or None, got {self.grad_clip!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        if not isinstance(self.warmup_steps, int) or not 0 <= self.warmup_steps < self.steps:
            raise ValueError(f"warmup_steps must be an int in [0, steps), got {self.warmup_steps!r}")
        if not 0.0 <= self.min_lr_ratio <= 1.0:
            raise ValueError(f"min_lr_ratio must be in [0, 1], got {self.min_lr_ratio!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if not isinstance(self.muon_lr, (int, float)) or not math.isfinite(self.muon_lr) or self.muon_lr <= 0:
            raise ValueError(f"muon_lr must be a finite number > 0, got {self.muon_lr!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if not isinstance(self.compile, bool):
            raise ValueError(f"compile must be True or False, got {self.compile!r}")


@dataclass
class History:
    """What happened during ``fit``. ``steps``, ``train_loss`` and ``val_loss`` are aligned lists."""

    steps: list[int] = field(default_factory=list)  # steps at which the model was evaluated
    train_loss: list[float] = field(default_factory=list)  # mean training loss since the previous evaluation
    val_loss: list[float] = field(default_factory=list)  # validation loss (nats/token); NaN without val data
    step_loss: list[float] = field(default_factory=list)  # training loss of every step
    lr: list[float] = field(default_factory=list)  # learning rate of every step
    tokens_seen: int = 0  # training tokens processed
    elapsed: float = 0.0  # seconds spent in fit
    stop_reason: str = ""  # "completed", "interrupted", "stopped by callback" or a non-finite-loss message

    @property
    def train_perplexity(self) -> list[float]:
        """exp(train_loss) at each evaluation."""
        return [perplexity(x) for x in self.train_loss]

    @property
    def val_perplexity(self) -> list[float]:
        """exp(val_loss) at each evaluation."""
        return [perplexity(x) for x in self.val_loss]

    @property
    def completed(self) -> bool:
        """True when every requested step ran."""
        return self.stop_reason == "completed"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable copy (for checkpoints)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "History":
        """Rebuild a history from ``to_dict``'s output (unknown keys are ignored)."""
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


class StopTraining(Exception):
    """Raise from a callback to end ``fit`` early (the history so far is returned)."""


class Callback:
    """Hooks ``fit`` calls; override the ones you need. Returning True from ``on_step`` stops training."""

    def on_start(self, config: TrainConfig, history: History) -> None:
        """Before the first step."""

    def on_step(self, step: int, loss: float, history: History) -> bool | None:
        """After each optimiser step (``step`` counts from 1)."""

    def on_eval(self, step: int, history: History) -> bool | None:
        """After each evaluation, when the aligned lists in ``history`` have grown by one."""

    def on_end(self, history: History) -> None:
        """After the last step, however training ended."""


class _FunctionCallback(Callback):
    def __init__(self, fn: Callable[[int, History], Any]):
        self.fn = fn

    def on_eval(self, step: int, history: History) -> bool | None:
        return self.fn(step, history)


def perplexity(loss: float) -> float:
    """exp(loss): the effective number of equally likely next tokens (``inf`` if it overflows)."""
    try:
        return math.exp(loss)
    except OverflowError:
        return math.inf


def learning_rate(step: int, config: TrainConfig) -> float:
    """Learning rate for optimiser step ``step`` (0-based): linear warm-up, then constant or cosine."""
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    if config.schedule == "constant":
        return config.lr
    span = max(1, config.steps - 1 - config.warmup_steps)
    progress = min(1.0, (step - config.warmup_steps) / span)
    floor = config.lr * config.min_lr_ratio
    return floor + 0.5 * (config.lr - floor) * (1.0 + math.cos(math.pi * progress))


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """AdamW with weight decay on matrices (dim >= 2) and none on biases, norms' gains.

    On CUDA (the model already moved there) it is torch's fused AdamW: one kernel for all tensors.
    With ``config.optimizer == "muon"``: ``optim.Muon``, Muon (at ``muon_lr``) for the hidden matrices and
    AdamW (at ``lr``) for embeddings, head, biases and gains; each group's ``lr_scale`` is its peak
    learning rate over ``lr``, which ``fit`` multiplies into the schedule.
    """
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
    if isinstance(seq_len, bool) or not isinstance(seq_len, int) or seq_len < 1:
        raise ValueError(f"seq_len must be a positive int, got {seq_len!r}")
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


def _as_callbacks(callbacks: Iterable[Callback | Callable] | Callback | Callable | None) -> list[Callback]:
    if callbacks is None:
        return []
    if isinstance(callbacks, Callback) or callable(callbacks):
        callbacks = [callbacks]
    out = []
    for cb in callbacks:
        if isinstance(cb, Callback):
            out.append(cb)
        elif callable(cb):
            out.append(_FunctionCallback(cb))
        else:
            raise ValueError(f"callbacks must be Callback objects or functions (step, history), got {cb!r}")
    return out


def _progress_bar(config: TrainConfig):
    if not config.progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=config.steps, desc="training", unit="step", leave=True)


# ----------------------------------------------------------------------------------- using the hardware
# On a GPU, fit keeps the device busy: ids checked once (not in every forward pass), batches gathered on
# the device from indices sent ahead in pinned memory, one host-device sync per step (the loss and the
# gradient norm read together), TF32 or 16-bit matmuls, fused AdamW, optionally torch.compile. On the
# CPU the same loop gives exactly the numbers it always gave in fp32.


def resolve_precision(precision: str, device: torch.device) -> str:
    """The precision ``fit`` trains with on ``device``: "auto" resolved, and checked that the device can."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    native_bf16 = device.type == "cuda" and _native_bf16(device)
    if precision == "auto":
        if device.type != "cuda":
            return "fp32"
        return "bf16" if native_bf16 else "fp16"
    if precision == "bf16" and device.type == "cuda" and not native_bf16:
        raise ValueError(
            f"precision 'bf16' needs a GPU with native bfloat16 (compute capability 8.0 or newer); "
            f"{torch.cuda.get_device_name(device)} has {'.'.join(map(str, torch.cuda.get_device_capability(device)))}: "
            "use 'fp16' (or 'auto', which picks it)"
        )
    if precision in ("bf16", "fp16") and device.type not in ("cuda", "cpu"):
        raise ValueError(f"precision {precision!r} is supported on 'cuda' and 'cpu', not {device.type!r}; use 'fp32'")
    if precision == "fp16" and device.type == "cpu" and not _has_amp_grad_scaler():
        raise ValueError(
            f"precision 'fp16' on the CPU needs torch >= 2.3 (this is {torch.__version__}); use 'bf16' or 'fp32'"
        )
    return precision


def _native_bf16(device: torch.device) -> bool:
    if getattr(torch.version, "hip", None):
        return torch.cuda.is_bf16_supported()
    return torch.cuda.get_device_capability(device) >= (8, 0)


def _has_amp_grad_scaler() -> bool:
    return "device" in inspect.signature(getattr(torch.amp, "GradScaler", lambda: None)).parameters


def _autocast(device: torch.device, precision: str):
    """A context that runs forward passes at ``precision`` (a no-op for fp32)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def _grad_scaler(device: torch.device, precision: str):
    """fp16 needs its loss scaled so that small gradients do not underflow; None for fp32 and bf16."""
    if precision != "fp16":
        return None
    if _has_amp_grad_scaler():
        return torch.amp.GradScaler(device.type)
    return torch.cuda.amp.GradScaler()  # torch < 2.3


@contextlib.contextmanager
def _tf32_matmuls(device: torch.device):
    """Inside: float32 matmuls on CUDA use TF32 tensor cores (torch's "high" precision); restored after."""
    if device.type != "cuda":
        yield
        return
    before = torch.get_float32_matmul_precision()
    if before == "highest":
        torch.set_float32_matmul_precision("high")
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(before)


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


def _compiled(model: nn.Module) -> Callable:
    """torch.compile(model), or the model itself (with a warning) where torch.compile is unavailable."""
    try:
        return torch.compile(model)
    except Exception as err:  # e.g. a Python that this torch's compiler does not support yet
        warnings.warn(f"torch.compile is unavailable here ({err}); training without it", RuntimeWarning, stacklevel=3)
        return model


def _ids_checked(model: nn.Module):
    """The model's ``ids_checked()`` context (forward passes skip the id-range check), if it has one."""
    checked = getattr(model, "ids_checked", None)
    return checked() if callable(checked) else contextlib.nullcontext()


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
    for cb in hooks:
        cb.on_start(config, history)
    params = [p for p in model.parameters() if p.requires_grad]
    last_good = [p.detach().clone() for p in params]  # weights before the latest update, for a rollback
    copy_all = getattr(torch, "_foreach_copy_", None) or (lambda dst, src: [d.copy_(t) for d, t in zip(dst, src)])
    step = 0
    try:
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
        optimizer.zero_grad(set_to_none=True)
        model.eval()
        if since_eval and history.stop_reason != "completed":
            try:
                _record_eval(model, history, len(history.step_loss), since_eval, val_tensor, config, [], amp)
            except KeyboardInterrupt:
                pass
        settings.close()
        model.eval()
        history.elapsed = time.perf_counter() - started
        if bar is not None:
            bar.close()
        for cb in hooks:
            cb.on_end(history)
    return history


def _diverged(step: int, what: str, lr: float, restored: int | None) -> str:
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
    model.train()
    return any([bool(cb.on_eval(step, history)) for cb in hooks])
