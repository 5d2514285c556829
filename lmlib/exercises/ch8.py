"""Checks for chapter 8: trends and challenges (scale, algorithms, compute, several processes).

8.1-8.6 belong to the first notebook (scale and algorithms; 8.6 is open), 8.7-8.10 to the second (compute and
processes; 8.10 is open).
"""

from __future__ import annotations

import math
from typing import Any

from ._core import _grade, _number, register

# 8.1: the compute of one run of the scaling sweep
EX_8_1 = {"params": 100_096, "tokens": 2**20}
# 8.2: the compute of Chinchilla's training (Hoffmann et al. 2022) and the rule D = 20 N
EX_8_2 = {"flops": 5.76e23, "tokens_per_param": 20}
# 8.3: a power-law exponent from two points
EX_8_3 = {"n": (10_000, 100_000), "loss": (2.0, 1.6)}
# 8.4: an algorithmic-progress ratio
EX_8_4 = {"old_steps": 1000, "new_steps": 400, "cost_ratio": 1.1}
# 8.7: energy of a CPU run
EX_8_7 = {"flops": 6e12, "flops_per_s": 30e9, "watts": 15.0}
# 8.8: model-FLOPs utilisation
EX_8_8 = {"tokens_per_s": 25_000, "flops_per_token": 5.2e6, "peak": 320e9}
# 8.9: the data an all-reduce moves
EX_8_9 = {"params": 800_000, "world": 4, "bytes_per_value": 4}


@register("8.1")
def _six_nd(answer: Any) -> tuple[bool, str]:
    from ..scaling import training_flops

    n, d = EX_8_1["params"], EX_8_1["tokens"]
    truth = training_flops(n, d)
    value = _number(answer)
    mistakes = [
        (2 * n * d, "2ND is the forward pass only; the backward pass costs about twice as much again (6ND)."),
        (4 * n * d, "4ND is the backward pass alone; add the forward pass (2ND)."),
        (n * d, "each parameter costs 6 FLOPs per token in training (2 forward, 4 backward), not 1."),
        (6 * n, "that is the cost of one token; multiply by the D tokens."),
        (6 * n * d / 2**20, "D is 2**20 tokens, not 1."),
    ]
    right = f"right: 6 x {n:,} x {d:,} = {truth:.3e} FLOPs."
    return _grade(value, truth, 0.01, right, mistakes, f"{value:g} is not it: C = 6 N D.")


@register("8.2")
def _compute_optimal_size(answer: Any) -> tuple[bool, str]:
    c, k = EX_8_2["flops"], EX_8_2["tokens_per_param"]
    truth = math.sqrt(c / (6 * k))
    value = _number(answer)
    mistakes = [
        (c / (6 * k), "that is N squared: C = 6 N (20 N) = 120 N^2, so take the square root."),
        (math.sqrt(c / 6), "you left out the 20: with D = 20 N, C = 120 N^2."),
        (math.sqrt(c / k), "you left out the 6 of 6ND."),
        (k * truth, "that is D, the tokens; the question asks for N."),
    ]
    right = f"right: N = sqrt(C / 120) = {truth:.3g}, about the 70 billion parameters Chinchilla had."
    return _grade(value, truth, 0.02, right, mistakes, f"{value:g} is not it: put D = 20 N into C = 6 N D and solve.")


@register("8.3")
def _exponent_from_two_points(answer: Any) -> tuple[bool, str]:
    from ..scaling import fit_power_law

    (n1, n2), (l1, l2) = EX_8_3["n"], EX_8_3["loss"]
    truth = fit_power_law([n1, n2], [l1, l2]).exponent
    value = _number(answer)
    mistakes = [
        (-truth, "the exponent of L = a N^-alpha is positive when the loss falls; mind the sign."),
        (math.log(l1 / l2), "divide by log(N2/N1) as well: alpha = log(L1/L2) / log(N2/N1)."),
        (math.log10(l1 / l2), "divide by log10(N2/N1) = 1 ... and use the same logarithm for both."),
        ((l1 - l2) / (n2 - n1), "a power law is a straight line on log-log axes, not on linear ones."),
        (1 / truth, "that is 1/alpha; alpha = log(L1/L2) / log(N2/N1)."),
    ]
    right = f"right: alpha = ln({l1}/{l2}) / ln({n2:,}/{n1:,}) = {truth:.4f}."
    return _grade(value, truth, 0.01, right, mistakes, f"{value:g} is not it: take logarithms of L = a N^-alpha.")


@register("8.4")
def _progress_ratio(answer: Any) -> tuple[bool, str]:
    old, new, cost = EX_8_4["old_steps"], EX_8_4["new_steps"], EX_8_4["cost_ratio"]
    truth = old / (new * cost)
    value = _number(answer)
    mistakes = [
        (old / new, "that is the ratio of steps; each new step costs 1.1 old ones, so divide by 1.1 too."),
        (old * cost / new, "multiply the new recipe's steps by their cost, don't multiply the old ones."),
        (new * cost / old, "that is the fraction of the time the new recipe needs; the question asks for the speed-up."),
    ]
    right = f"right: {old} / ({new} x {cost}) = {truth:.2f} times less wall time to the same loss."
    return _grade(value, truth, 0.01, right, mistakes, f"{value:g} is not it: compare the seconds each recipe needs.")


@register("8.5")
def _rms_norm(answer: Any) -> tuple[bool, str]:
    import torch

    from ..layers import RMSNorm

    if not callable(answer):
        return False, "pass your function itself (rms_norm), not its result."
    torch.manual_seed(0)
    x = torch.randn(3, 5, 8) * 3 + 1
    weight = torch.linspace(0.5, 2.0, 8)
    norm = RMSNorm(8)
    with torch.no_grad():
        norm.weight.copy_(weight)
        want = norm(x)
    got = answer(x, weight)
    if got is None:
        return False, "rms_norm returned None: finish it so that it returns the normalised tensor."
    got = torch.as_tensor(got, dtype=torch.float32)
    if got.shape != x.shape:
        return False, f"the output should have the input's shape {tuple(x.shape)}; yours has {tuple(got.shape)}."
    if torch.allclose(got, want, atol=1e-4):
        return True, "right: x / sqrt(mean(x^2) + eps) * weight, over the last dimension."
    mean_centred = torch.nn.functional.layer_norm(x, (8,), weight, None, eps=1e-6)
    if torch.allclose(got, mean_centred, atol=1e-4):
        return False, "that is LayerNorm: RMSNorm does not subtract the mean."
    if torch.allclose(got, want / weight, atol=1e-4):
        return False, "you forgot to multiply by the learned weight."
    if torch.allclose(got, x / x.pow(2).mean(-1, keepdim=True).add(1e-6) * weight, atol=1e-4):
        return False, "divide by the root of the mean square, not by the mean square."
    whole = x * torch.rsqrt(x.pow(2).mean() + 1e-6) * weight
    if torch.allclose(got, whole, atol=1e-4):
        return False, "normalise each vector (the last dimension) on its own, not the whole tensor."
    return False, "not yet: each vector along the last dimension should be divided by its root mean square."


@register("8.7")
def _energy(answer: Any) -> tuple[bool, str]:
    f, r, w = EX_8_7["flops"], EX_8_7["flops_per_s"], EX_8_7["watts"]
    truth = f / r * w
    value = _number(answer)
    mistakes = [
        (f / r, "that is the time in seconds; energy is power times time."),
        (f / r * w / 3600, "that is in watt-hours; the question asks for joules (watt-seconds)."),
        (f / r * w / 3.6e6, "that is in kilowatt-hours; the question asks for joules."),
        (f * w, "divide the FLOPs by the FLOP/s first to get the seconds."),
    ]
    right = f"right: {f:.0e} / {r:.0e} = {f / r:.0f} s at {w:g} W: {truth:,.0f} J ({truth / 3600:.2f} Wh)."
    return _grade(value, truth, 0.01, right, mistakes, f"{value:g} is not it: energy = power x time.")


@register("8.8")
def _mfu(answer: Any) -> tuple[bool, str]:
    t, f, p = EX_8_8["tokens_per_s"], EX_8_8["flops_per_token"], EX_8_8["peak"]
    truth = t * f / p
    value = _number(answer)
    if value > 1.5:
        value_fraction = value / 100
        if math.isclose(value_fraction, truth, rel_tol=0.01):
            return False, "give it as a fraction (0.41), not a percentage."
    mistakes = [
        (p / (t * f), "upside down: utilisation = achieved FLOP/s / peak FLOP/s."),
        (t / p, "multiply the tokens per second by the FLOPs per token first."),
    ]
    right = f"right: {t:,} x {f:.2g} = {t * f:.3g} FLOP/s of a {p:.3g} peak: {truth:.1%}."
    return _grade(value, truth, 0.01, right, mistakes, f"{value:g} is not it: achieved FLOP/s over peak FLOP/s.")


@register("8.9")
def _allreduce_bytes(answer: Any) -> tuple[bool, str]:
    from ..distributed import allreduce_bytes

    n, p, b = EX_8_9["params"], EX_8_9["world"], EX_8_9["bytes_per_value"]
    truth = allreduce_bytes(n, p, b)
    value = _number(answer)
    mistakes = [
        (n * b, "that is one copy of the gradients; a ring all-reduce sends each value 2(p-1)/p times."),
        (2 * n * b, "close: the factor is 2(p-1)/p, which is 2 only for infinitely many processes."),
        (2 * (p - 1) / p * n, "that counts values; multiply by 4 bytes per float32."),
        ((p - 1) / p * n * b, "that is only the reduce-scatter half; the all-gather half sends as much again."),
    ]
    right = f"right: 2 x ({p}-1)/{p} x {n:,} x {b} bytes = {truth / 1e6:.1f} MB per process per step."
    return _grade(value, truth, 0.01, right, mistakes, f"{value:g} is not it: 2(p-1)/p x N x bytes per value.")
