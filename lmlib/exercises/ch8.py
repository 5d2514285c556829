"""Exercises of chapter 8, part A (notebooks 8a and 8b): scale, compute and energy, better algorithms,
several processes. 8.1-8.5 belong to 8a (scale, compute and energy), 8.6-8.9 to 8b (algorithms and
several processes; 8.9 is written). Part B's notebooks use 8.10 upward (``ch8b``).
"""

from __future__ import annotations

import math
import random
from typing import Any

from ._core import Unanswered, _grade, _number, register, register_written

# ---- 8a scale, compute and energy ----------------------------------------------------------------------


def _six_nd_variant(rng: random.Random) -> dict[str, Any]:
    return {"params": rng.choice((3_312, 12_768, 25_472, 56_640, 100_096, 233_680)),
            "tokens": 2 ** rng.randint(17, 21)}


@register("8.1", answer="answer_8_1", points=1, book={"params": 100_096, "tokens": 2**20}, variants=_six_nd_variant,
          describe=lambda p: f"a GPT with N = {p['params']:,} non-embedding parameters trains on D = {p['tokens']:,} tokens.",
          solution=lambda p: f"6 * {p['params']} * {p['tokens']}")
def _six_nd(answer: Any, p: dict[str, Any]) -> tuple[bool, str]:
    n, d = p["params"], p["tokens"]
    truth = 6.0 * n * d
    value = _number(answer)
    mistakes = [
        (2 * n * d, "2ND is the forward pass only; the backward pass costs about twice as much again (6ND)."),
        (4 * n * d, "4ND is the backward pass alone; add the forward pass (2ND)."),
        (n * d, "each parameter costs 6 FLOPs per token in training (2 forward, 4 backward), not 1."),
        (6 * n, "that is the cost of one token; multiply by the D tokens."),
    ]
    right = f"right: 6 x {n:,} x {d:,} = {truth:.3e} FLOPs."
    return _grade(value, truth, 0.01, right, mistakes, f"{value:g} is not it: C = 6 N D.")


def _chinchilla_variant(rng: random.Random) -> dict[str, Any]:
    return {"flops": rng.choice((1e21, 3e22, 5.76e23, 2e24, 1e25)), "tokens_per_param": rng.choice((10, 20, 40))}


@register("8.2", answer="answer_8_2", points=1, book={"flops": 5.76e23, "tokens_per_param": 20},
          variants=_chinchilla_variant,
          describe=lambda p: (f"a budget of C = {p['flops']:.3g} FLOPs, spent by the rule D = {p['tokens_per_param']} N "
                              f"(tokens per parameter)."),
          solution=lambda p: f"math.sqrt({p['flops']!r} / (6 * {p['tokens_per_param']}))")
def _compute_optimal_size(answer: Any, p: dict[str, Any]) -> tuple[bool, str]:
    c, k = p["flops"], p["tokens_per_param"]
    truth = math.sqrt(c / (6 * k))
    value = _number(answer)
    mistakes = [
        (c / (6 * k), f"that is N squared: C = 6 N ({k} N), so take the square root."),
        (math.sqrt(c / 6), f"you left out the {k}: with D = {k} N, C = 6 x {k} x N^2."),
        (math.sqrt(c / k), "you left out the 6 of 6ND."),
        (k * truth, "that is D, the tokens; the question asks for N."),
    ]
    right = f"right: N = sqrt(C / (6 x {k})) = {truth:.3g} parameters."
    return _grade(value, truth, 0.02, right, mistakes,
                  f"{value:g} is not it: put D = {k} N into C = 6 N D and solve for N.")


def _two_points_variant(rng: random.Random) -> dict[str, Any]:
    n1 = rng.choice((3_000, 10_000, 30_000))
    l1 = rng.choice((2.2, 2.0, 1.9))
    return {"n": (n1, n1 * rng.choice((4, 10, 30))), "loss": (l1, round(l1 - rng.choice((0.2, 0.3, 0.4)), 2))}


@register("8.3", answer="answer_8_3", points=1, book={"n": (10_000, 100_000), "loss": (2.0, 1.6)},
          variants=_two_points_variant,
          describe=lambda p: (f"two runs: N = {p['n'][0]:,} reaches loss {p['loss'][0]}, N = {p['n'][1]:,} reaches "
                              f"{p['loss'][1]}; fit L = a N^-alpha through both."),
          solution=lambda p: f"math.log({p['loss'][0]} / {p['loss'][1]}) / math.log({p['n'][1]} / {p['n'][0]})")
def _exponent_from_two_points(answer: Any, p: dict[str, Any]) -> tuple[bool, str]:
    (n1, n2), (l1, l2) = p["n"], p["loss"]
    truth = math.log(l1 / l2) / math.log(n2 / n1)
    value = _number(answer)
    mistakes = [
        (-truth, "the exponent of L = a N^-alpha is positive when the loss falls; mind the sign."),
        (math.log(l1 / l2), "divide by log(N2/N1) as well: alpha = log(L1/L2) / log(N2/N1)."),
        (math.log10(l1 / l2), "divide by log10(N2/N1) as well, and use the same logarithm for both."),
        ((l1 - l2) / (n2 - n1), "a power law is a straight line on log-log axes, not on linear ones."),
        (1 / truth, "that is 1/alpha; alpha = log(L1/L2) / log(N2/N1)."),
    ]
    right = f"right: alpha = ln({l1}/{l2}) / ln({n2:,}/{n1:,}) = {truth:.4f}."
    return _grade(value, truth, 0.01, right, mistakes, f"{value:g} is not it: take logarithms of L = a N^-alpha.")


def _energy_variant(rng: random.Random) -> dict[str, Any]:
    return {"flops": rng.choice((2e12, 6e12, 1.5e13, 4e13)), "flops_per_s": rng.choice((10e9, 30e9, 80e9)),
            "watts": rng.choice((10.0, 15.0, 25.0, 45.0))}


@register("8.4", answer="answer_8_4", points=1, book={"flops": 6e12, "flops_per_s": 30e9, "watts": 15.0},
          variants=_energy_variant,
          describe=lambda p: (f"a training run needs {p['flops']:.3g} FLOPs; the CPU sustains {p['flops_per_s']:.3g} "
                              f"FLOP/s and draws {p['watts']:g} W more than when idle. Energy in joules?"),
          solution=lambda p: f"{p['flops']!r} / {p['flops_per_s']!r} * {p['watts']!r}")
def _energy(answer: Any, p: dict[str, Any]) -> tuple[bool, str]:
    f, r, w = p["flops"], p["flops_per_s"], p["watts"]
    truth = f / r * w
    value = _number(answer)
    mistakes = [
        (f / r, "that is the time in seconds; energy is power times time."),
        (truth / 3600, "that is in watt-hours; the question asks for joules (watt-seconds)."),
        (truth / 3.6e6, "that is in kilowatt-hours; the question asks for joules."),
        (f * w, "divide the FLOPs by the FLOP/s first to get the seconds."),
        (r / f * w, "the time is FLOPs / (FLOP/s), not the other way round."),
    ]
    right = f"right: {f:.3g} / {r:.3g} = {f / r:.0f} s at {w:g} W: {truth:,.0f} J ({truth / 3600:.2f} Wh)."
    return _grade(value, truth, 0.01, right, mistakes, f"{value:g} is not it: energy = power x time.")


def _mfu_variant(rng: random.Random) -> dict[str, Any]:
    return {"tokens_per_s": rng.choice((5_000, 12_000, 25_000, 60_000)),
            "flops_per_token": rng.choice((1.1e6, 2.4e6, 5.2e6)), "peak": rng.choice((160e9, 320e9, 640e9))}


@register("8.5", answer="answer_8_5", points=1, book={"tokens_per_s": 25_000, "flops_per_token": 5.2e6, "peak": 320e9},
          variants=_mfu_variant,
          describe=lambda p: (f"training processes {p['tokens_per_s']:,} tokens/s at {p['flops_per_token']:.3g} FLOPs "
                              f"per token on a chip whose peak is {p['peak']:.3g} FLOP/s. Utilisation, as a fraction?"),
          solution=lambda p: f"{p['tokens_per_s']} * {p['flops_per_token']!r} / {p['peak']!r}")
def _mfu(answer: Any, p: dict[str, Any]) -> tuple[bool, str]:
    t, f, peak = p["tokens_per_s"], p["flops_per_token"], p["peak"]
    truth = t * f / peak
    value = _number(answer)
    if math.isclose(value / 100, truth, rel_tol=0.01) and not math.isclose(value, truth, rel_tol=0.01):
        return False, "give it as a fraction (for example 0.25), not a percentage."
    mistakes = [
        (peak / (t * f), "upside down: utilisation = achieved FLOP/s / peak FLOP/s."),
        (t / peak, "multiply the tokens per second by the FLOPs per token first."),
    ]
    right = f"right: {t:,} x {f:.3g} = {t * f:.3g} FLOP/s of a {peak:.3g} peak: {truth:.1%}."
    return _grade(value, truth, 0.01, right, mistakes, f"{value:g} is not it: achieved FLOP/s over peak FLOP/s.")


# ---- 8b better algorithms, several processes -----------------------------------------------------------


def _progress_variant(rng: random.Random) -> dict[str, Any]:
    return {"old_steps": rng.choice((600, 1000, 1500)), "new_steps": rng.choice((200, 300, 400)),
            "cost_ratio": rng.choice((1.05, 1.1, 1.25, 1.4))}


@register("8.6", answer="answer_8_6", points=1, book={"old_steps": 1000, "new_steps": 400, "cost_ratio": 1.1},
          variants=_progress_variant,
          describe=lambda p: (f"the old recipe reaches a loss in {p['old_steps']} steps, the new one in "
                              f"{p['new_steps']}, and a new step costs {p['cost_ratio']} old steps of time. "
                              f"How many times less wall time does the new recipe need?"),
          solution=lambda p: f"{p['old_steps']} / ({p['new_steps']} * {p['cost_ratio']})")
def _progress_ratio(answer: Any, p: dict[str, Any]) -> tuple[bool, str]:
    old, new, cost = p["old_steps"], p["new_steps"], p["cost_ratio"]
    truth = old / (new * cost)
    value = _number(answer)
    mistakes = [
        (old / new, "that is the ratio of steps; each new step costs more than an old one, so divide by that too."),
        (old * cost / new, "multiply the new recipe's steps by their cost, don't multiply the old ones."),
        (new * cost / old, "that is the fraction of the time the new recipe needs; the question asks for the speed-up."),
    ]
    right = f"right: {old} / ({new} x {cost}) = {truth:.2f} times less wall time to the same loss."
    return _grade(value, truth, 0.01, right, mistakes, f"{value:g} is not it: compare the seconds each recipe needs.")


def _rms_cases(rng: random.Random) -> dict[str, Any]:
    cases = []
    for _ in range(2):
        dim = rng.choice((4, 6, 8))
        rows = rng.randint(2, 4)
        x = tuple(tuple(round(rng.uniform(-3, 4), 3) for _ in range(dim)) for _ in range(rows))
        w = tuple(round(rng.uniform(0.5, 2.0), 3) for _ in range(dim))
        cases.append((x, w))
    return {"cases": tuple(cases)}


_RMS_BOOK = {"cases": (
    (((1.0, -2.0, 3.0, 0.5), (4.0, 0.0, -1.0, 2.0), (0.1, 0.2, -0.3, 0.4)), (0.5, 1.0, 1.5, 2.0)),
    (((2.0, 2.0, 2.0, 2.0, -1.0, 0.0), (3.0, -3.0, 1.0, 0.0, 5.0, -2.0)), (1.0, 1.0, 1.0, 2.0, 2.0, 0.5)),
)}


@register("8.7", kind="function", answer="rms_norm", points=2, book=_RMS_BOOK, variants=_rms_cases)
def _rms_norm(answer: Any, p: dict[str, Any]) -> tuple[bool, str]:
    import torch

    if not callable(answer):
        return False, "pass your function itself (rms_norm), not its result."
    for rows, weights in p["cases"]:
        x, w = torch.tensor(rows), torch.tensor(weights)
        got = answer(x.clone(), w.clone())
        if got is None:
            raise Unanswered("rms_norm returns None: finish it so that it returns the normalised tensor.")
        got = torch.as_tensor(got, dtype=torch.float32)
        if got.shape != x.shape:
            return False, f"the output should have the input's shape {tuple(x.shape)}; yours has {tuple(got.shape)}."
        want = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * w
        if torch.allclose(got, want, atol=1e-4):
            continue
        if torch.allclose(got, torch.nn.functional.layer_norm(x, (x.shape[-1],), w, None, eps=1e-6), atol=1e-4):
            return False, "that is LayerNorm: RMSNorm does not subtract the mean."
        if torch.allclose(got, want / w, atol=1e-4):
            return False, "you forgot to multiply by the learned weight."
        if torch.allclose(got, x / (x.pow(2).mean(-1, keepdim=True) + 1e-6) * w, atol=1e-4):
            return False, "divide by the root of the mean square, not by the mean square."
        if torch.allclose(got, x * torch.rsqrt(x.pow(2).mean() + 1e-6) * w, atol=1e-4):
            return False, "normalise each vector (the last dimension) on its own, not the whole tensor."
        return False, "not yet: each vector along the last dimension should be divided by its root mean square."
    return True, "right: x / sqrt(mean(x^2) + eps) * weight, over the last dimension."


def _allreduce_variant(rng: random.Random) -> dict[str, Any]:
    return {"params": rng.choice((250_000, 800_000, 1_500_000, 7_000_000)), "world": rng.choice((2, 4, 8, 16)),
            "bytes_per_value": rng.choice((2, 4))}


@register("8.8", answer="answer_8_8", points=1, book={"params": 800_000, "world": 4, "bytes_per_value": 4},
          variants=_allreduce_variant,
          describe=lambda p: (f"a model of {p['params']:,} parameters trains data-parallel on {p['world']} processes; "
                              f"gradients are {p['bytes_per_value']} bytes per value. Bytes each process sends per "
                              f"step in a ring all-reduce?"),
          solution=lambda p: f"2 * ({p['world']} - 1) / {p['world']} * {p['params']} * {p['bytes_per_value']}")
def _allreduce_bytes(answer: Any, p: dict[str, Any]) -> tuple[bool, str]:
    n, world, b = p["params"], p["world"], p["bytes_per_value"]
    truth = 2 * (world - 1) / world * n * b
    value = _number(answer)
    mistakes = [
        (n * b, "that is one copy of the gradients; a ring all-reduce sends each value 2(p-1)/p times."),
        (2 * n * b, "close: the factor is 2(p-1)/p, which is 2 only for infinitely many processes."),
        (2 * (world - 1) / world * n, "that counts values; multiply by the bytes per value."),
        ((world - 1) / world * n * b, "that is only the reduce-scatter half; the all-gather half sends as much again."),
    ]
    right = f"right: 2 x ({world}-1)/{world} x {n:,} x {b} bytes = {truth / 1e6:.2f} MB per process per step."
    return _grade(value, truth, 0.01, right, mistakes, f"{value:g} is not it: 2(p-1)/p x N x bytes per value.")


register_written("8.9", points=2)
