"""Scaling laws and compute: parameter and FLOP counts, power-law fits, compute-optimal model sizes.

Chapter 8 uses this module: section 8.1.1 (a miniature scaling law, set beside Kaplan et al. 2020 and
Hoffmann et al. 2022) and section 8.2.1 (compute and energy: 6ND, measured FLOP/s, utilisation).
Chapter 2's ``growth.fit_exponential`` is the same least-squares idea on a different axis: a power law
is a straight line on log-log axes, an exponential one on log-linear axes.

The stored results of the scripts that sweep model sizes and recipes (``scripts/scaling_sweep.py``,
``scripts/algorithmic_progress.py``) ship with lmlib: ``load_results(name)``.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import torch
import torch.nn as nn

__all__ = [
    "non_embedding_parameters",
    "training_flops",
    "gpt_flops_per_token",
    "PowerLaw",
    "fit_power_law",
    "ChinchillaFit",
    "fit_chinchilla",
    "measure_matmul_flops",
    "load_results",
    "RESULTS",
]

RESULTS = ("scaling_law", "algorithmic_progress")


def non_embedding_parameters(model: nn.Module) -> int:
    """Trainable parameters outside the token and position embedding tables: Kaplan et al.'s N.

    A head tied to the token embedding is not counted either (it is the same matrix).
    """
    skip = set()
    for module in model.modules():
        if isinstance(module, nn.Embedding):
            skip.update(id(p) for p in module.parameters())
    seen, total = set(), 0
    for p in model.parameters():
        if p.requires_grad and id(p) not in skip and id(p) not in seen:
            seen.add(id(p))
            total += p.numel()
    return total


def training_flops(n_params: float, n_tokens: float) -> float:
    """C = 6ND: floating-point operations to train N parameters on D tokens (2 forward, 4 backward)."""
    if not n_params > 0 or not n_tokens >= 0:
        raise ValueError(f"need n_params > 0 and n_tokens >= 0, got {n_params!r} and {n_tokens!r}")
    return 6.0 * n_params * n_tokens


def gpt_flops_per_token(config: Any, seq_len: int) -> float:
    """Training FLOPs per token of an lmlib GPT, attention included: 6 N_matmul + 12 L C T.

    N_matmul counts every weight that multiplies a vector (the blocks' matrices and the vocab x n_embd
    head; lookups and element-wise work are free), L the layers, C n_embd, T the sequence length: the
    count Chowdhery et al. (2022, appendix B) use for model-FLOPs utilisation.
    """
    C, L, V = config.n_embd, config.n_layer, config.vocab_size
    from .layers import gated_hidden_size

    mlp = 3 * C * gated_hidden_size(C) if getattr(config, "mlp", "gelu") == "swiglu" else 8 * C * C
    n_matmul = L * (4 * C * C + mlp) + V * C
    return 6.0 * n_matmul + 12.0 * L * C * seq_len


@dataclass(frozen=True)
class PowerLaw:
    """y = irreducible + coefficient * x ** (-exponent), fitted on log axes."""

    coefficient: float
    exponent: float
    irreducible: float  # the floor y approaches as x grows (0 for a pure power law)
    r2: float  # coefficient of determination of log(y - irreducible) against log(x)

    def predict(self, x: float) -> float:
        return self.irreducible + self.coefficient * float(x) ** (-self.exponent)


def _line_fit(xs: list[float], ys: list[float]) -> tuple[float, float, float]:
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
    intercept = my - slope * mx
    ss_res = sum((y - intercept - slope * x) ** 2 for x, y in zip(xs, ys))
    ss_tot = sum((y - my) ** 2 for y in ys)
    return slope, intercept, 1.0 - ss_res / ss_tot if ss_tot > 0 else 1.0


def fit_power_law(x: Sequence[float], y: Sequence[float], irreducible: bool = False) -> PowerLaw:
    """Least-squares line through (log x, log y): y = a x^-alpha (Kaplan et al.'s form).

    With ``irreducible=True``, y = E + a x^-alpha: E is chosen (a golden-section search on [0, min y))
    to give the straightest line through (log x, log(y - E)).
    """
    xs, ys = [float(v) for v in x], [float(v) for v in y]
    if len(xs) != len(ys) or len(xs) < 2 + irreducible:
        raise ValueError(f"need equally many x and y, at least {2 + irreducible}; got {len(xs)} and {len(ys)}")
    if min(xs) <= 0 or min(ys) <= 0 or max(xs) == min(xs):
        raise ValueError("x and y must be > 0 and x not all equal (their logarithms are fitted)")
    lx = [math.log(v) for v in xs]

    def fit(e: float) -> tuple[float, float, float]:
        return _line_fit(lx, [math.log(v - e) for v in ys])

    e = 0.0
    if irreducible:
        lo, hi = 0.0, min(ys) * (1 - 1e-6)
        g = (math.sqrt(5) - 1) / 2
        for _ in range(80):  # maximise r2 over the floor e
            a, b = hi - g * (hi - lo), lo + g * (hi - lo)
            if fit(a)[2] >= fit(b)[2]:
                hi = b
            else:
                lo = a
        e = (lo + hi) / 2
    slope, intercept, r2 = fit(e)
    return PowerLaw(coefficient=math.exp(intercept), exponent=-slope, irreducible=e, r2=r2)


@dataclass(frozen=True)
class ChinchillaFit:
    """L(N, D) = E + A / N**alpha + B / D**beta (Hoffmann et al. 2022, approach 3)."""

    E: float
    A: float
    B: float
    alpha: float
    beta: float

    def loss(self, n_params: float, n_tokens: float) -> float:
        return self.E + self.A / n_params**self.alpha + self.B / n_tokens**self.beta

    def optimal_params(self, flops: float) -> float:
        """N_opt(C): the size that minimises the loss at compute C = 6ND."""
        a, b = self.alpha, self.beta
        G = (a * self.A / (b * self.B)) ** (1.0 / (a + b))
        return G * (flops / 6.0) ** (b / (a + b))

    def optimal_tokens(self, flops: float) -> float:
        """D_opt(C) = C / (6 N_opt(C))."""
        return flops / (6.0 * self.optimal_params(flops))

    def tokens_per_parameter(self, flops: float) -> float:
        """D_opt / N_opt at compute C: about 20 in Hoffmann et al.'s fit at their scales."""
        return self.optimal_tokens(flops) / self.optimal_params(flops)


def fit_chinchilla(n_params: Sequence[float], n_tokens: Sequence[float], losses: Sequence[float],
                   exponents: Sequence[float] | None = None) -> ChinchillaFit:
    """Fit ``ChinchillaFit`` to measured losses: least squares on the relative error (pred - L) / L.

    For fixed exponents the model is linear in E, A and B, so each (alpha, beta) of a grid (``exponents``
    for both, default 0.02 to 1.5 in steps of 0.02) gets its exact least-squares E, A, B; the best pair
    with E, A, B >= 0 is refined on a grid ten times finer around it. Hoffmann et al. minimised a Huber
    loss of log L with L-BFGS instead; for small residuals the relative error and the log error agree,
    and the grid cannot stop in a local minimum.
    """
    import numpy as np

    N, D, L = (np.asarray([float(v) for v in x]) for x in (n_params, n_tokens, losses))
    if not len(N) == len(D) == len(L) or len(L) < 5:
        raise ValueError(f"need equally many N, D and L, at least 5 (5 unknowns); got {len(N)}, {len(D)}, {len(L)}")
    if min(N.min(), D.min(), L.min()) <= 0:
        raise ValueError("N, D and L must be > 0")
    logN, logD = np.log(N), np.log(D)

    def best_on(alphas: np.ndarray, betas: np.ndarray) -> tuple[float, float, float, np.ndarray]:
        best = (math.inf, 0.0, 0.0, np.zeros(3))
        for alpha in alphas:
            # columns E, A, B for every beta at once, each row divided by L (relative error)
            xa = np.exp(-alpha * logN) / L
            for beta in betas:
                X = np.stack([1.0 / L, xa, np.exp(-beta * logD) / L], axis=1)
                coef, *_ = np.linalg.lstsq(X, np.ones_like(L), rcond=None)
                if coef.min() < 0:
                    continue
                err = float(((X @ coef - 1.0) ** 2).sum())
                if err < best[0]:
                    best = (err, float(alpha), float(beta), coef)
        return best

    grid = np.arange(0.02, 1.5001, 0.02) if exponents is None else np.asarray(exponents, dtype=float)
    err, alpha, beta, coef = best_on(grid, grid)
    if not math.isfinite(err):
        raise RuntimeError("no exponents on the grid give non-negative E, A and B")
    step = float(grid[1] - grid[0]) if len(grid) > 1 else 0.02
    fine = np.arange(-step, step + 1e-9, step / 10)
    err2, alpha2, beta2, coef2 = best_on(np.clip(alpha + fine, 1e-3, None), np.clip(beta + fine, 1e-3, None))
    if err2 <= err:
        alpha, beta, coef = alpha2, beta2, coef2
    E, A, B = (float(c) for c in coef)
    return ChinchillaFit(E=E, A=A, B=B, alpha=alpha, beta=beta)


def measure_matmul_flops(n: int = 1024, seconds: float = 1.0, dtype: torch.dtype = torch.float32,
                         device: str | torch.device = "cpu") -> float:
    """FLOP/s of ``n`` x ``n`` matrix products on this machine (2 n^3 each), the best of repeated bursts.

    A measurement, not a constant: it depends on the machine, the threads torch uses and other programs.
    """
    if n < 1 or not seconds > 0:
        raise ValueError(f"need n >= 1 and seconds > 0, got {n!r} and {seconds!r}")
    a = torch.randn(n, n, dtype=dtype, device=device)
    b = torch.randn(n, n, dtype=dtype, device=device)
    sync = torch.cuda.synchronize if torch.device(device).type == "cuda" else (lambda: None)
    (a @ b).sum()  # warm-up
    sync()
    best, deadline = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        reps, t0 = 0, time.perf_counter()
        while reps < 2 or time.perf_counter() - t0 < 0.05:
            a @ b
            reps += 1
        sync()
        best = max(best, 2.0 * n**3 * reps / (time.perf_counter() - t0))
    return best


def load_results(name: str) -> dict[str, Any]:
    """The stored results of a sweep script that ship with lmlib (``RESULTS`` names them)."""
    if name not in RESULTS:
        raise ValueError(f"no stored results {name!r}; lmlib ships {list(RESULTS)}")
    path = Path(__file__).resolve().parent / "assets" / f"{name}.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; run scripts/{'scaling_sweep' if name == 'scaling_law' else name}.py")
    return json.loads(path.read_text())
