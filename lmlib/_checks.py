"""Argument checks shared by lmlib's modules: each raises ValueError or TypeError with a message that names the
argument and says what is allowed (``iterable`` only answers, so that each caller keeps its own message)."""

from __future__ import annotations

import math
import numbers
from typing import Any, Sequence

__all__ = ["iterable", "count", "positive_number", "text", "texts", "labels"]


def iterable(value: Any) -> bool:
    """Whether ``value`` can be read item by item as a sequence: not a str or bytes (read char by char) and not
    a 0-d tensor or array (which has ``__iter__`` but cannot be iterated)."""
    return not isinstance(value, (str, bytes)) and hasattr(value, "__iter__") and getattr(value, "ndim", 1) != 0


def count(name: str, value: Any, minimum: int = 1, maximum: int | None = None) -> int:
    """``value`` as an int in [minimum, maximum] (numpy ints too; bools, floats and strings are refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) \
            or value < minimum or (maximum is not None and value > maximum):
        allowed = f"an int >= {minimum}" if maximum is None else f"an int in [{minimum}, {maximum:,}]"
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
    return int(value)


def positive_number(name: str, value: Any, zero: bool = False) -> float:
    """``value`` as a finite float > 0 (>= 0 with ``zero``)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) \
            or value < 0 or (value == 0 and not zero):
        raise ValueError(f"{name} must be a finite number {'>=' if zero else '>'} 0, got {value!r}")
    return float(value)


def text(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {type(value).__name__}")
    return value


def texts(name: str, value: Any, empty: bool = False) -> list[str]:
    """``value`` as a list of str: a list or tuple of strings, not one string (which would be read char by char)."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise TypeError(f"{name} must be a list of strings, got {type(value).__name__}")
    bad = [type(v).__name__ for v in value if not isinstance(v, str)]
    if bad:
        raise TypeError(f"{name} must hold strings only, got an item of type {bad[0]}")
    if not value and not empty:
        raise ValueError(f"{name} is empty: give at least one string")
    return list(value)


def labels(name: str, value: Any, n_classes: int) -> list[int]:
    """``value`` as a list of class ids, each an int in [0, n_classes)."""
    if not iterable(value):
        raise TypeError(f"{name} must be a sequence of class ids, got {type(value).__name__}")
    out = list(value.tolist() if hasattr(value, "tolist") else value)
    bad = [v for v in out if isinstance(v, bool) or not isinstance(v, numbers.Integral) or not 0 <= v < n_classes]
    if bad:
        raise ValueError(f"{name}: labels must be in 0..{n_classes - 1} (ints, n_classes={n_classes}), got {bad[0]!r}")
    return out
