"""Where a training step spends its time: ``torch.profiler`` on one step, grouped and summed.

Chapter 7 (section 7.2.2, profiling) uses these helpers to read the profile of an lmlib training step,
to split it into matrix multiplication and the rest, and to time one change before and after.

``TrainingStep`` does what one iteration of ``train.fit`` does (batch, forward and loss, backward,
gradient clipping, optimiser step), with each phase labelled by ``torch.profiler.record_function`` so
the profile can be read per phase as well as per operator.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

import torch
import torch.nn as nn

from .data import as_tensor, get_batch
from .train import TrainConfig, make_optimizer

__all__ = [
    "PHASES",
    "MATMUL_OPS",
    "TrainingStep",
    "OperatorRow",
    "profile_steps",
    "operator_rows",
    "matmul_share",
    "phase_times",
    "time_steps",
    "fused_adamw",
]

PHASES = ("batch", "forward", "backward", "clip", "optimizer")  # record_function labels, in step order
# ATen operators that do matrix multiplication (their self time is the multiply itself). ``aten::linear``
# and ``aten::matmul`` only dispatch to these, so they carry almost no self time of their own.
MATMUL_OPS = frozenset({"aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm", "aten::addmv", "aten::mv",
                        "aten::dot", "aten::_mkldnn_matmul", "aten::addbmm"})


class TrainingStep:
    """One ``fit`` iteration as a callable: ``step()`` trains on one batch and returns its loss.

    With a ``clock`` (e.g. ``time.process_time``) it also adds up the seconds each phase takes, in
    ``phase_seconds``, over all calls (``calls`` counts them): a profile of the phases without the profiler.
    """

    def __init__(self, model: nn.Module, ids, config: TrainConfig, optimizer: torch.optim.Optimizer | None = None,
                 clock: Callable[[], float] | None = None):
        if not isinstance(config, TrainConfig):
            raise ValueError(f"config must be a TrainConfig, got {type(config).__name__}")
        self.model = model
        self.ids = as_tensor(ids)
        self.config = config
        self.optimizer = make_optimizer(model, config) if optimizer is None else optimizer
        self.generator = torch.Generator().manual_seed(config.seed)
        self.clock = clock
        self.reset_timings()
        model.train()

    def reset_timings(self) -> None:
        """Forget the phase times and the call count (e.g. after warm-up steps)."""
        self.phase_seconds = dict.fromkeys(PHASES, 0.0)
        self.calls = 0

    @contextlib.contextmanager
    def _phase(self, name: str) -> Iterator[None]:
        start = self.clock() if self.clock else 0.0
        with torch.profiler.record_function(name):
            yield
        if self.clock:
            self.phase_seconds[name] += self.clock() - start

    def __call__(self) -> float:
        with self._phase("batch"):
            x, y = get_batch(self.ids, self.config.batch_size, self.config.seq_len, self.generator)
        with self._phase("forward"):
            loss = self.model.loss(self.model(x), y)
        with self._phase("backward"):
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
        with self._phase("clip"):
            if self.config.grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        with self._phase("optimizer"):
            self.optimizer.step()
        self.calls += 1
        return loss.item()


def fused_adamw(model: nn.Module, config: TrainConfig) -> torch.optim.AdamW:
    """``train.make_optimizer``'s AdamW (same groups and settings) with ``fused=True``: one kernel updates
    every parameter, instead of a Python loop of small operations per parameter."""
    plain = make_optimizer(model, config)
    groups = [{"params": g["params"], "weight_decay": g["weight_decay"]} for g in plain.param_groups]
    try:
        return torch.optim.AdamW(groups, lr=config.lr, betas=config.betas, fused=True)
    except (RuntimeError, TypeError) as err:  # torch < 2.4 has no fused AdamW on the CPU
        raise RuntimeError(f"this torch ({torch.__version__}) cannot fuse AdamW on this device: {err}") from err


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence file descriptor 2 (C++ libraries write there directly; some torch builds log a line at
    every profiler start and stop). Python exceptions still propagate as usual."""
    fd = 2  # the process's stderr, whatever Python's sys.stderr is (Jupyter replaces it)
    try:
        sys.stderr.flush()
    except (AttributeError, OSError, ValueError):
        pass
    saved = os.dup(fd)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), fd)
            try:
                yield
            finally:
                os.dup2(saved, fd)
    finally:
        os.close(saved)


def profile_steps(step: Callable[[], float], steps: int = 5, warmup: int = 2,
                  record_shapes: bool = False, quiet: bool = True) -> torch.profiler.profile:
    """Run ``step`` ``warmup`` times unrecorded (first calls allocate and pick kernels), then ``steps`` times
    under ``torch.profiler`` on the CPU; return the profiler (``.key_averages()`` for the table).

    ``quiet`` silences what C++ libraries print to stderr while the profiler runs."""
    if not callable(step):
        raise TypeError(f"step must be a function that runs one training step, got {type(step).__name__}")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (steps, warmup)) or steps < 1 or warmup < 0:
        raise ValueError(f"need steps >= 1 and warmup >= 0 (ints), got steps={steps!r}, warmup={warmup!r}")
    for _ in range(warmup):
        step()
    activities = [torch.profiler.ProfilerActivity.CPU]
    with (_quiet_stderr() if quiet else contextlib.nullcontext()):
        with torch.profiler.profile(activities=activities, record_shapes=record_shapes) as prof:
            for _ in range(steps):
                step()
    return prof


@dataclass(frozen=True)
class OperatorRow:
    """One operator of a profile: total self time (ms), share of all self time, number of calls."""

    name: str
    self_ms: float
    share: float
    calls: int


def operator_rows(prof, top: int | None = 10) -> list[OperatorRow]:
    """Operators sorted by self CPU time, largest first (``top=None``: all of them).

    The labels of ``TrainingStep``'s phases and the optimiser's own label appear too: their self time
    is the Python work between operators, which is time spent as well.
    """
    events = list(prof.key_averages())
    total = sum(e.self_cpu_time_total for e in events) or 1.0
    rows = sorted((OperatorRow(e.key, e.self_cpu_time_total / 1000.0, e.self_cpu_time_total / total, e.count)
                   for e in events), key=lambda r: r.self_ms, reverse=True)
    return rows if top is None else rows[:top]


def matmul_share(rows: Iterable[OperatorRow] | Iterable[tuple[str, float]]) -> float:
    """The fraction of self time spent in matrix multiplication (``MATMUL_OPS``).

    Accepts ``OperatorRow`` objects (all operators of a profile) or ``(name, self_time)`` pairs.
    """
    pairs = [(r.name, r.self_ms) if isinstance(r, OperatorRow) else (r[0], float(r[1])) for r in rows]
    total = sum(t for _, t in pairs)
    if total <= 0:
        raise ValueError("the operators' self times add up to zero; profile at least one step")
    return sum(t for name, t in pairs if name in MATMUL_OPS) / total


def phase_times(prof, steps: int) -> dict[str, float]:
    """Milliseconds per step in each ``TrainingStep`` phase (CPU time including the operators inside)."""
    by_name = {e.key: e for e in prof.key_averages()}
    return {phase: by_name[phase].cpu_time_total / 1000.0 / steps for phase in PHASES if phase in by_name}


def time_steps(steps: dict[str, Callable[[], float]], n: int = 10, repeats: int = 5,
               clock: Callable[[], float] = time.perf_counter) -> dict[str, list[float]]:
    """Milliseconds per step of each callable: ``repeats`` rounds of ``n`` steps, the variants interleaved
    round by round so that a busy machine slows them alike. Compare their medians.

    ``clock`` is wall-clock time by default; ``time.process_time`` counts only the CPU time of this
    process, which other programs on a shared machine do not inflate (it adds up all threads' time).
    """
    if not isinstance(steps, dict) or not all(callable(f) for f in steps.values()):
        raise TypeError("steps must be a dict {name: function that runs one step}")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (n, repeats)) or n < 1 or repeats < 1:
        raise ValueError(f"need n >= 1 and repeats >= 1 (ints), got n={n!r}, repeats={repeats!r}")
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            start = clock()
            for _ in range(n):
                step()
            times[name].append((clock() - start) / n * 1000.0)
    return times

