"""Checks for chapter 2: core concepts and the CPU analogy."""

from __future__ import annotations

import math
from typing import Any

from ._core import _grade, _number, register


@register("2.1")
def _doubling_time_of_two_chips(answer: Any) -> tuple[bool, str]:
    from ..growth import doubling_time

    (y0, c0), (y1, c1) = (1978, 29_000), (1993, 3_100_000)  # Intel 8086 and Pentium, as in chapter 2
    truth = doubling_time([y0, y1], [c0, c1])
    value = _number(answer)
    years, ratio = y1 - y0, c1 / c0
    mistakes = [
        (years / math.log(ratio), "you used the natural logarithm; a doubling time needs log2 (or ln(ratio)/ln 2)."),
        (years / math.log10(ratio), "you used log10; a doubling time needs log2 of the growth factor."),
        (math.log2(ratio), "that is the number of doublings; divide the years by it."),
        (math.log2(ratio) / years, "that is doublings per year; the doubling time is its inverse."),
        (ratio / years, "growth is not linear: count doublings with log2 of the ratio, then divide the years by them."),
    ]
    right = f"right: {y1 - y0} years / log2({c1:,}/{c0:,}) = {truth:.2f} years per doubling."
    otherwise = f"{value:g} is not it: count the doublings, log2({c1:,}/{c0:,}), and divide the {years} years by them."
    return _grade(value, truth, 0.01, right, mistakes, otherwise)


@register("2.2")
def _amdahl_speedup(answer: Any) -> tuple[bool, str]:
    from ..growth import amdahl_speedup

    s, n = 0.1, 8
    truth = amdahl_speedup(s, n)
    value = _number(answer)
    mistakes = [
        (n, "that is the ideal speed-up; the serial 10 % does not get faster with more threads."),
        (1 / s, "1/s = 10 is the limit for infinitely many threads; with 8 it is lower."),
        (s + (1 - s) * n, "that is Gustafson's scaled speed-up (the problem grows with n); Amdahl keeps the work fixed."),
        (amdahl_speedup(1 - s, n), "you swapped the fractions: s = 0.1 is the serial part, 0.9 runs in parallel."),
        (1 / (s + (1 - s) * n), "divide the parallel part by n, don't multiply: T(n) = s + (1 - s)/n."),
        (truth / n, "that is the parallel efficiency, speed-up / n; the question asks for the speed-up."),
    ]
    right = f"right: 1/(s + (1 - s)/n) = 1/({s} + {1 - s:.1f}/{n}) = {truth:.2f}."
    otherwise = f"{value:g} is not it: the time on n threads is s + (1 - s)/n of the time on one; invert it."
    return _grade(value, truth, 0.005, right, mistakes, otherwise)


@register("2.3")
def _serial_fraction_from_speedup(answer: Any) -> tuple[bool, str]:
    from ..growth import fit_serial_fraction

    n, speedup = 4, 3.2
    truth = fit_serial_fraction([n], [speedup])
    value = _number(answer)
    mistakes = [
        (1 - speedup / n, "that is 1 minus the parallel efficiency; solve 1/3.2 = s + (1 - s)/4 for s instead."),
        (1 / speedup, "1/3.2 is the time ratio T(4)/T(1); part of it is the parallel work (1 - s)/4."),
        (1 - truth, "that is the parallel fraction 1 - s; the question asks for the serial one."),
        (1 / speedup - 1 / n, "almost: 1/3.2 - 1/4 = s(1 - 1/4); divide by (1 - 1/4)."),
    ]
    if not 0 <= value <= 1:
        return False, f"a serial fraction lies between 0 and 1, got {value:g}."
    right = f"right: s = (1/{speedup} - 1/{n}) / (1 - 1/{n}) = {truth:.4f}."
    otherwise = f"{value:g} is not it: with s = {value:g}, Amdahl gives a speed-up of {1 / (value + (1 - value) / n):.2f}, not {speedup}."
    return _grade(value, truth, 0.01, right, mistakes, otherwise)
