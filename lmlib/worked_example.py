"""The article's worked example (its section 4.3), made computable and computed exactly.

Chapter 4 (section 4.3) explains this module. The article states an input x = [1, 2, 3], a two-class
target y = [0, 1], one row [0.1, 0.2, 0.3] of a 2 x 3 hidden weight matrix W, hidden biases b = [0.4, 0.5],
output weights W' = [0.1, 0.2] and bias b' = 0.3, a sigmoid in both layers, the loss -1/2 log(p) and the
learning rate 0.1. As printed, the example cannot be computed; ``ARTICLE_EXAMPLE`` holds the article's
values together with the smallest set of choices that makes it computable (``ASSUMPTIONS`` says what
each choice is). ``worked_example`` computes, exactly (sympy), the forward pass, the loss, every gradient
by the chain rule, one gradient-descent step and the forward pass and loss after it, for those values or
any others; ``worked_example_torch`` repeats the same in float64 with autograd, as a check.

The article's numbers are quoted in chapter 4, and ``tests/test_article_example.py`` reads them from the
article's own text and checks the chapter's table of its errors against values it recomputes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import sympy as sp
import torch

from .symbolic import Sigmoid, _exact_number

__all__ = ["ARTICLE_EXAMPLE", "ASSUMPTIONS", "WorkedExample", "worked_example", "worked_example_torch"]

# The article's stated values, and (marked) the choices that make its example computable.
ARTICLE_EXAMPLE: dict[str, Any] = {
    "x": ["1", "2", "3"],  # stated: x = [1, 2, 3]; its "embedding" x' = [1, 2, 3] is x itself
    "W1": [["0.1", "0.2", "0.3"], ["0.1", "0.2", "0.3"]],  # stated: one row of a 2 x 3 W; assumed: both rows
    "b1": ["0.4", "0.5"],  # stated: b = [0.4, 0.5]
    "W2": [["0.1", "0.2"]],  # stated: W' = [0.1, 0.2]
    "b2": ["0.3"],  # stated: b' = 0.3
    "y": 1,  # stated: y = [0, 1]; assumed: one-hot over (class 0, class 1), the output is P(class 1)
    "scale": "1/2",  # stated: the factor 1/2 in front of its loss -1/2 log(p), kept as written
    "lr": "0.1",  # stated: learning rate 0.1
}

ASSUMPTIONS: tuple[str, ...] = (
    "three input units, one per component of x (the article's input layer of 1 neuron cannot hold x)",
    "the 'embedding' is the identity: x' = x, as the article's own numbers have it",
    "both rows of W equal the one row the article gives, [0.1, 0.2, 0.3]",
    "the target [0, 1] is one-hot over the classes (0, 1) and the one sigmoid output is P(class 1), so "
    "p = [1 - y', y'] and the loss keeps only log y'",
    "the loss is the article's -1/2 log(p), natural logarithm, with its factor 1/2 kept as written",
    "one gradient-descent step updates every parameter: W, b, W' and b'",
)


def _exact_matrix(name: str, rows: Any, column: bool = False) -> sp.Matrix:
    """A list of numbers (``column``) or a list of rows as an exact sympy matrix, or ValueError naming ``name``."""
    shape = "a list of numbers" if column else "a list of rows of numbers"
    if isinstance(rows, (str, bytes)) or not isinstance(rows, Sequence) or not rows:
        raise ValueError(f"{name} must be {shape}, got {rows!r:.100}")
    if column:
        rows = [[v] for v in rows]
    if not all(isinstance(r, Sequence) and not isinstance(r, (str, bytes)) and len(r) == len(rows[0]) > 0
               for r in rows):
        raise ValueError(f"{name} must be {shape} of equal length, got {rows!r:.100}")
    return sp.Matrix([[_exact_number(name, v) for v in row] for row in rows])


def _forward(x: sp.Matrix, y: sp.Expr, scale: sp.Expr, p: dict[str, sp.Matrix]) -> tuple[Any, ...]:
    a1 = p["W1"] * x + p["b1"]
    h = a1.applyfunc(Sigmoid)
    a2 = (p["W2"] * h + p["b2"])[0]
    yhat = Sigmoid(a2)
    loss = -scale * (y * sp.log(yhat) + (1 - y) * sp.log(1 - yhat))  # scaled binary cross-entropy
    return a1, h, a2, yhat, loss


@dataclass
class WorkedExample:
    """The example computed exactly (sympy): see ``worked_example``. Matrices are sympy column vectors
    (``x``, ``a1``, ``h``, ``b1``) or row-shaped like their parameter (``W1`` 2 x 3, ``W2`` 1 x 2)."""

    x: sp.Matrix
    y: sp.Expr
    scale: sp.Expr
    lr: sp.Expr
    params: dict[str, sp.Matrix]
    a1: sp.Matrix
    h: sp.Matrix
    a2: sp.Expr
    yhat: sp.Expr
    loss: sp.Expr
    delta2: sp.Expr
    delta1: sp.Matrix
    grads: dict[str, sp.Matrix]
    updated: dict[str, sp.Matrix]
    a1_after: sp.Matrix
    h_after: sp.Matrix
    a2_after: sp.Expr
    yhat_after: sp.Expr
    loss_after: sp.Expr

    @property
    def sigma_prime(self) -> sp.Matrix:
        """sigma'(a1) = h (1 - h): the hidden sigmoid's derivative at its pre-activations."""
        return self.h.applyfunc(lambda v: v * (1 - v))

    def loss_at(self, params: dict[str, sp.Matrix]) -> sp.Expr:
        """The loss for other parameter values (same x, y and scale), e.g. ``params - alpha * grads``."""
        return _forward(self.x, self.y, self.scale, params)[4]

    @property
    def gradient_norm2(self) -> sp.Expr:
        """||g||^2: the sum of the squares of every gradient entry."""
        return sp.Add(*[v**2 for g in self.grads.values() for v in g])

    def quantities(self) -> dict[str, Any]:
        """Every computed quantity by name (matrices and scalars), in the order they are computed."""
        out: dict[str, Any] = {"a1": self.a1, "h": self.h, "a2": self.a2, "yhat": self.yhat, "loss": self.loss,
                               "delta2": self.delta2, "delta1": self.delta1}
        out.update({f"d{k}": g for k, g in self.grads.items()})
        out.update({f"{k}_new": v for k, v in self.updated.items()})
        out.update({"a1_after": self.a1_after, "h_after": self.h_after, "a2_after": self.a2_after,
                    "yhat_after": self.yhat_after, "loss_after": self.loss_after})
        return out

    def decimals(self, digits: int = 6) -> dict[str, Any]:
        """``quantities()`` as decimal strings with ``digits`` significant digits (lists for matrices)."""
        def fmt(v: Any) -> str:
            return str(sp.N(v, digits))

        return {k: ([fmt(e) for e in v] if isinstance(v, sp.MatrixBase) else fmt(v))
                for k, v in self.quantities().items()}


def worked_example(**overrides: Any) -> WorkedExample:
    """The article's section 4.3 example computed exactly, with ``ARTICLE_EXAMPLE``'s values by default.

    Input x (one input unit per component), a hidden layer of sigmoid units h = sigma(W1 x + b1), one
    sigmoid output yhat = sigma(W2 h + b2), and the loss ``scale`` * binary cross-entropy against the
    target label y (the article's cross-entropy with the two classes yhat and 1 - yhat; the article's
    scale is 1/2). Any key of ``ARTICLE_EXAMPLE`` can be overridden (numbers or strings such as "1/10").
    Returns the forward pass, the loss, every gradient by the chain rule, the parameters after one step of
    gradient descent with learning rate ``lr``, and the forward pass and loss after it.
    """
    unknown = set(overrides) - set(ARTICLE_EXAMPLE)
    if unknown:
        raise ValueError(f"unknown worked-example values {sorted(unknown)}; known: {sorted(ARTICLE_EXAMPLE)}")
    spec = {**ARTICLE_EXAMPLE, **overrides}
    x = _exact_matrix("x", spec["x"], column=True)
    params = {
        "W1": _exact_matrix("W1", spec["W1"]),
        "b1": _exact_matrix("b1", spec["b1"], column=True),
        "W2": _exact_matrix("W2", spec["W2"]),
        "b2": _exact_matrix("b2", spec["b2"], column=True),
    }
    y, scale, lr = (_exact_number(k, spec[k]) for k in ("y", "scale", "lr"))
    if params["W1"].shape != (params["b1"].rows, x.rows) or params["W2"].shape != (1, params["b1"].rows) \
            or params["b2"].shape != (1, 1):
        raise ValueError("shapes must be W1 (hidden, inputs), b1 (hidden), W2 (1, hidden), b2 (1); "
                         f"got W1 {params['W1'].shape}, b1 {params['b1'].rows}, x {x.rows}, "
                         f"W2 {params['W2'].shape}, b2 {params['b2'].rows}")
    if y not in (0, 1):
        raise ValueError(f"y is the target label of the one output, 0 or 1; got {spec['y']!r}")

    a1, h, a2, yhat, loss = _forward(x, y, scale, params)
    delta2 = scale * (yhat - y)  # dL/da2 for a sigmoid output and scaled binary cross-entropy
    delta1 = (params["W2"].T * delta2).multiply_elementwise(h.applyfunc(lambda v: v * (1 - v)))
    grads = {"W1": delta1 * x.T, "b1": delta1, "W2": delta2 * h.T, "b2": sp.Matrix([[delta2]])}
    updated = {k: params[k] - lr * grads[k] for k in params}
    a1n, hn, a2n, yhatn, lossn = _forward(x, y, scale, updated)
    return WorkedExample(x, y, scale, lr, params, a1, h, a2, yhat, loss, delta2, delta1, grads, updated,
                         a1n, hn, a2n, yhatn, lossn)


def worked_example_torch(example: WorkedExample) -> dict[str, torch.Tensor]:
    """The same example in float64 torch: forward, loss, autograd gradients, an SGD step, forward again."""
    def t(m: sp.Matrix) -> torch.Tensor:
        return torch.tensor([[float(v) for v in row] for row in m.tolist()], dtype=torch.float64)

    x = t(example.x)
    y = torch.tensor(float(example.y), dtype=torch.float64)
    scale = float(example.scale)
    params = {k: t(v).requires_grad_(True) for k, v in example.params.items()}
    opt = torch.optim.SGD(list(params.values()), lr=float(example.lr))

    def forward() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        h = torch.sigmoid(params["W1"] @ x + params["b1"])
        a2 = (params["W2"] @ h + params["b2"]).reshape(())
        loss = scale * torch.nn.functional.binary_cross_entropy_with_logits(a2, y)
        return h.reshape(-1), torch.sigmoid(a2), loss

    h, yhat, loss = forward()
    opt.zero_grad()
    loss.backward()
    out = {"h": h.detach(), "yhat": yhat.detach(), "loss": loss.detach()}
    out.update({f"d{k}": p.grad.detach().clone() for k, p in params.items()})
    opt.step()
    out.update({f"{k}_new": p.detach().clone() for k, p in params.items()})
    with torch.no_grad():
        h_after, yhat_after, loss_after = forward()
    out.update({"h_after": h_after, "yhat_after": yhat_after, "loss_after": loss_after})
    return out
