"""How ``fit`` trains: the ``TrainConfig`` dataclass (every setting checked when it is made) and the
learning-rate schedule it describes. Part of ``lmlib.train``, which re-exports everything here.
"""

from __future__ import annotations

import math
import numbers
import operator
from dataclasses import dataclass
from typing import Any

from .data import MAX_BATCH_TOKENS

__all__ = ["TrainConfig", "learning_rate", "SCHEDULES", "PRECISIONS", "OPTIMIZERS"]

SCHEDULES = ("constant", "cosine")
OPTIMIZERS = ("adamw", "muon")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
MAX_LR = 1e30  # largest accepted lr (AdamW moves each weight by about lr on a step)
MAX_STEP = 1e38  # AdamW's step sizes are held in float32, whose largest value is about 3.4e38
MAX_NS_STEPS = 100  # Muon's Newton-Schulz iterations: 5 reach the iteration's fixed point in practice


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


@dataclass
class TrainConfig:
    """How to train: steps, batch shape, optimiser and schedule, evaluation, seed."""

    steps: int = 500  # optimiser steps (one batch each)
    batch_size: int = 32  # windows per batch
    seq_len: int = 64  # tokens per window (must not exceed a GPT's block_size)
    lr: float = 3e-3  # peak learning rate of AdamW
    seed: int = 0  # seeds batch sampling and dropout masks; the weights' initialisation is seeded by the caller
    weight_decay: float = 0.0  # AdamW decoupled weight decay, applied to matrices only
    betas: tuple[float, float] = (0.9, 0.99)  # AdamW moment decay rates
    grad_clip: float | None = 1.0  # clip the global gradient norm to this (None: no clipping)
    schedule: str = "constant"  # "constant" or "cosine" (decay to min_lr_ratio * lr at the last step)
    warmup_steps: int = 0  # linear warm-up from 0 to lr over this many steps
    min_lr_ratio: float = 0.1  # final lr as a fraction of lr, for the cosine schedule
    eval_interval: int = 100  # evaluate on validation data every this many steps (and at the end)
    eval_tokens: int = 16_384  # validation tokens used per evaluation (the first ones, so it repeats)
    progress: bool = True  # show a tqdm progress bar
    # "fp32"; "bf16" or "fp16": matmuls in 16 bits under autocast, weights kept in fp32 ("fp16" with a grad
    # scaler, for GPUs without bf16 such as a T4); "auto": fp32 on the CPU, bf16 on a GPU that has it, else fp16
    precision: str = "auto"
    compile: bool = False  # train through torch.compile(model): slow first steps, faster ones after
    optimizer: str = "adamw"  # "adamw", or "muon": Muon for hidden matrices, AdamW for the rest (chapter 8)
    muon_lr: float = 0.02  # Muon's peak learning rate (follows the same warm-up and schedule as lr)
    muon_ns_steps: int = 5  # Newton-Schulz iterations per Muon step: fewer cost less, orthogonalise less exactly

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "seq_len", "eval_interval", "eval_tokens"):
            value = getattr(self, name)
            if not _is_int(value) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
            setattr(self, name, operator.index(value))
        if self.batch_size * (self.seq_len + 1) > MAX_BATCH_TOKENS:
            raise ValueError(
                f"batch_size * (seq_len + 1) = {self.batch_size * (self.seq_len + 1):,} tokens is more than one batch "
                f"may hold ({MAX_BATCH_TOKENS:,}); use a smaller batch_size or seq_len"
            )
        if not _is_real(self.lr) or not 0 < self.lr <= MAX_LR:
            raise ValueError(f"lr must be a finite number > 0, got {self.lr!r} (at most {MAX_LR:g} is accepted)")
        if not _is_int(self.seed) or not 0 <= self.seed < 2**64:
            raise ValueError(f"seed must be an int in [0, 2**64), got {self.seed!r}")
        self.seed = operator.index(self.seed)
        if not _is_real(self.weight_decay) or not 0 <= self.weight_decay < math.inf:
            raise ValueError(f"weight_decay must be a finite number >= 0, got {self.weight_decay!r}")
        if (isinstance(self.betas, (str, bytes)) or not hasattr(self.betas, "__len__") or len(self.betas) != 2
                or not all(_is_real(b) and 0.0 <= b < 1.0 for b in self.betas)):
            raise ValueError(f"betas must be two numbers in [0, 1), got {self.betas!r}")
        self.betas = (float(self.betas[0]), float(self.betas[1]))
        if self.lr / (1.0 - self.betas[0]) > MAX_STEP or self.lr * self.weight_decay > MAX_STEP:
            raise ValueError(
                f"lr / (1 - betas[0]) and lr * weight_decay must be at most {MAX_STEP:g} (AdamW's first step and "
                f"decay factor, held in float32), got lr={self.lr!r}, betas={self.betas!r}, "
                f"weight_decay={self.weight_decay!r}"
            )
        if self.grad_clip is not None and not (_is_real(self.grad_clip) and self.grad_clip > 0):
            raise ValueError(f"grad_clip must be > 0 or None (a number), got {self.grad_clip!r}")
        if not isinstance(self.schedule, str) or self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        if not _is_int(self.warmup_steps) or not 0 <= self.warmup_steps < self.steps:
            raise ValueError(f"warmup_steps must be an int in [0, steps), got {self.warmup_steps!r}")
        self.warmup_steps = operator.index(self.warmup_steps)
        if not _is_real(self.min_lr_ratio) or not 0.0 <= self.min_lr_ratio <= 1.0:
            raise ValueError(f"min_lr_ratio must be a number in [0, 1], got {self.min_lr_ratio!r}")
        if not isinstance(self.progress, bool):
            raise ValueError(f"progress must be True or False, got {self.progress!r}")
        if not isinstance(self.precision, str) or self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if not isinstance(self.compile, bool):
            raise ValueError(f"compile must be True or False, got {self.compile!r}")
        if not isinstance(self.optimizer, str) or self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if not _is_real(self.muon_lr) or not math.isfinite(self.muon_lr) or self.muon_lr <= 0:
            raise ValueError(f"muon_lr must be a finite number > 0, got {self.muon_lr!r}")
        if not _is_int(self.muon_ns_steps) or not 1 <= self.muon_ns_steps <= MAX_NS_STEPS:
            raise ValueError(f"muon_ns_steps must be an int from 1 to {MAX_NS_STEPS}, got {self.muon_ns_steps!r}")
        self.muon_ns_steps = operator.index(self.muon_ns_steps)


def learning_rate(step: int, config: TrainConfig) -> float:
    """Learning rate for optimiser step ``step`` (0-based): linear warm-up, then constant or cosine."""
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
    if not _is_int(step) or step < 0:
        raise ValueError(f"step must be an int >= 0 (0-based), got {step!r}")
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    if config.schedule == "constant":
        return config.lr
    span = max(1, config.steps - 1 - config.warmup_steps)
    progress = min(1.0, (step - config.warmup_steps) / span)
    floor = config.lr * config.min_lr_ratio
    return floor + 0.5 * (config.lr - floor) * (1.0 + math.cos(math.pi * progress))
