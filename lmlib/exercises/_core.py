"""The check machinery: a registry of checks, ``check`` for students, and helpers checks share.

A chapter's checks live in ``lmlib/exercises/chN.py`` and register themselves with ``register``; the truth
is computed from lmlib, never stored as a bare number.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

__all__ = ["Result", "check", "CHECKS", "exercise_ids", "register", "METADATA_KEY"]

METADATA_KEY = "lmlib_check"  # where a check output records its result, for grading


@dataclass
class Result:
    """The outcome of one check: passed or not, and what to tell the student."""

    exercise: str
    passed: bool
    message: str

    def _repr_mimebundle_(self, include=None, exclude=None) -> tuple[dict[str, Any], dict[str, Any]]:
        mark = "✔" if self.passed else "✘"
        colour = "#1a7f37" if self.passed else "#cf222e"
        text = f"{mark} Exercise {self.exercise}: {self.message}"
        html = (
            f'<div class="lmlib-check" style="border-left:4px solid {colour};padding:4px 8px">'
            f"<b>{mark} Exercise {self.exercise}</b>: {_escape(self.message)}</div>"
        )
        data = {"text/plain": text, "text/html": html}
        return data, {METADATA_KEY: {"exercise": self.exercise, "passed": self.passed}}

    def __bool__(self) -> bool:
        return self.passed


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


CHECKS: dict[str, Callable[[Any], tuple[bool, str]]] = {}


def register(exercise: str) -> Callable:
    def wrap(fn: Callable[[Any], tuple[bool, str]]) -> Callable:
        CHECKS[exercise] = fn
        return fn

    return wrap


def exercise_ids() -> list[str]:
    """The exercises that have checks, in chapter order."""
    from . import chapters  # noqa: F401  (registers every chapter's checks)

    return sorted(CHECKS, key=lambda e: tuple(int(p) for p in e.split(".")))


def check(exercise: str, answer: Any) -> Result:
    """Check ``answer`` to ``exercise`` (e.g. ``"5.2"``); the result displays itself in a notebook."""
    from . import chapters  # noqa: F401  (registers every chapter's checks)

    if exercise not in CHECKS:
        raise ValueError(f"no exercise {exercise!r}; exercises with checks: {exercise_ids()}")
    if answer is ...:
        return Result(exercise, False, "replace the ... with your answer, then run the cell again")
    try:
        passed, message = CHECKS[exercise](answer)
    except Exception as err:  # a student's code may fail in any way: report it, don't crash the check
        passed, message = False, f"your answer raised {type(err).__name__}: {err}"
    return Result(exercise, passed, message)


def _grade(value: float, truth: float, rel_tol: float, right: str,
           mistakes: list[tuple[float, str]], otherwise: str) -> tuple[bool, str]:
    """Right when ``value`` is close to ``truth``; else the message of the first typical mistake it matches;
    else ``otherwise``."""
    if math.isclose(value, truth, rel_tol=rel_tol):
        return True, right
    for candidate, message in mistakes:
        if math.isclose(value, candidate, rel_tol=rel_tol):
            return False, message
    return False, otherwise


def _number(answer: Any) -> float:
    if isinstance(answer, bool) or not isinstance(answer, (int, float)) and not hasattr(answer, "__float__"):
        raise TypeError(f"expected a number, got {type(answer).__name__}")
    return float(answer)
