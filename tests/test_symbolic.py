"""lmlib.symbolic: every symbolic gradient chapter 4 derives equals torch autograd, for random shapes and
seeds; the loss surfaces' gradients, Hessians and curvature agree with autograd. (The worked example of
the article's section 4.3 is tested in test_worked_example.py.)"""

import math
import random

import pytest
import sympy as sp
import torch

from lmlib import symbolic

RNG = random.Random(4)  # random shapes, fixed so a failure repeats


# ------------------------------------------------------------------ sympy -> torch


def test_to_torch_handles_constants_matrices_and_special_functions():
    z, w = sp.symbols("z w")
    t = torch.tensor([-1.5, 0.5, 2.0], dtype=torch.float64)
    assert torch.equal(symbolic.to_torch(sp.Integer(3), [z])(t), torch.full((3,), 3.0, dtype=torch.float64))
    assert torch.equal(symbolic.to_torch(sp.Heaviside(z), [z])(t), torch.tensor([0.0, 1.0, 1.0], dtype=torch.float64))
    assert torch.equal(symbolic.to_torch(symbolic.relu(z), [z])(t), torch.relu(t))
    got = symbolic.to_torch(sp.Matrix([[z * w, sp.log(2) + z], [symbolic.Sigmoid(z), sp.E]]), [z, w])(t, 2 * t)
    assert got.shape == (2, 2, 3)
    assert torch.allclose(got[0, 0], 2 * t * t) and torch.allclose(got[1, 0], torch.sigmoid(t))
    assert torch.allclose(got[1, 1], torch.full((3,), math.e, dtype=torch.float64))
    odd = sp.Symbol("W^{(1)}_{11}")  # not a Python identifier
    assert torch.allclose(symbolic.to_torch(odd + sp.Rational(2, 5) * z, [z, odd])(t, t), t * 1.4)


def test_sigmoid_class_knows_its_derivative_and_its_value():
    z = sp.Symbol("z", real=True)
    formula = symbolic.sigmoid_formula(z)
    assert sp.simplify(sp.diff(symbolic.Sigmoid(z), z).rewrite(sp.exp) - sp.diff(formula, z)) == 0
    assert sp.simplify(sp.diff(formula, z) - formula * (1 - formula)) == 0
    assert symbolic.Sigmoid(0) == sp.S.Half
    assert symbolic.Sigmoid(sp.Rational(2, 5)).rewrite(sp.exp) == 1 / (1 + sp.exp(-sp.Rational(2, 5)))
    assert str(sp.N(symbolic.Sigmoid(sp.Rational(2, 5)), 30)) == str(sp.N(1 / (1 + sp.exp(-sp.Rational(2, 5))), 30))
    assert sp.latex(symbolic.Sigmoid(z)) == r"\sigma\left(z\right)"


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_activation_derivatives_match_autograd(seed):
    z = sp.Symbol("z", real=True)
    cases = [(symbolic.sigmoid_formula(z), torch.sigmoid), (symbolic.Sigmoid(z), torch.sigmoid),
             (symbolic.relu(z), torch.relu), (sp.tanh(z), torch.tanh)]
    for expr, fn in cases:
        assert symbolic.elementwise_derivative_error(expr, z, fn, n=2000, seed=seed) < 1e-12, expr


# ------------------------------------------------------------------ softmax cross-entropy


@pytest.fixture(scope="module")
def ce():
    return symbolic.softmax_cross_entropy()


def test_softmax_cross_entropy_general_result(ce):
    assert sp.simplify(ce.result - (ce.p[ce.m, ce.i] - ce.y[ce.m, ce.i]) / ce.N) == 0
    # before using sum_j y_mj = 1: p * sum(y) - y, over N
    expected = (ce.p[ce.m, ce.i] * sp.Sum(ce.y[ce.m, ce.j], (ce.j, 1, ce.K)) - ce.y[ce.m, ce.i]) / ce.N
    assert sp.simplify(ce.gradient_p - expected) == 0


@pytest.mark.parametrize("trial", range(6))
def test_softmax_cross_entropy_gradient_matches_autograd(ce, trial):
    N, K = RNG.randint(1, 4), RNG.randint(2, 8)
    for one_hot in (True, False):
        assert symbolic.softmax_cross_entropy_error(ce, N, K, seed=trial, one_hot=one_hot) < 1e-12, (N, K, one_hot)


# ------------------------------------------------------------------ two-layer network


@pytest.mark.parametrize("trial", range(4))
@pytest.mark.parametrize("output", ["sigmoid", "softmax"])
def test_two_layer_gradients_match_autograd(trial, output):
    n_in, n_hidden = RNG.randint(1, 4), RNG.randint(1, 3)
    n_out = RNG.randint(2, 3) if output == "softmax" else RNG.randint(1, 2)
    net = symbolic.TwoLayerNet.build(n_in, n_hidden, n_out, output=output)
    for seed in range(2):
        assert symbolic.two_layer_error(net, seed=seed, method="backprop") < 1e-12
        assert symbolic.two_layer_error(net, seed=seed, method="direct") < 1e-12


def test_backprop_equals_direct_differentiation_symbolically():
    assert symbolic.TwoLayerNet.build(3, 2, 1).agree_symbolically()
    assert symbolic.TwoLayerNet.build(2, 2, 2, output="softmax").agree_symbolically()


def test_gradients_have_their_parameters_shapes():
    net = symbolic.TwoLayerNet.build(3, 2, 1)
    for name, grad in net.backprop().items():
        assert grad.shape == net.params[name].shape


def test_two_layer_rejects_bad_sizes():
    with pytest.raises(ValueError, match="n_hidden"):
        symbolic.TwoLayerNet.build(3, 0, 1)
    with pytest.raises(ValueError, match="softmax"):
        symbolic.TwoLayerNet.build(3, 2, 1, output="softmax")
    with pytest.raises(ValueError, match="method"):
        symbolic.TwoLayerNet.build(1, 1, 1).gradient_functions("numeric")


def test_mean_loss_step_equals_sum_loss_step_with_lr_over_n():
    gen = torch.Generator().manual_seed(3)
    for batch in (1, 7, 64):
        w = torch.randn(4, 3, generator=gen, dtype=torch.float64, requires_grad=True)
        x, y = torch.randn(batch, 4, generator=gen, dtype=torch.float64), torch.randint(3, (batch,), generator=gen)
        g_mean = torch.autograd.grad(torch.nn.functional.cross_entropy(x @ w, y), w)[0]
        g_sum = torch.autograd.grad(torch.nn.functional.cross_entropy(x @ w, y, reduction="sum"), w)[0]
        assert torch.allclose(0.1 * g_mean, (0.1 / batch) * g_sum, rtol=1e-12, atol=1e-15)


# ------------------------------------------------------------------ loss surfaces


def _torch_line_fit_loss(theta, data):
    x = torch.tensor([float(a) for a, _ in data], dtype=torch.float64)
    t = torch.tensor([float(b) for _, b in data], dtype=torch.float64)
    return ((theta[0] * x + theta[1] - t) ** 2).mean()


def _torch_logistic_loss(theta, data):
    x = torch.tensor([float(a) for a, _ in data], dtype=torch.float64)
    t = torch.tensor([float(b) for _, b in data], dtype=torch.float64)
    return torch.nn.functional.binary_cross_entropy_with_logits(theta[0] * x + theta[1], t)


@pytest.mark.parametrize("make, torch_loss", [(symbolic.line_fit_surface, _torch_line_fit_loss),
                                              (symbolic.logistic_surface, _torch_logistic_loss)])
def test_surface_gradient_and_hessian_match_autograd(make, torch_loss):
    surface = make()
    gen = torch.Generator().manual_seed(0)
    for _ in range(5):
        theta = (torch.randn(2, generator=gen, dtype=torch.float64) * 2).requires_grad_(True)
        loss = torch_loss(theta, surface.data)
        (grad,) = torch.autograd.grad(loss, theta)
        hess = torch.autograd.functional.hessian(lambda th: torch_loss(th, surface.data), theta.detach())
        w, b = theta.tolist()
        assert math.isclose(surface.loss_f(w, b), loss.item(), rel_tol=1e-12)
        assert torch.allclose(torch.tensor(surface.grad_f(w, b), dtype=torch.float64), grad, atol=1e-12)
        assert torch.allclose(torch.tensor(surface.hess_f(w, b), dtype=torch.float64), hess, atol=1e-12)


def test_largest_curvature_is_the_hessians_largest_eigenvalue():
    for surface in (symbolic.line_fit_surface(), symbolic.logistic_surface()):
        for w, b in [(0.0, 0.0), (1.2, -4.2), (-2.0, 3.0)]:
            eig = torch.linalg.eigvalsh(torch.tensor(surface.hess_f(w, b), dtype=torch.float64))
            assert math.isclose(surface.largest_curvature(w, b), float(eig.max()), rel_tol=1e-12)
    # the logistic surface is most curved where every prediction is 1/2 (w = b = 0): sigma' peaks at 0
    logistic = symbolic.logistic_surface()
    assert logistic.largest_curvature(0.0, 0.0) > 2 * logistic.largest_curvature(1.214, -4.249)
    # the numbers chapter 4 prints (issue 8: about 4.0 at the start, about 1.9 at the minimum)
    assert round(logistic.largest_curvature(0.0, 0.0), 4) == 3.9960
    assert round(logistic.largest_curvature(1.214, -4.249), 4) == 1.9178
    assert max(abs(g) for g in logistic.grad_f(1.214, -4.249)) < 1e-2  # that point is the minimum


def test_learning_rate_thresholds_of_the_quadratic():
    surface = symbolic.line_fit_surface()
    lam_min, lam_max = sorted(surface.hessian.eigenvals(), key=float)
    edge = float(2 / lam_max)
    start, best = (-1.0, 4.0), (1.4, 0.9)
    assert surface.gradient.subs({surface.w: sp.Rational(7, 5), surface.b: sp.Rational(9, 10)}) == sp.zeros(2, 1)
    below = symbolic.descent_path(surface, 0.98 * edge, start, 400)
    above = symbolic.descent_path(surface, 1.02 * edge, start, 400)
    assert math.dist(below[-1], best) < 1e-3
    assert surface.loss_f(*above[-1]) > 1e6 and len(above) < 401  # stopped early: diverged
    # between 1/lambda_max and 2/lambda_max the steep direction flips sign each step
    # (the component of theta - theta* along the steep eigenvector changes sign at every step)
    (_, _, (steep,)), = [e for e in surface.hessian.eigenvects() if e[0] == lam_max]
    v = [float(c) for c in steep]
    zigzag = symbolic.descent_path(surface, 1.5 / float(lam_max), start, 6)
    along = [(p[0] - best[0]) * v[0] + (p[1] - best[1]) * v[1] for p in zigzag]
    assert all(a * b < 0 for a, b in zip(along, along[1:]))
    calm = symbolic.descent_path(surface, 0.5 / float(lam_max), start, 6)
    along = [(p[0] - best[0]) * v[0] + (p[1] - best[1]) * v[1] for p in calm]
    assert all(a * b > 0 for a, b in zip(along, along[1:]))


@pytest.mark.parametrize("name", ["sgd", "momentum", "adam"])
def test_optimizer_paths_reach_the_minimum(name):
    surface = symbolic.line_fit_surface()
    lr = {"sgd": 0.2, "momentum": 0.02, "adam": 0.05}[name]
    path = symbolic.optimizer_path(surface, name, lr, (-1.0, 4.0), 600)
    assert surface.loss_f(*path[-1]) - 0.05 < 1e-4


def test_sgd_path_is_plain_descent():
    surface = symbolic.line_fit_surface()
    a = symbolic.optimizer_path(surface, "sgd", 0.1, (-1.0, 4.0), 20)
    b = symbolic.descent_path(surface, 0.1, (-1.0, 4.0), 20)
    assert all(math.isclose(p, q, rel_tol=1e-12, abs_tol=1e-12) for u, v in zip(a, b) for p, q in zip(u, v))
    with pytest.raises(ValueError, match="optimizer"):
        symbolic.optimizer_path(surface, "lion", 0.1, (0.0, 0.0), 1)


def test_equation_renders_latex():
    z = sp.Symbol("z")
    math_obj = symbolic.equation("f", z**2, approx=sp.Rational(1, 3), suffix=r"\quad")
    assert math_obj._repr_latex_() == r"$\displaystyle f = z^{2} \approx 0.333333\quad$"
