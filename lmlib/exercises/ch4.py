"""Exercises of chapter 4: the mathematical model."""

from __future__ import annotations

import math
import random
from typing import Any

from ._core import _grade, _number, register, register_written


def _sympy_answer(answer: Any, names: dict[str, Any]) -> Any:
    """A student's sympy expression (or string) with its symbols replaced by ours, matched by name."""
    import sympy as sp

    if isinstance(answer, str):
        expr = sp.sympify(answer, locals=dict(names))
    elif isinstance(answer, (int, float)) and not isinstance(answer, bool):
        expr = sp.sympify(answer)
    else:
        expr = answer
    if not isinstance(expr, sp.Basic):
        raise TypeError(f"expected a sympy expression, got {type(expr).__name__}")
    unknown = sorted(s.name for s in expr.free_symbols if s.name not in names)
    if unknown:
        raise ValueError(f"your answer uses {unknown}; use only the symbols {sorted(names)}")
    expr = expr.subs({s: names[s.name] for s in expr.free_symbols})
    return expr.rewrite(sp.exp)  # lmlib.symbolic.Sigmoid(z) becomes 1/(1 + exp(-z))


def _is_zero(expr: Any) -> bool:
    import sympy as sp

    return sp.simplify(expr) == 0


@register("4.1", kind="expression", answer="answer_4_1", points=1,
          solution=lambda p: "sp.exp(z) / (1 + sp.exp(z))")
def _softplus_derivative(answer: Any) -> tuple[bool, str]:
    import sympy as sp

    z = sp.Symbol("z")
    expr = _sympy_answer(answer, {"z": z})
    truth = sp.diff(sp.log(1 + sp.exp(z)), z)
    if _is_zero(expr - truth):
        return True, "right: the derivative of softplus ln(1 + e^z) is the sigmoid e^z / (1 + e^z) = σ(z)."
    if _is_zero(expr + truth):
        return False, "the sign is flipped: ln(1 + e^z) grows with z, so its derivative is positive."
    if _is_zero(expr - 1 / (1 + sp.exp(z))):
        return False, ("you forgot the chain-rule factor: d/dz ln(u) = u'/u, and the inside u = 1 + e^z "
                       "has derivative u' = e^z.")
    if _is_zero(expr - sp.exp(z)):
        return False, "you kept only the inside's derivative e^z; the outer ln contributes the factor 1/(1 + e^z)."
    return False, ("not yet: your expression differs from the derivative. Write ln(1 + e^z) as ln(u) with "
                   "u = 1 + e^z and apply the chain rule.")


@register("4.2", kind="expression", answer="answer_4_2", points=2,
          solution=lambda p: "(yhat - y) * w * h * (1 - h) * x")
def _first_layer_gradient(answer: Any) -> tuple[bool, str]:
    import sympy as sp

    yhat, y, w, h, x = sp.symbols("yhat y w h x")
    expr = _sympy_answer(answer, {"yhat": yhat, "y": y, "w": w, "h": h, "x": x})
    truth = (yhat - y) * w * h * (1 - h) * x
    if _is_zero(expr - truth):
        return True, "right: (ŷ - y) · W2_j · h_j(1 - h_j) · x_k, one factor per link of the chain."
    if _is_zero(expr):
        return False, "your answer is 0; the loss does depend on W1_jk, through h_j and the output."
    ratio = sp.simplify(expr / truth)
    factors = [
        (-1, "the sign is flipped: the loss's gradient starts with ŷ - y (the log-likelihood's with y - ŷ)."),
        (1 / ((yhat - y) * w), "you kept only the last two links, σ'(a_j)·x_k: that is the derivative of the hidden "
                               "activation h_j, not of the loss (the article's section 4.3 computes this). Multiply "
                               "by the output error ŷ - y and by W2_j, the weight that carries h_j to the output."),
        (1 / ((yhat - y) * w * (1 - h)), "h_j·x_k is the article's section 4.3 'gradient': it writes h_j where "
                                         "σ'(a_j) = h_j(1 - h_j) belongs, and leaves out the output error ŷ - y "
                                         "and the weight W2_j. Multiply the four links of the chain."),
        (1 / (w * h * (1 - h)), "your gradient skips the chain rule through the hidden layer: multiply by W2_j and "
                                "by σ'(a_j) = h_j(1 - h_j)."),
        (1 / (h * (1 - h)), "you forgot the chain-rule factor σ'(a_j) = h_j(1 - h_j) of the hidden sigmoid."),
        (1 / w, "you forgot the factor W2_j: h_j reaches the output only through that weight."),
        (1 / x, "you forgot x_k, the derivative of a_j = Σ_k W1_jk x_k + b1_j with respect to W1_jk."),
        (yhat * (1 - yhat), "drop the factor ŷ(1 - ŷ): with cross-entropy on a sigmoid output, dL/da2 = ŷ - y "
                            "(the output sigmoid's derivative cancels against the log)."),
        (h, "h_j appears once too often: σ'(a_j) = h_j(1 - h_j), not h_j²(1 - h_j)."),
        (sp.Rational(1, 2), "that is the gradient of the article's loss -½ log ŷ; this exercise uses the loss L of "
                            "section 4.2, without the ½."),
    ]
    for factor, message in factors:
        if _is_zero(ratio - factor):
            return False, message
    return False, "not yet: write dL/dW1_jk as (dL/da2)(da2/dh_j)(dh_j/da_j)(da_j/dW1_jk) and multiply the four."


def _fifth_point(rng: random.Random) -> dict[str, Any]:
    """Chapter 4's four line-fit points and a fifth point of the student's own."""
    from ..symbolic import LINE_FIT_DATA

    return {"data": tuple(LINE_FIT_DATA) + ((rng.randint(4, 7), rng.randint(0, 9)),)}


def _surface_call(p: dict[str, Any]) -> str:
    return f"symbolic.line_fit_surface({list(p['data'])})"


@register("4.3", answer="answer_4_3", points=1,
          book={"data": ((0, 1), (1, 2), (2, 4), (3, 5), (4, 7))},  # symbolic.LINE_FIT_DATA + ((4, 7),)
          variants=_fifth_point,
          describe=lambda p: (f"your fifth point is (x, t) = {p['data'][-1]}: build your surface with "
                              f"{_surface_call(p)}."),
          solution=lambda p: f"float(2 / max({_surface_call(p)}.hessian.eigenvals(), key=float))")
def _divergence_threshold(answer: Any, p: dict[str, Any]) -> tuple[bool, str]:
    import sympy as sp

    from ..symbolic import LINE_FIT_DATA, line_fit_surface

    value = _number(answer)
    lmin, lmax = sorted(line_fit_surface(p["data"]).hessian.eigenvals(), key=float)
    truth = float(2 / lmax)
    old_max = max(line_fit_surface(LINE_FIT_DATA).hessian.eigenvals(), key=float)
    tolerance = 5e-4  # the exercise asks for three decimal places

    def near(candidate: float) -> bool:
        return abs(value - candidate) <= tolerance

    if near(truth):
        return True, (f"right: with the fifth point the Hessian's largest eigenvalue is λ_max = {lmax} ≈ "
                      f"{float(lmax):.4f}, so the edge is 2/λ_max = {sp.radsimp(2 / lmax)} ≈ {truth:.4f}. The "
                      "targets t do not enter the Hessian, only the inputs x.")
    mistakes = [
        (float(2 / old_max), "that is the edge of the four-point surface in the chapter; the fifth point changes "
                             "the Hessian (its x adds to Σx² and Σx)."),
        (float(1 / lmax), "1/λ_max is where oscillation starts (each step overshoots the valley floor); descent "
                          "still converges until the overshoot is more than double: 2/λ_max."),
        (float(2 / lmin), "use the largest eigenvalue: the steepest direction is the first to diverge."),
        (float(2 / (lmin + lmax)), "2/(λ_min + λ_max) is the best constant step, not the edge of divergence."),
        (float(lmax / 2), "you inverted it: the threshold is 2/λ_max, a step size, not λ_max/2."),
    ]
    for candidate, message in mistakes:
        if near(candidate):
            return False, message
    return False, (f"{value:g} is not it (to three decimals): build the surface with the fifth point, find its "
                   "Hessian's largest eigenvalue λ_max; plain descent diverges above 2/λ_max.")


def _batch_and_rate(rng: random.Random) -> dict[str, Any]:
    return {"batch": rng.choice((8, 16, 24, 32, 48, 64, 100, 128)), "lr": rng.choice((0.01, 0.02, 0.05, 0.1, 0.2, 0.3))}


@register("4.4", answer="answer_4_4", points=1, book={"batch": 32, "lr": 0.1}, variants=_batch_and_rate,
          describe=lambda p: f"the batch has {p['batch']} examples and the mean loss trained well at learning rate {p['lr']}.",
          solution=lambda p: f"{p['lr']} / {p['batch']}")
def _summed_loss_learning_rate(answer: Any, p: dict[str, Any]) -> tuple[bool, str]:
    import torch

    value = _number(answer)
    batch, lr = p["batch"], p["lr"]
    gen = torch.Generator().manual_seed(0)
    x, t = torch.randn(batch, 3, generator=gen, dtype=torch.float64), torch.randn(batch, generator=gen, dtype=torch.float64)

    def step(reduction: str, rate: float) -> torch.Tensor:
        w = torch.zeros(3, dtype=torch.float64, requires_grad=True)
        loss = torch.nn.functional.mse_loss(x @ w, t, reduction=reduction)
        (g,) = torch.autograd.grad(loss, w)
        return -rate * g

    target = step("mean", lr)
    if value > 0 and torch.allclose(step("sum", value), target, rtol=1e-9, atol=0):
        return True, f"right: lr / N = {lr} / {batch} = {lr / batch:g}; the summed loss's gradient is N times larger."
    if math.isclose(value, lr * batch, rel_tol=1e-6):
        return False, "you multiplied by N; the summed loss already has an N times larger gradient, so divide."
    if math.isclose(value, lr, rel_tol=1e-6):
        return False, f"the same rate would take steps N = {batch} times larger with the summed loss."
    if value <= 0:
        return False, "a learning rate is positive: it scales a step against the gradient."
    larger = float(step("sum", value).norm()) > float(target.norm())
    return False, (f"with your rate the summed loss takes {'larger' if larger else 'smaller'} steps than the mean loss "
                   "at its rate: relate the gradient of a sum over the batch to the gradient of its mean.")


register_written("4.5", points=2)
