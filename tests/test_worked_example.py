"""lmlib.worked_example: the article's section 4.3 example, with its stated values and the chapter's
assumptions, computed exactly; the same numbers from plain float arithmetic and from torch autograd; the
loss falls after the step; other values and bad input."""

import math
import random

import pytest
import sympy as sp
import torch

from lmlib import symbolic, worked_example as we

GOLDEN = {  # worked_example().decimals(10); test_golden_values_by_plain_arithmetic recomputes them
    "a1": ["1.800000000", "1.900000000"],
    "h": ["0.8581489351", "0.8698915256"],
    "a2": "0.5597931986",
    "yhat": "0.6364046891",
    "loss": "0.2259603072",
    "delta2": "-0.1817976555",
    "delta1": ["-0.002213010866", "-0.004115181156"],
    "dW1": ["-0.002213010866", "-0.004426021733", "-0.006639032599", "-0.004115181156", "-0.008230362311",
            "-0.01234554347"],
    "db1": ["-0.002213010866", "-0.004115181156"],
    "dW2": ["-0.1560094644", "-0.1581442399"],
    "db2": ["-0.1817976555"],
    "W1_new": ["0.1002213011", "0.2004426022", "0.3006639033", "0.1004115181", "0.2008230362", "0.3012345543"],
    "b1_new": ["0.4002213011", "0.5004115181"],
    "W2_new": ["0.1156009464", "0.2158144240"],
    "b2_new": ["0.3181797655"],
    "a1_after": ["1.803319516", "1.906172772"],
    "h_after": ["0.8585525374", "0.8705885678"],
    "a2_after": "0.6053148217",
    "yhat_after": "0.6468713102",
    "loss_after": "0.2178039533",
}


@pytest.fixture(scope="module")
def example():
    return we.worked_example()


def test_decimals_are_the_stored_ones(example):
    assert example.decimals(10) == GOLDEN


def _plain_float_example():
    """The same example with the math module only: no sympy, no torch, no lmlib."""
    s = lambda v: 1 / (1 + math.exp(-v))  # noqa: E731
    x, W, b, W2, b2, lr, half = [1, 2, 3], [[0.1, 0.2, 0.3]] * 2, [0.4, 0.5], [0.1, 0.2], 0.3, 0.1, 0.5

    def forward(W, b, W2, b2):
        h = [s(sum(w * xk for w, xk in zip(row, x)) + bj) for row, bj in zip(W, b)]
        yhat = s(sum(w * hj for w, hj in zip(W2, h)) + b2)
        return h, yhat, -half * math.log(yhat)

    h, yhat, loss = forward(W, b, W2, b2)
    d2 = half * (yhat - 1)
    d1 = [d2 * W2[j] * h[j] * (1 - h[j]) for j in range(2)]
    new = ([[W[j][k] - lr * d1[j] * x[k] for k in range(3)] for j in range(2)],
           [b[j] - lr * d1[j] for j in range(2)], [W2[j] - lr * d2 * h[j] for j in range(2)], b2 - lr * d2)
    h_after, yhat_after, loss_after = forward(*new)
    return {"h": h, "yhat": yhat, "loss": loss, "db1": d1, "dW2": [d2 * hj for hj in h], "db2": d2,
            "W1_new": new[0][0] + new[0][1], "b1_new": new[1], "W2_new": new[2], "b2_new": new[3],
            "h_after": h_after, "yhat_after": yhat_after, "loss_after": loss_after}


def test_golden_values_by_plain_arithmetic():
    for key, value in _plain_float_example().items():
        values = value if isinstance(value, list) else [value]
        stored = GOLDEN[key] if isinstance(GOLDEN[key], list) else [GOLDEN[key]]
        assert len(values) == len(stored), key
        for v, g in zip(values, stored):
            assert math.isclose(v, float(g), rel_tol=1e-9), (key, v, g)


def test_it_is_exactly_what_the_formulas_give(example):
    R, S = sp.Rational, symbolic.Sigmoid
    h1, h2 = S(R(9, 5)), S(R(19, 10))  # a1 = 1.4 + [0.4, 0.5]
    a2 = h1 / 10 + h2 / 5 + R(3, 10)
    yhat = S(a2)
    assert example.a1 == sp.Matrix([R(9, 5), R(19, 10)])
    assert example.h == sp.Matrix([h1, h2])
    assert sp.simplify(example.a2 - a2) == 0
    assert example.yhat == yhat
    assert sp.simplify(example.loss - (-sp.log(yhat) / 2)) == 0  # the article's -1/2 log(p)
    assert example.delta2 == (yhat - 1) / 2
    assert example.sigma_prime == sp.Matrix([h1 * (1 - h1), h2 * (1 - h2)])
    delta1 = sp.Matrix([(yhat - 1) / 2 * R(1, 10) * h1 * (1 - h1), (yhat - 1) / 2 * R(1, 5) * h2 * (1 - h2)])
    expected = {"W1": delta1 * sp.Matrix([[1, 2, 3]]), "b1": delta1,
                "W2": (yhat - 1) / 2 * sp.Matrix([[h1, h2]]), "b2": sp.Matrix([[(yhat - 1) / 2]])}
    for name, grad in expected.items():
        assert sp.simplify(example.grads[name] - grad) == sp.zeros(*grad.shape), name
        assert sp.simplify(example.updated[name] - (example.params[name] - R(1, 10) * grad)) == sp.zeros(*grad.shape)
    assert example.h[0].rewrite(sp.exp) == 1 / (1 + sp.exp(-R(9, 5)))


def test_the_loss_falls_after_the_step(example):
    drop = example.loss - example.loss_after
    assert sp.N(drop, 50) > 0
    alpha = sp.Symbol("alpha")
    along = example.loss_at({k: example.params[k] - alpha * example.grads[k] for k in example.params})
    assert sp.expand(sp.diff(along, alpha).subs(alpha, 0) + example.gradient_norm2) == 0
    assert abs(float(drop) - float(example.lr * example.gradient_norm2)) < 0.05 * float(drop)
    # updating only the hidden layer, as the article does, lowers the loss too (a little)
    hidden_only = example.loss_at({**example.params, "W1": example.updated["W1"], "b1": example.updated["b1"]})
    assert 0 < sp.N(example.loss - hidden_only, 30) < sp.N(drop, 30) / 100


def test_matches_torch_autograd(example):
    auto = we.worked_example_torch(example)
    exact = {"h": example.h, "yhat": example.yhat, "loss": example.loss, "h_after": example.h_after,
             "yhat_after": example.yhat_after, "loss_after": example.loss_after}
    exact.update({f"d{k}": g for k, g in example.grads.items()})
    exact.update({f"{k}_new": v for k, v in example.updated.items()})
    for key, value in exact.items():
        want = torch.tensor([float(v) for v in sp.Matrix([value])], dtype=torch.float64)
        assert torch.allclose(auto[key].reshape(-1), want, rtol=0, atol=1e-14), key
    assert auto["loss_after"] < auto["loss"]


@pytest.mark.parametrize("seed", range(3))
def test_loss_falls_for_other_values(seed):
    gen = random.Random(seed)
    values = lambda n: [str(sp.Rational(gen.randint(-5, 5), 10)) for _ in range(n)]  # noqa: E731
    example = we.worked_example(W1=[values(3), values(3)], b1=values(2), W2=[values(2)], b2=values(1),
                                y=gen.randint(0, 1), scale=1)
    assert sp.N(example.loss - example.loss_after, 30) > 0


def test_the_article_values_and_assumptions_are_stated():
    assert we.ARTICLE_EXAMPLE["x"] == ["1", "2", "3"] and we.ARTICLE_EXAMPLE["scale"] == "1/2"
    assert len(we.ASSUMPTIONS) >= 5 and all(isinstance(a, str) and a for a in we.ASSUMPTIONS)


def test_rejects_unknown_values_bad_shapes_and_bad_targets():
    with pytest.raises(ValueError, match="unknown"):
        we.worked_example(W3=[[1]])
    with pytest.raises(ValueError, match="shapes"):
        we.worked_example(W2=[[1, 2, 3]])
    with pytest.raises(ValueError, match="target label"):
        we.worked_example(y=2)
