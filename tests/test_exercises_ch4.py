"""Chapter 4's exercise checks: right answers pass, typical wrong ones get specific feedback."""

import sympy as sp

from lmlib import symbolic
from lmlib.exercises import check


def test_softplus_derivative():
    z = sp.Symbol("z")
    for right in (sp.exp(z) / (1 + sp.exp(z)), symbolic.Sigmoid(z), 1 / (1 + sp.exp(-z)), "exp(z)/(1 + exp(z))"):
        assert check("4.1", right).passed, right
    # a student's symbol with assumptions still matches by name
    assert check("4.1", sp.exp(sp.Symbol("z", real=True)) / (1 + sp.exp(sp.Symbol("z", real=True)))).passed
    assert "chain-rule factor" in check("4.1", 1 / (1 + sp.exp(z))).message
    assert "outer ln" in check("4.1", sp.exp(z)).message
    assert "sign" in check("4.1", -symbolic.Sigmoid(z)).message
    assert "only the symbols" in check("4.1", sp.Symbol("q")).message
    assert not check("4.1", z**2).passed


def test_first_layer_gradient():
    yhat, y, w, h, x = sp.symbols("yhat y w h x")
    assert check("4.2", (yhat - y) * w * h * (1 - h) * x).passed
    assert check("4.2", "(yhat - y) * w * h * (1 - h) * x").passed
    assert "skips the chain rule" in check("4.2", (yhat - y) * x).message
    # what the article's section 4.3 computes: sigma'(a_j) x_k, and h_j x_k with h written for sigma'
    assert "last two links" in check("4.2", h * (1 - h) * x).message
    assert "article's section 4.3 'gradient'" in check("4.2", h * x).message
    assert "without the ½" in check("4.2", (yhat - y) * w * h * (1 - h) * x / 2).message
    assert "σ'(a_j)" in check("4.2", (yhat - y) * w * x).message
    assert "W2_j" in check("4.2", (yhat - y) * h * (1 - h) * x).message
    assert "x_k" in check("4.2", (yhat - y) * w * h * (1 - h)).message
    assert "sign" in check("4.2", (y - yhat) * w * h * (1 - h) * x).message
    assert "ŷ(1 - ŷ)" in check("4.2", (yhat - y) * yhat * (1 - yhat) * w * h * (1 - h) * x).message
    assert "is 0" in check("4.2", 0).message


def test_divergence_threshold():
    surface = symbolic.line_fit_surface(symbolic.LINE_FIT_DATA + ((4, 7),))
    lam_min, lam_max = sorted(surface.hessian.eigenvals(), key=float)
    edge = float(2 / lam_max)
    assert abs(edge - 0.149219) < 1e-6  # (7 - sqrt(41)) / 4
    result = check("4.3", 0.149)  # the answer the solution gives, at the three decimals asked for
    assert result.passed and "0.1492" in result.message
    assert check("4.3", edge).passed and check("4.3", sp.N(2 / lam_max, 10)).passed
    assert not check("4.3", 0.15).passed and not check("4.3", 0.148).passed
    chapter_edge = float(2 / max(symbolic.line_fit_surface().hessian.eigenvals(), key=float))
    assert "four-point surface" in check("4.3", round(chapter_edge, 3)).message  # the number printed above
    assert "oscillation starts" in check("4.3", float(1 / lam_max)).message
    assert "largest eigenvalue" in check("4.3", float(2 / lam_min)).message
    assert "best constant step" in check("4.3", float(2 / (lam_min + lam_max))).message
    assert not check("4.3", 1.0).passed


def test_summed_loss_learning_rate():
    assert check("4.4", 0.1 / 32).passed
    assert "divide" in check("4.4", 3.2).message
    assert "32 times larger" in check("4.4", 0.1).message
    assert "larger steps" in check("4.4", 0.01).message  # a direction, not a ratio that gives the value
    assert "smaller steps" in check("4.4", 0.0001).message
    assert not check("4.4", -1).passed
