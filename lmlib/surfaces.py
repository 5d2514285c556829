"""Two-parameter loss surfaces to walk on: chapter 4's pictures of gradient descent, momentum and Adam.

Chapter 4 (section 4.2, the optimiser) explains this module. A ``Surface`` is a loss L(w, b) whose
gradient and Hessian sympy derives; ``line_fit_surface`` (squared error of a line through data points) and
``logistic_surface`` (cross-entropy of a logistic unit) build them; ``descent_path`` walks one with plain
gradient descent and ``optimizer_path`` with SGD, momentum or Adam, in plain Python floats so that a path
is the same on every machine.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from typing import Any, Sequence

import sympy as sp
import torch

from .symbolic import _exact_number

__all__ = ["Surface", "LINE_FIT_DATA", "LOGISTIC_DATA", "line_fit_surface", "logistic_surface", "descent_path",
           "optimizer_path"]


@dataclass
class Surface:
    """A loss L(w, b) of two parameters, its gradient and Hessian (derived by sympy), callable in Python.

    ``loss_f``, ``grad_f`` and ``hess_f`` take floats and use Python's ``math`` module, so paths computed
    with them are the same everywhere; ``loss_grid`` evaluates a grid for contour plots (numpy).
    """

    name: str
    w: sp.Symbol
    b: sp.Symbol
    loss: sp.Expr
    data: tuple[tuple[Any, Any], ...]
    gradient: sp.Matrix = field(init=False)
    hessian: sp.Matrix = field(init=False)

    def __post_init__(self) -> None:
        self.gradient = sp.Matrix([sp.diff(self.loss, self.w), sp.diff(self.loss, self.b)])
        self.hessian = sp.hessian(self.loss, (self.w, self.b))
        self._loss = sp.lambdify((self.w, self.b), self.loss, "math")
        self._grad = sp.lambdify((self.w, self.b), list(self.gradient), "math")
        self._hess = sp.lambdify((self.w, self.b), self.hessian.tolist(), "math")
        self._grid = sp.lambdify((self.w, self.b), self.loss, "numpy")

    def loss_f(self, w: float, b: float) -> float:
        """L(w, b)."""
        return float(self._loss(w, b))

    def grad_f(self, w: float, b: float) -> tuple[float, float]:
        """(dL/dw, dL/db)."""
        gw, gb = self._grad(w, b)
        return float(gw), float(gb)

    def hess_f(self, w: float, b: float) -> list[list[float]]:
        """The 2 x 2 Hessian at (w, b)."""
        return [[float(v) for v in row] for row in self._hess(w, b)]

    def largest_curvature(self, w: float, b: float) -> float:
        """The Hessian's largest eigenvalue at (w, b): plain gradient descent is stable there below 2 / it."""
        (hww, hwb), (_, hbb) = self.hess_f(w, b)
        return (hww + hbb) / 2 + math.sqrt(((hww - hbb) / 2) ** 2 + hwb * hwb)

    def loss_grid(self, ws: Any, bs: Any) -> Any:
        """L on the grid ``bs`` (rows) x ``ws`` (columns), as a numpy array (for a contour plot)."""
        import numpy as np

        W, B = np.meshgrid(np.asarray(ws, dtype=float), np.asarray(bs, dtype=float))
        return self._grid(W, B)


LINE_FIT_DATA = ((0, 1), (1, 2), (2, 4), (3, 5))  # (x, t) pairs of chapter 4's loss surface
LOGISTIC_DATA = ((1, 0), (2, 0), (3, 1), (4, 0), (5, 1), (6, 1))  # (x, label) pairs


def _data_pairs(data: Any) -> tuple[tuple[sp.Expr, sp.Expr], ...]:
    """``data`` as exact (x, t) pairs, or ValueError unless it is a non-empty sequence of pairs of numbers."""
    if isinstance(data, (str, bytes)) or not isinstance(data, Sequence) or not data:
        raise ValueError(f"data must be a non-empty sequence of (x, t) pairs of numbers, got {data!r:.100}")
    for pair in data:
        if not isinstance(pair, Sequence) or isinstance(pair, (str, bytes)) or len(pair) != 2:
            raise ValueError(f"data must hold (x, t) pairs of numbers; found {pair!r:.100}")
    return tuple((_exact_number("data", x), _exact_number("data", t)) for x, t in data)


def _start_point(start: Any) -> tuple[float, float]:
    if (isinstance(start, (str, bytes)) or not isinstance(start, Sequence) or len(start) != 2
            or not all(isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v) for v in start)):
        raise ValueError(f"start must be a pair of finite numbers (w, b), got {start!r:.100}")
    return float(start[0]), float(start[1])


def _check_walk(surface: Any, lr: Any, steps: Any) -> None:
    if not isinstance(surface, Surface):
        raise TypeError(f"surface must be a Surface (e.g. line_fit_surface()), got {type(surface).__name__}")
    if isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not 0 <= lr < math.inf:
        raise ValueError(f"lr must be a finite number >= 0, got {lr!r}")
    if isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or steps < 0:
        raise ValueError(f"steps must be an int >= 0, got {steps!r}")


def line_fit_surface(data: Sequence[tuple[Any, Any]] = LINE_FIT_DATA) -> Surface:
    """Mean squared error of a linear neuron t ~ w x + b on ``data`` (pairs (x, t)): an exact bowl.

    Its Hessian is the same everywhere, so sympy gives the learning rates where plain gradient descent
    starts to oscillate (1 / lambda_max) and to diverge (2 / lambda_max) exactly.
    """
    w, b = sp.symbols("w b", real=True)
    pairs = _data_pairs(data)
    loss = sp.Add(*[(w * x + b - t) ** 2 for x, t in pairs]) / len(pairs)
    return Surface("mean squared error of a linear neuron", w, b, sp.expand(loss), pairs)


def logistic_surface(data: Sequence[tuple[Any, Any]] = LOGISTIC_DATA) -> Surface:
    """Mean binary cross-entropy of logistic regression sigma(w x + b) on ``data`` (pairs (x, label))."""
    w, b = sp.symbols("w b", real=True)
    pairs = _data_pairs(data)
    # -(t log sigma(z) + (1 - t) log(1 - sigma(z))) = log(1 + exp(z)) - t z
    loss = sp.Add(*[sp.log(1 + sp.exp(w * x + b)) - t * (w * x + b) for x, t in pairs]) / len(pairs)
    return Surface("binary cross-entropy of logistic regression", w, b, loss, pairs)


def descent_path(surface: Surface, lr: float, start: tuple[float, float], steps: int,
                 max_loss: float = 1e6) -> list[tuple[float, float]]:
    """Plain gradient descent theta <- theta - lr * grad L(theta) from ``start``: the points visited.

    Stops early (keeping the first point beyond) when the loss exceeds ``max_loss``: the run diverged.
    """
    _check_walk(surface, lr, steps)
    if isinstance(max_loss, bool) or not isinstance(max_loss, numbers.Real):
        raise ValueError(f"max_loss must be a number, got {max_loss!r}")
    w, b = _start_point(start)
    path = [(w, b)]
    for _ in range(steps):
        gw, gb = surface.grad_f(w, b)
        w, b = w - lr * gw, b - lr * gb
        path.append((w, b))
        if not surface.loss_f(w, b) <= max_loss:
            break
    return path


def optimizer_path(surface: Surface, optimizer: str, lr: float, start: tuple[float, float], steps: int,
                   momentum: float = 0.9, betas: tuple[float, float] = (0.9, 0.999)) -> list[tuple[float, float]]:
    """The points a ``torch.optim`` optimiser visits on ``surface`` (float64, two parameters).

    ``optimizer`` is ``"sgd"`` (plain gradient descent), ``"momentum"`` (SGD with heavy-ball momentum)
    or ``"adam"``. The gradient comes from the surface's sympy-derived formula.
    """
    _check_walk(surface, lr, steps)
    theta = torch.tensor(_start_point(start), dtype=torch.float64, requires_grad=True)
    if optimizer == "sgd":
        opt: torch.optim.Optimizer = torch.optim.SGD([theta], lr=lr)
    elif optimizer == "momentum":
        opt = torch.optim.SGD([theta], lr=lr, momentum=momentum)
    elif optimizer == "adam":
        opt = torch.optim.Adam([theta], lr=lr, betas=betas)
    else:
        raise ValueError(f"optimizer must be 'sgd', 'momentum' or 'adam', got {optimizer!r}")
    def point() -> tuple[float, float]:
        w, b = theta.detach().tolist()
        return float(w), float(b)

    path = [point()]
    for _ in range(steps):
        opt.zero_grad()
        theta.grad = torch.tensor(surface.grad_f(*point()), dtype=torch.float64)
        opt.step()
        path.append(point())
    return path
