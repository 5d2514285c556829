"""Symbolic derivations checked against autograd: the mathematics of chapter 4.

Chapter 4 (the mathematical model) derives the article's formulas with sympy, shows them typeset, and
checks every result numerically against ``torch.autograd`` on random inputs. This module holds what it
needs, read in the chapter's order:

* ``Sigmoid`` (a sympy function that knows sigma' = sigma (1 - sigma)), ``to_torch`` (a sympy expression
  as a function of torch tensors) and ``elementwise_derivative_error`` (a derivative against autograd);
* ``softmax_cross_entropy`` (the loss -(1/N) sum_n sum_j y_nj log p_nj for any batch size N and number of
  classes K, and its gradient p - y over N) with ``softmax_cross_entropy_error``;
* ``TwoLayerNet`` (a network of the article's shape, its gradients by the chain rule layer by layer and
  by direct differentiation) with ``two_layer_error``;
* ``equation`` (an IPython ``Math`` object that renders in Jupyter and in the static book).

The article's worked example (its section 4.3), computed exactly with these tools, is ``lmlib.worked_example``;
the two-parameter loss surfaces that chapter 4 walks on with gradient descent are ``lmlib.surfaces``.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import sympy as sp
import torch
from sympy.printing.str import StrPrinter

from . import _checks

__all__ = [
    "Sigmoid",
    "sigmoid_formula",
    "relu",
    "to_torch",
    "elementwise_derivative_error",
    "CrossEntropyDerivation",
    "softmax_cross_entropy",
    "instantiate",
    "softmax_cross_entropy_error",
    "TwoLayerNet",
    "two_layer_torch_loss",
    "two_layer_error",
    "equation",
]

MAX_NET_SIZE = 32  # the widest layer TwoLayerNet.build accepts: checked before any symbol is made


# --------------------------------------------------------------------------- activation functions


class Sigmoid(sp.Function):
    """The logistic function sigma(z) = 1 / (1 + exp(-z)) as a sympy function.

    Its derivative is sigma(z) (1 - sigma(z)): chapter 4 derives that from the formula first, then uses
    this class so that derivatives of whole networks stay short. ``.rewrite(sympy.exp)`` gives the
    formula back; ``evalf`` works to any precision.
    """

    @classmethod
    def eval(cls, z: Any) -> Any:
        if z.is_zero:
            return sp.S.Half
        return None

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        if argindex != 1:
            raise sp.ArgumentIndexError(self, argindex)
        s = self.func(self.args[0])
        return s * (1 - s)

    def _eval_rewrite_as_exp(self, z: Any, **kwargs: Any) -> sp.Expr:
        return 1 / (1 + sp.exp(-z))

    def _eval_evalf(self, prec: int) -> sp.Expr:
        from mpmath.libmp import prec_to_dps

        return (1 / (1 + sp.exp(-self.args[0]))).evalf(prec_to_dps(prec) + 5)

    def _latex(self, printer: Any, exp: Any = None) -> str:
        body = r"\sigma\left(%s\right)" % printer._print(self.args[0])
        return body if exp is None else r"%s^{%s}" % (body, exp)


def sigmoid_formula(z: sp.Expr) -> sp.Expr:
    """The sigmoid written out: 1 / (1 + exp(-z)) (what ``Sigmoid(z).rewrite(sympy.exp)`` gives)."""
    return 1 / (1 + sp.exp(-z))


def relu(z: sp.Expr) -> sp.Expr:
    """ReLU(z) = max(0, z) as a sympy expression; its derivative is Heaviside(z)."""
    return sp.Max(0, z)


# --------------------------------------------------------------------------- sympy -> torch


def _tensor_fn(fn: Callable) -> Callable:
    return lambda v: fn(torch.as_tensor(v, dtype=v.dtype if isinstance(v, torch.Tensor) else torch.float64))


def _heaviside(v: Any, h0: Any = 0.5) -> torch.Tensor:
    v = torch.as_tensor(v, dtype=v.dtype if isinstance(v, torch.Tensor) else torch.float64)
    return torch.heaviside(v, torch.full_like(v, float(h0)))


def _maximum(*args: Any) -> torch.Tensor:
    tensors = [a for a in args if isinstance(a, torch.Tensor)]
    dtype = tensors[0].dtype if tensors else torch.float64
    out = torch.as_tensor(args[0], dtype=dtype)
    for a in args[1:]:
        out = torch.maximum(out, torch.as_tensor(a, dtype=dtype))
    return out


def _matrix(rows: Sequence[Sequence[Any]]) -> torch.Tensor:
    cells = [[torch.as_tensor(c, dtype=torch.float64) for c in row] for row in rows]
    shape = torch.broadcast_shapes(*(c.shape for row in cells for c in row))
    return torch.stack([torch.stack([c.expand(shape) for c in row]) for row in cells])


_NAMESPACE: dict[str, Any] = {
    "exp": _tensor_fn(torch.exp),
    "log": _tensor_fn(torch.log),
    "tanh": _tensor_fn(torch.tanh),
    "sqrt": _tensor_fn(torch.sqrt),
    "Abs": _tensor_fn(torch.abs),
    "Sigmoid": _tensor_fn(torch.sigmoid),
    "Heaviside": _heaviside,
    "Max": _maximum,
    "Matrix": _matrix,
    "ImmutableMatrix": _matrix,
    "ImmutableDenseMatrix": _matrix,
    "E": math.e,
    "pi": math.pi,
}


class _Printer(StrPrinter):
    """Plain sympy names (exp, Sigmoid, Heaviside, Max): the namespace above maps them to torch."""


def to_torch(expr: sp.Expr | sp.MatrixBase, args: Sequence[sp.Symbol]) -> Callable[..., torch.Tensor]:
    """A function of torch tensors (one per symbol in ``args``) that evaluates ``expr``.

    Supports what chapter 4 derives: +, *, powers, exp, log, tanh, sqrt, Abs, ``Sigmoid``, Heaviside,
    Max, and matrices (the result then has the matrix's shape first, the inputs' broadcast shape last).
    A constant expression is broadcast to the shape of the first argument.
    """
    if not isinstance(expr, (sp.Basic, sp.MatrixBase)):
        raise TypeError(f"expr must be a sympy expression or matrix, got {type(expr).__name__}")
    if not _checks.iterable(args):
        raise TypeError(f"args must be a sequence of sympy symbols, got {type(args).__name__}")
    args = list(args)
    if not all(isinstance(a, sp.Symbol) for a in args):
        raise TypeError(f"args must be sympy symbols (one per input), got {args!r:.200}")
    unlisted = sorted(expr.free_symbols - set(args), key=str)
    if unlisted:
        raise ValueError(f"args must list every symbol of expr; missing: {', '.join(map(str, unlisted)):.200}")
    safe = [sp.Symbol(f"arg{i}") for i in range(len(args))]  # names like W^{(1)}_{11} are not identifiers
    fn = sp.lambdify(safe, expr.xreplace(dict(zip(args, safe))), modules=[_NAMESPACE],
                     printer=_Printer({"order": "none"}))

    def call(*tensors: torch.Tensor) -> torch.Tensor:
        if len(tensors) != len(args):
            raise TypeError(f"this function takes {len(args)} tensor{'' if len(args) == 1 else 's'} (one per symbol "
                            f"of args), got {len(tensors)}")
        out = fn(*tensors)
        ref = next((t for t in tensors if isinstance(t, torch.Tensor)), None)
        dtype = ref.dtype if ref is not None else torch.float64
        out = torch.as_tensor(out, dtype=dtype)
        if ref is not None and out.dim() == 0:
            out = out.expand_as(ref).clone()
        return out

    return call


def elementwise_derivative_error(
    expr: sp.Expr, z: sp.Symbol, torch_fn: Callable[[torch.Tensor], torch.Tensor],
    derivative: sp.Expr | None = None, n: int = 1000, seed: int = 0, scale: float = 4.0,
) -> float:
    """Largest |symbolic derivative - autograd derivative| over ``n`` random float64 inputs.

    ``expr`` is f(z) in sympy, ``torch_fn`` the same function in torch; ``derivative`` defaults to
    ``sympy.diff(expr, z)``. Inputs are normal with standard deviation ``scale``, seeded with ``seed``.
    """
    derivative = sp.diff(expr, z) if derivative is None else derivative
    gen = torch.Generator().manual_seed(seed)
    zs = (torch.randn(n, generator=gen, dtype=torch.float64) * scale).requires_grad_(True)
    (grad,) = torch.autograd.grad(torch_fn(zs).sum(), zs)
    symbolic = to_torch(derivative, [z])(zs.detach())
    return float((symbolic - grad).abs().max())


# --------------------------------------------------------------------------- softmax cross-entropy


@dataclass
class CrossEntropyDerivation:
    """The article's loss for a batch of N examples and K classes, and its gradient, all symbolic.

    ``loss`` is -(1/N) sum_n sum_j y[n, j] log softmax(z[n, :])_j; ``gradient`` its derivative with
    respect to the logit z[m, i] for 1 <= m <= N, 1 <= i <= K, as sympy derives it (before using that
    each row of y sums to 1); ``gradient_p`` the same written with p[m, i] = softmax(z[m, :])_i and
    ``result`` the final form (p - y) / N, valid when every row of y sums to 1.
    """

    N: sp.Symbol
    K: sp.Symbol
    n: sp.Symbol
    m: sp.Symbol
    i: sp.Symbol
    j: sp.Symbol
    k: sp.Symbol
    z: sp.IndexedBase
    y: sp.IndexedBase
    p: sp.IndexedBase
    loss: sp.Expr
    derivative: sp.Expr
    gradient: sp.Expr
    condition: Any
    gradient_p: sp.Expr
    result: sp.Expr


def softmax_cross_entropy() -> CrossEntropyDerivation:
    """Derive d loss / d z[m, i] for the softmax cross-entropy of a batch, for general N and K."""
    N, K = sp.symbols("N K", integer=True, positive=True)
    n, m, i, j, k = sp.symbols("n m i j k", integer=True)
    z, y, p = sp.IndexedBase("z"), sp.IndexedBase("y"), sp.IndexedBase("p")
    partition = sp.Sum(sp.exp(z[n, k]), (k, 1, K))
    log_p = z[n, j] - sp.log(partition)
    loss = -sp.Sum(y[n, j] * log_p, (j, 1, K), (n, 1, N)) / N
    derivative = sp.diff(loss, z[m, i])
    piecewise = sp.simplify(derivative.doit())
    (gradient, condition), _ = piecewise.args  # the branch for 1 <= m <= N, 1 <= i <= K; else 0
    partition_m = sp.Sum(sp.exp(z[m, k]), (k, 1, K))
    gradient_p = sp.expand(gradient.subs(sp.exp(z[m, i]), p[m, i] * partition_m))
    result = sp.factor(gradient_p.subs(sp.Sum(y[m, j], (j, 1, K)), 1))
    return CrossEntropyDerivation(N, K, n, m, i, j, k, z, y, p, loss, derivative, gradient, condition,
                                  gradient_p, result)


def instantiate(d: CrossEntropyDerivation, N: int, K: int) -> tuple[sp.Matrix, sp.Matrix, sp.Matrix]:
    """The general gradient ``d.gradient`` for concrete N and K: (gradient matrix, z symbols, y symbols).

    Every entry is the general formula with m, i, N, K replaced by numbers and its sums expanded, in
    plain symbols z_{m,i} and y_{m,i}, so it can be compared with autograd.
    """
    zs = sp.Matrix(N, K, lambda a, c: sp.Symbol(f"z_{a + 1}_{c + 1}"))
    ys = sp.Matrix(N, K, lambda a, c: sp.Symbol(f"y_{a + 1}_{c + 1}"))
    general = d.gradient.subs({d.N: N, d.K: K})
    entries = sp.zeros(N, K)
    for a in range(N):
        row = general.subs(d.m, a + 1).doit()
        for c in range(K):
            entry = row.subs(d.i, c + 1).doit()
            entry = entry.replace(lambda e: isinstance(e, sp.Indexed) and e.base == d.z,
                                  lambda e: zs[int(e.indices[0]) - 1, int(e.indices[1]) - 1])
            entry = entry.replace(lambda e: isinstance(e, sp.Indexed) and e.base == d.y,
                                  lambda e: ys[int(e.indices[0]) - 1, int(e.indices[1]) - 1])
            entries[a, c] = entry
    return entries, zs, ys


def softmax_cross_entropy_error(d: CrossEntropyDerivation, N: int, K: int, seed: int = 0,
                                one_hot: bool = True) -> float:
    """Largest |symbolic gradient - autograd gradient| for random logits and targets of shape (N, K).

    Targets are one-hot rows (``one_hot=True``) or random probability rows; autograd differentiates
    ``torch.nn.functional.cross_entropy`` (mean over the batch), the loss every lmlib model trains with.
    """
    gen = torch.Generator().manual_seed(seed)
    logits = (torch.randn(N, K, generator=gen, dtype=torch.float64) * 3).requires_grad_(True)
    if one_hot:
        targets = torch.nn.functional.one_hot(torch.randint(K, (N,), generator=gen), K).double()
    else:
        targets = torch.softmax(torch.randn(N, K, generator=gen, dtype=torch.float64), dim=1)
    loss = torch.nn.functional.cross_entropy(logits, targets)
    (grad,) = torch.autograd.grad(loss, logits)
    entries, zs, ys = instantiate(d, N, K)
    values = [logits.detach()[a, c] for a in range(N) for c in range(K)] + [targets[a, c] for a in range(N) for c in range(K)]
    symbolic = to_torch(entries, list(zs) + list(ys))(*values)
    return float((symbolic - grad).abs().max())


# --------------------------------------------------------------------------- a two-layer network


def _symbol_matrix(name: str, rows: int, cols: int) -> sp.Matrix:
    """Symbols named in LaTeX, e.g. ``W^{(1)}_{12}`` (row 1, column 2) or ``x_{3}`` for a column."""
    if rows == 1 and cols == 1 and name == "y":
        return sp.Matrix([[sp.Symbol("y")]])
    return sp.Matrix(rows, cols, lambda r, c: sp.Symbol(f"{name}_{{{r + 1}{c + 1}}}" if cols > 1 else f"{name}_{{{r + 1}}}"))


@dataclass
class TwoLayerNet:
    """h = sigma(W1 x + b1), a2 = W2 h + b2, output sigmoid(a2) or softmax(a2), cross-entropy loss.

    Built from symbols of any size: ``TwoLayerNet.build(3, 2, 1)`` is the article's network (3 inputs,
    two sigmoid hidden units, one sigmoid output). ``output="sigmoid"`` uses binary cross-entropy summed
    over the outputs; ``output="softmax"`` the softmax cross-entropy of one example.
    """

    n_in: int
    n_hidden: int
    n_out: int
    output: str
    x: sp.Matrix
    y: sp.Matrix
    params: dict[str, sp.Matrix]
    a1: sp.Matrix = field(init=False)
    h: sp.Matrix = field(init=False)
    a2: sp.Matrix = field(init=False)
    out: sp.Matrix = field(init=False)
    loss: sp.Expr = field(init=False)
    _compiled: dict = field(init=False, default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        W1, b1, W2, b2 = (self.params[k] for k in ("W1", "b1", "W2", "b2"))
        self.a1 = W1 * self.x + b1
        self.h = self.a1.applyfunc(Sigmoid)
        self.a2 = W2 * self.h + b2
        if self.output == "sigmoid":
            self.out = self.a2.applyfunc(Sigmoid)
            self.loss = -sum((yj * sp.log(pj) + (1 - yj) * sp.log(1 - pj) for yj, pj in zip(self.y, self.out)),
                             sp.S.Zero)
        elif self.output == "softmax":
            exps = self.a2.applyfunc(sp.exp)
            self.out = exps / sum(exps, sp.S.Zero)
            self.loss = -sum((yj * sp.log(pj) for yj, pj in zip(self.y, self.out)), sp.S.Zero)
        else:
            raise ValueError(f"output must be 'sigmoid' or 'softmax', got {self.output!r}")

    @classmethod
    def build(cls, n_in: int, n_hidden: int, n_out: int = 1, output: str = "sigmoid") -> "TwoLayerNet":
        """A network of the given sizes whose inputs, targets and parameters are all sympy symbols."""
        for name, value in (("n_in", n_in), ("n_hidden", n_hidden), ("n_out", n_out)):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not 1 <= value <= MAX_NET_SIZE:
                raise ValueError(f"{name} must be an int from 1 to {MAX_NET_SIZE} (every weight is a sympy symbol: "
                                 f"a 12-12-2 network already takes seconds to differentiate), got {value!r}")
        n_in, n_hidden, n_out = int(n_in), int(n_hidden), int(n_out)
        if output == "softmax" and n_out < 2:
            raise ValueError("a softmax output needs n_out >= 2")
        params = {
            "W1": _symbol_matrix("W^{(1)}", n_hidden, n_in),
            "b1": _symbol_matrix("b^{(1)}", n_hidden, 1),
            "W2": _symbol_matrix("W^{(2)}", n_out, n_hidden),
            "b2": _symbol_matrix("b^{(2)}", n_out, 1),
        }
        return cls(n_in, n_hidden, n_out, output, _symbol_matrix("x", n_in, 1), _symbol_matrix("y", n_out, 1), params)

    @property
    def symbols(self) -> list[sp.Symbol]:
        """Every input symbol, in the order ``x, y, W1, b1, W2, b2`` (row by row)."""
        out = list(self.x) + list(self.y)
        for k in ("W1", "b1", "W2", "b2"):
            out += list(self.params[k])
        return out

    def backprop(self) -> dict[str, sp.Matrix]:
        """Gradients by the chain rule, layer by layer (what backpropagation computes).

        delta2 = out - y;  dW2 = delta2 h^T;  db2 = delta2;
        delta1 = (W2^T delta2) * h * (1 - h) (elementwise);  dW1 = delta1 x^T;  db1 = delta1.
        """
        delta2 = self.out - self.y
        delta1 = (self.params["W2"].T * delta2).multiply_elementwise(self.h.applyfunc(lambda v: v * (1 - v)))
        return {"W1": delta1 * self.x.T, "b1": delta1, "W2": delta2 * self.h.T, "b2": delta2}

    def direct(self) -> dict[str, sp.Matrix]:
        """Gradients by differentiating the whole loss with respect to each parameter entry."""
        return {k: P.applyfunc(lambda s: sp.diff(self.loss, s)) for k, P in self.params.items()}

    def agree_symbolically(self) -> bool:
        """True when ``direct()`` and ``backprop()`` are the same expressions (their difference cancels to 0).

        For a softmax output, backpropagation's delta2 = p - y holds only for targets that sum to 1
        (chapter 4 derives p * sum(y) - y in general), so the last target is replaced by 1 minus the others.
        """
        direct, chain = self.direct(), self.backprop()
        total = {self.y[-1]: 1 - sum(list(self.y)[:-1], sp.S.Zero)} if self.output == "softmax" else {}
        for k in self.params:
            for a, b in zip(direct[k], chain[k]):
                if sp.cancel(sp.together((a - b).subs(total))) != 0:
                    return False
        return True

    def gradient_functions(self, method: str = "backprop") -> dict[str, Callable[..., torch.Tensor]]:
        """``backprop()`` or ``direct()`` as torch functions of ``symbols`` (compiled once, then cached)."""
        if method not in ("backprop", "direct"):
            raise ValueError(f"method must be 'backprop' or 'direct', got {method!r}")
        if method not in self._compiled:
            grads = self.backprop() if method == "backprop" else self.direct()
            self._compiled[method] = {k: to_torch(g, self.symbols) for k, g in grads.items()}
        return self._compiled[method]

    def random_values(self, seed: int = 0) -> dict[sp.Symbol, torch.Tensor]:
        """Random float64 values for every symbol (targets: a one-hot row for softmax, 0/1 for sigmoid)."""
        gen = torch.Generator().manual_seed(seed)
        values: dict[sp.Symbol, torch.Tensor] = {}
        for s in list(self.x) + [s for k in ("W1", "b1", "W2", "b2") for s in self.params[k]]:
            values[s] = torch.randn((), generator=gen, dtype=torch.float64)
        if self.output == "softmax":
            hot = int(torch.randint(self.n_out, (), generator=gen))
            for j, s in enumerate(self.y):
                values[s] = torch.tensor(float(j == hot), dtype=torch.float64)
        else:
            for s in self.y:
                values[s] = torch.randint(2, (), generator=gen).double()
        return values


def two_layer_torch_loss(x: torch.Tensor, y: torch.Tensor, W1: torch.Tensor, b1: torch.Tensor,
                         W2: torch.Tensor, b2: torch.Tensor, output: str = "sigmoid") -> torch.Tensor:
    """The loss of ``TwoLayerNet`` in torch, for one example (x: (n_in,), y: (n_out,))."""
    h = torch.sigmoid(W1 @ x + b1)
    a2 = W2 @ h + b2
    if output == "sigmoid":
        return torch.nn.functional.binary_cross_entropy_with_logits(a2, y, reduction="sum")
    return -(y * torch.log_softmax(a2, dim=0)).sum()


def two_layer_error(net: TwoLayerNet, seed: int = 0, method: str = "backprop") -> float:
    """Largest |symbolic gradient - autograd gradient| over all weights and biases, at random values.

    ``method`` picks the symbolic gradients: ``"backprop"`` (chain rule, layer by layer) or ``"direct"``.
    """
    values = net.random_values(seed)
    functions = net.gradient_functions(method)
    inputs = [values[s] for s in net.symbols]

    def tensor(m: sp.Matrix) -> torch.Tensor:
        return torch.stack([values[s] for s in m]).reshape(m.shape)

    leaves = {k: tensor(P).requires_grad_(True) for k, P in net.params.items()}
    loss = two_layer_torch_loss(tensor(net.x).reshape(-1), tensor(net.y).reshape(-1), leaves["W1"],
                                leaves["b1"].reshape(-1), leaves["W2"], leaves["b2"].reshape(-1), net.output)
    auto = torch.autograd.grad(loss, [leaves[k] for k in ("W1", "b1", "W2", "b2")])
    worst = 0.0
    for k, g in zip(("W1", "b1", "W2", "b2"), auto):
        symbolic = functions[k](*inputs)
        worst = max(worst, float((symbolic.reshape(g.shape) - g).abs().max()))
    return worst


def _exact_number(name: str, value: Any) -> sp.Expr:
    """``value`` (a number, or a string such as "1/10") as an exact sympy number, or ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, str)):
        raise ValueError(f"{name} must be a real number (or a string such as '1/10'), got {value!r:.100}")
    try:
        exact = sp.nsimplify(value, rational=True)
    except (sp.SympifyError, TypeError, ValueError, SyntaxError):
        exact = None
    if exact is None or not exact.is_real or not exact.is_finite:
        raise ValueError(f"{name} must be a finite real number (or a string such as '1/10'), got {value!r:.100}")
    return exact


# --------------------------------------------------------------------------- display


def equation(lhs: str, rhs: Any, *more: Any, approx: Any = None, suffix: str = "") -> Any:
    """An IPython ``Math`` object ``lhs = rhs [= more ...] [≈ approx] suffix``, rendered by MathJax.

    Sympy objects are typeset with ``sympy.latex``, strings are taken as LaTeX. ``approx`` (a sympy
    value) is shown after an approximately-equal sign with 6 significant digits. Displayed in a notebook
    it renders in Jupyter and in the static book alike.
    """
    from IPython.display import Math

    if not isinstance(lhs, str) or not isinstance(suffix, str):
        raise TypeError(f"lhs and suffix must be LaTeX strings, got {type(lhs).__name__} and {type(suffix).__name__}")
    parts = [lhs] + [r if isinstance(r, str) else sp.latex(r) for r in (rhs, *more)]
    text = " = ".join(parts)
    if approx is not None:
        text += r" \approx " + sp.latex(sp.N(approx, 6))
    return Math(text + suffix)
