"""Exercises of chapter 2: core concepts and the CPU analogy."""

from __future__ import annotations

import math
import random
from typing import Any

from ._core import _grade, _number, register, register_written

# Landmark Intel CPUs and their transistor counts, as chapter 2 cites them (Intel 2008).
INTEL_CPUS = (
    ("Intel 4004", 1971, 2_300), ("Intel 8008", 1972, 3_500), ("Intel 8086", 1978, 29_000),
    ("Intel 286", 1982, 134_000), ("Intel 386 DX", 1985, 275_000), ("Intel 486 DX", 1989, 1_200_000),
    ("Intel Pentium", 1993, 3_100_000), ("Intel Pentium Pro", 1995, 5_500_000),
    ("Intel Pentium II", 1997, 7_500_000), ("Intel Pentium III", 1999, 9_500_000),
    ("Intel Pentium 4", 2000, 42_000_000), ("Intel Core 2 Duo", 2006, 291_000_000),
)


def _two_chips(rng: random.Random) -> dict[str, Any]:
    pairs = [(a, b) for a in INTEL_CPUS for b in INTEL_CPUS if b[1] - a[1] >= 6]
    a, b = rng.choice(pairs)
    return {"chips": (a, b)}


def _describe_chips(p: dict[str, Any]) -> str:
    (n0, y0, c0), (n1, y1, c1) = p["chips"]
    return f"the {n0} ({y0}) had {c0:,} transistors and the {n1} ({y1}) {c1:,}."


@register("2.1", answer="answer_2_1", points=1,
          book={"chips": (("Intel 8086", 1978, 29_000), ("Intel Pentium", 1993, 3_100_000))},
          variants=_two_chips, describe=_describe_chips,
          solution=lambda p: f"({p['chips'][1][1]} - {p['chips'][0][1]}) / math.log2({p['chips'][1][2]} / {p['chips'][0][2]})")
def _doubling_time_of_two_chips(answer: Any, p: dict[str, Any]) -> tuple[bool, str]:
    from ..growth import doubling_time

    (_, y0, c0), (_, y1, c1) = p["chips"]
    truth = doubling_time([y0, y1], [c0, c1])
    value = _number(answer)
    years, ratio = y1 - y0, c1 / c0
    mistakes = [
        (years / math.log(ratio), "you used the natural logarithm; a doubling time needs log2 (or ln(ratio)/ln 2)."),
        (years / math.log10(ratio), "you used log10; a doubling time needs log2 of the growth factor."),
        (math.log2(ratio), "that is the number of doublings; divide the years by it."),
        (math.log2(ratio) / years, "that is doublings per year; the doubling time is its inverse."),
        (ratio / years, "growth is not linear: count the doublings, then divide the years by them."),
    ]
    right = f"right: {years} years / log2({c1:,}/{c0:,}) = {truth:.2f} years per doubling."
    otherwise = (f"{value:g} is not it: find how many times the count doubled between the two chips, then how "
                 "many years each doubling took.")
    return _grade(value, truth, 0.01, right, mistakes, otherwise)


def _amdahl_variant(rng: random.Random) -> dict[str, Any]:
    return {"s": rng.choice((0.02, 0.05, 0.08, 0.1, 0.12, 0.15, 0.2, 0.25, 0.3)),
            "n": rng.choice((4, 6, 8, 12, 16, 24, 32, 64))}


@register("2.2", answer="answer_2_2", points=1, book={"s": 0.1, "n": 8}, variants=_amdahl_variant,
          describe=lambda p: (f"{p['s'] * 100:g} % of the step's time cannot be parallelised, and it runs on "
                              f"{p['n']} threads."),
          solution=lambda p: f"1 / ({p['s']} + (1 - {p['s']}) / {p['n']})")
def _amdahl_speedup(answer: Any, p: dict[str, Any]) -> tuple[bool, str]:
    from ..growth import amdahl_speedup

    s, n = p["s"], p["n"]
    truth = amdahl_speedup(s, n)
    value = _number(answer)
    mistakes = [
        (n, f"that is the ideal speed-up; the serial {s * 100:g} % does not get faster with more threads."),
        (1 / s, "1/s is the limit for infinitely many threads; with finitely many it is lower."),
        (s + (1 - s) * n, "that is Gustafson's scaled speed-up (the problem grows with n); Amdahl keeps the work fixed."),
        (amdahl_speedup(1 - s, n), "you swapped the fractions: s is the serial part, 1 - s runs in parallel."),
        (1 / (s + (1 - s) * n), "divide the parallel part by n, don't multiply: T(n) = s + (1 - s)/n."),
        (truth / n, "that is the parallel efficiency, speed-up / n; the question asks for the speed-up."),
    ]
    right = f"right: 1/(s + (1 - s)/n) = 1/({s} + {1 - s:g}/{n}) = {truth:.2f}."
    otherwise = (f"{value:g} is not it: on n threads the serial part takes as long as before and the parallel part "
                 "n times less; the speed-up is the ratio of the two times.")
    return _grade(value, truth, 0.005, right, mistakes, otherwise)


def _one_measurement(rng: random.Random) -> dict[str, Any]:
    from ..growth import amdahl_speedup

    n = rng.choice((2, 4, 6, 8, 16))
    s = rng.uniform(0.03, 0.3)
    return {"n": n, "speedup": round(amdahl_speedup(s, n), 2)}


@register("2.3", answer="answer_2_3", points=1, book={"n": 4, "speedup": 3.2}, variants=_one_measurement,
          describe=lambda p: f"a program runs {p['speedup']} times as fast on {p['n']} threads as on 1.",
          solution=lambda p: f"(1 / {p['speedup']} - 1 / {p['n']}) / (1 - 1 / {p['n']})")
def _serial_fraction_from_speedup(answer: Any, p: dict[str, Any]) -> tuple[bool, str]:
    from ..growth import fit_serial_fraction

    n, speedup = p["n"], p["speedup"]
    truth = fit_serial_fraction([n], [speedup])
    value = _number(answer)
    mistakes = [
        (1 - speedup / n, f"that is 1 minus the parallel efficiency; solve 1/{speedup} = s + (1 - s)/{n} for s instead."),
        (1 / speedup, f"1/{speedup} is the time ratio T({n})/T(1); part of it is the parallel work (1 - s)/{n}."),
        (1 - truth, "that is the parallel fraction 1 - s; the question asks for the serial one."),
        (1 / speedup - 1 / n, f"almost: 1/{speedup} - 1/{n} = s(1 - 1/{n}); divide by (1 - 1/{n})."),
    ]
    if not 0 <= value <= 1:
        return False, f"a serial fraction lies between 0 and 1, got {value:g}."
    right = f"right: s = (1/{speedup} - 1/{n}) / (1 - 1/{n}) = {truth:.4f}."
    otherwise = (f"{value:g} is not it: with s = {value:g}, Amdahl gives a speed-up of "
                 f"{1 / (value + (1 - value) / n):.2f}, not {speedup}.")
    return _grade(value, truth, 0.01, right, mistakes, otherwise)


register_written("2.4", points=2)
