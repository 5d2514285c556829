"""Exponential growth and parallel speed-up: doubling times, Amdahl's law, measured training throughput.

Chapter 2 (section 2.2, the CPU analogy) uses this module: it fits the doubling times of CPU transistor
counts and of language-model parameter counts, and measures lmlib's training throughput against the
number of CPU threads, next to Amdahl's law. Chapter 8 sets its miniature scaling law beside these fits.
"""

from __future__ import annotations

import math
import numbers
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Callable, Iterator, Sequence

import torch

from . import _checks
from .data import as_tensor
from .train import Callback, History, TrainConfig, fit

__all__ = [
    "ExponentialFit",
    "fit_exponential",
    "doubling_time",
    "amdahl_speedup",
    "fit_serial_fraction",
    "available_threads",
    "thread_counts",
    "threads",
    "Throughput",
    "measure_throughput",
]

MAX_THREADS = 2**16  # the most threads any function here accepts (torch takes a C int; no machine has more cores)


@dataclass(frozen=True)
class ExponentialFit:
    """count ≈ 2 ** (intercept + slope * year), fitted by least squares on log2(count)."""

    slope: float  # doublings per year
    intercept: float  # log2(count) extrapolated to year 0
    r2: float  # coefficient of determination of the fit on log2(count)

    @property
    def doubling_time(self) -> float:
        """Years per doubling: 1 / slope (``inf`` when the series does not grow)."""
        return math.inf if self.slope <= 0 else 1.0 / self.slope

    def predict(self, year: float) -> float:
        """The fitted count at ``year``."""
        return 2.0 ** (self.intercept + self.slope * year)


def _numbers(name: str, values: object) -> list[float]:
    """``values`` as floats, or ValueError naming ``name`` unless it is a sequence of real numbers."""
    if not _checks.iterable(values):
        raise ValueError(f"{name} must be a sequence of numbers, got {type(values).__name__}")
    values = list(values)
    if not all(_is_real(v) for v in values):
        raise ValueError(f"{name} must be a sequence of numbers, got {values!r:.200}")
    return [float(v) for v in values]


def _checked_series(years: Sequence[float], counts: Sequence[float]) -> tuple[list[float], list[float]]:
    xs, ys = _numbers("years", years), _numbers("counts", counts)
    if len(xs) != len(ys):
        raise ValueError(f"years and counts differ in length: {len(xs)} and {len(ys)}")
    if len(xs) < 2:
        raise ValueError("a fit needs at least two points")
    if any(not math.isfinite(c) or c <= 0 for c in ys):
        raise ValueError("counts must be finite and > 0 (their logarithm is fitted)")
    if any(not math.isfinite(x) for x in xs) or max(xs) == min(xs):
        raise ValueError("years must be finite and not all equal")
    return xs, ys


def fit_exponential(years: Sequence[float], counts: Sequence[float]) -> ExponentialFit:
    """Least-squares line through (year, log2(count)): the growth rate of an exponential trend."""
    xs, ys = _checked_series(years, counts)
    logs = [math.log2(c) for c in ys]
    n = len(xs)
    mx, my = sum(xs) / n, sum(logs) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, logs))
    slope = sxy / sxx
    intercept = my - slope * mx
    ss_res = sum((y - (intercept + slope * x)) ** 2 for x, y in zip(xs, logs))
    ss_tot = sum((y - my) ** 2 for y in logs)
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else 1.0
    return ExponentialFit(slope=slope, intercept=intercept, r2=r2)


def doubling_time(years: Sequence[float], counts: Sequence[float]) -> float:
    """Years per doubling of ``counts``, from the least-squares fit of log2(count) against year."""
    return fit_exponential(years, counts).doubling_time


def _is_real(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def amdahl_speedup(serial_fraction: float, n: float) -> float:
    """Amdahl's law: the speed-up on ``n`` workers when ``serial_fraction`` of the work cannot be split."""
    if not _is_real(serial_fraction) or not 0.0 <= serial_fraction <= 1.0:
        raise ValueError(f"serial_fraction must be in [0, 1], got {serial_fraction!r}")
    if not _is_real(n) or not n >= 1:
        raise ValueError(f"n must be >= 1, got {n!r}")
    s = float(serial_fraction)
    time_ratio = s + (1.0 - s) / n
    return 1.0 / time_ratio if time_ratio else math.inf  # no serial part and infinitely many workers


def fit_serial_fraction(n_threads: Sequence[float], speedups: Sequence[float]) -> float:
    """The serial fraction s of Amdahl's law that best fits measured speed-ups, clipped to [0, 1].

    The time ratio T(n)/T(1) = 1/speedup = s + (1 - s)/n is linear in s, so the least-squares s has a
    closed form. Points at n = 1 carry no information about s and are ignored.
    """
    ns, sp = _numbers("n_threads", n_threads), _numbers("speedups", speedups)
    if len(ns) != len(sp):
        raise ValueError(f"n_threads and speedups differ in length: {len(ns)} and {len(sp)}")
    if any(not math.isfinite(v) or v <= 0 for v in sp):
        raise ValueError("speedups must be finite and > 0")
    if any(not 1 <= n < math.inf for n in ns):
        raise ValueError("thread counts (n_threads) must be finite and >= 1")
    pairs = [(1.0 - 1.0 / n, 1.0 / v - 1.0 / n) for n, v in zip(ns, sp) if n > 1]
    if not pairs:
        raise ValueError("at least one measurement with more than one thread is needed")
    s = sum(a * b for a, b in pairs) / sum(a * a for a, _ in pairs)
    return min(1.0, max(0.0, s))


def available_threads() -> int:
    """CPUs this process may run on (its affinity where the OS reports one, else ``os.cpu_count()``)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def thread_counts(max_threads: int | None = None) -> list[int]:
    """1, 2, 4, ... up to ``max_threads`` (default: ``available_threads()``), always ending at it."""
    if max_threads is not None and (isinstance(max_threads, bool) or not isinstance(max_threads, numbers.Integral)
                                    or not 1 <= max_threads <= MAX_THREADS):
        raise ValueError(f"max_threads must be an int from 1 to {MAX_THREADS} or None, got {max_threads!r}")
    top = available_threads() if max_threads is None else int(max_threads)
    counts, n = [], 1
    while n < top:
        counts.append(n)
        n *= 2
    return counts + [top]


@contextmanager
def threads(n: int) -> Iterator[None]:
    """Run the block with torch using ``n`` intra-op threads; restore the previous number afterwards."""
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or not 1 <= n <= MAX_THREADS:
        raise ValueError(f"n must be an int from 1 to {MAX_THREADS}, got {n!r}")
    before = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(before)


@dataclass(frozen=True)
class Throughput:
    """Training throughput measured with a given number of threads (the fastest of the repeats)."""

    threads: int
    steps: int  # optimiser steps in the run
    tokens: int  # training tokens processed in the run
    seconds: float  # wall-clock time of the training loop (train.History.elapsed)

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds


class _Deadline(Callback):
    """Stops training once ``seconds`` have passed (the steps done so far still count)."""

    def __init__(self, seconds: float | None):
        self.seconds = seconds
        self.started = 0.0

    def on_start(self, config: TrainConfig, history: History) -> None:
        self.started = time.perf_counter()

    def on_step(self, step: int, loss: float, history: History) -> bool:
        return self.seconds is not None and time.perf_counter() - self.started > self.seconds


def measure_throughput(
    make_model: Callable[[], torch.nn.Module],
    train_ids: Sequence[int] | torch.Tensor,
    n_threads: Sequence[int],
    config: TrainConfig,
    repeats: int = 1,
    max_seconds: float | None = None,
    warmup_steps: int = 2,
) -> list[Throughput]:
    """Train a fresh ``make_model()`` with ``train.fit(config)`` on the CPU, once per thread count.

    Each thread count runs ``repeats`` times and keeps the fastest run (the one least disturbed by other
    work on the machine). A run stops after ``config.steps`` steps or after ``max_seconds``, whichever
    comes first, so the whole measurement takes at most about ``len(n_threads) * repeats * max_seconds``.
    A short warm-up run on one thread first loads the kernels; torch's thread count is restored afterwards. The
    numbers depend on the machine: they are measurements, not constants.
    """
    if not isinstance(config, TrainConfig):
        raise ValueError(f"config must be a train.TrainConfig, got {type(config).__name__}")
    if not callable(make_model):
        raise ValueError(f"make_model must be a function that returns a fresh model, got {type(make_model).__name__}")
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats must be a positive int, got {repeats!r}")
    if max_seconds is not None and not (_is_real(max_seconds) and max_seconds > 0):
        raise ValueError(f"max_seconds must be > 0 or None, got {max_seconds!r}")
    if isinstance(warmup_steps, bool) or not isinstance(warmup_steps, int) or warmup_steps < 0:
        raise ValueError(f"warmup_steps must be an int >= 0, got {warmup_steps!r}")
    if not _checks.iterable(n_threads):
        raise ValueError(f"n_threads must be a list of thread counts, got {type(n_threads).__name__}")
    counts = list(n_threads)
    if not counts or not all(isinstance(n, numbers.Integral) and not isinstance(n, bool) and 1 <= n <= MAX_THREADS
                             for n in counts):
        raise ValueError(f"n_threads must be thread counts (ints from 1 to {MAX_THREADS}), got {counts!r:.200}")
    counts = [int(n) for n in counts]
    ids = as_tensor(train_ids)
    config = replace(config, progress=False, eval_interval=config.steps)
    if warmup_steps > 0:  # on one thread: loads kernels and lazy imports, cheap even on a busy machine
        with threads(1):
            fit(make_model(), ids, None, replace(config, steps=warmup_steps, eval_interval=warmup_steps), device="cpu")
    results = []
    for n in counts:
        best: Throughput | None = None
        with threads(n):
            for _ in range(repeats):
                history = fit(make_model(), ids, None, config, callbacks=_Deadline(max_seconds), device="cpu")
                if history.stop_reason not in ("completed", "stopped by callback") or not history.step_loss:
                    raise RuntimeError(f"training with {n} threads ended without a result: {history.stop_reason}")
                run = Throughput(threads=n, steps=len(history.step_loss), tokens=history.tokens_seen,
                                 seconds=history.elapsed)
                if best is None or run.tokens_per_second > best.tokens_per_second:
                    best = run
        results.append(best)
    return results
