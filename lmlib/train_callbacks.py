"""What ``fit`` reports and who it tells: the ``History`` of a run, ``Callback`` hooks, ``StopTraining``,
and ``perplexity``. Part of ``lmlib.train``, which re-exports everything here.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterable

from . import _checks
from .train_config import TrainConfig, _is_int, _is_real

__all__ = ["History", "Callback", "StopTraining", "perplexity"]


@dataclass
class History:
    """What happened during ``fit``. ``steps``, ``train_loss`` and ``val_loss`` are aligned lists."""

    steps: list[int] = field(default_factory=list)  # steps at which the model was evaluated
    train_loss: list[float] = field(default_factory=list)  # mean training loss since the previous evaluation
    val_loss: list[float] = field(default_factory=list)  # validation loss (nats/token); NaN without val data
    step_loss: list[float] = field(default_factory=list)  # training loss of every step
    lr: list[float] = field(default_factory=list)  # learning rate of every step
    tokens_seen: int = 0  # training tokens processed
    elapsed: float = 0.0  # seconds spent in fit
    stop_reason: str = ""  # "completed", "interrupted", "stopped by callback" or a non-finite-loss message

    @property
    def train_perplexity(self) -> list[float]:
        """exp(train_loss) at each evaluation."""
        return [perplexity(x) for x in self.train_loss]

    @property
    def val_perplexity(self) -> list[float]:
        """exp(val_loss) at each evaluation."""
        return [perplexity(x) for x in self.val_loss]

    @property
    def completed(self) -> bool:
        """True when every requested step ran."""
        return self.stop_reason == "completed"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable copy (for checkpoints)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "History":
        """Rebuild a history from ``to_dict``'s output (unknown keys are ignored)."""
        if not isinstance(d, dict):
            raise ValueError(f"a history must be a dict, got {type(d).__name__}")
        fields = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        for name in ("steps", "train_loss", "val_loss", "step_loss", "lr"):
            value = fields.get(name, [])
            check = _is_int if name == "steps" else _is_real
            if not isinstance(value, list) or not all(check(v) for v in value):
                kind = "ints" if name == "steps" else "numbers"
                raise ValueError(f"history field {name} must be a list of {kind}, got {value!r:.100}")
        if not _is_int(fields.get("tokens_seen", 0)) or not _is_real(fields.get("elapsed", 0.0)) \
                or not isinstance(fields.get("stop_reason", ""), str):
            raise ValueError("history fields tokens_seen, elapsed and stop_reason must be an int, a number and a str")
        return cls(**fields)


class StopTraining(Exception):
    """Raise from a callback to end ``fit`` early (the history so far is returned)."""


class Callback:
    """Hooks ``fit`` calls; override the ones you need. Returning True from ``on_step`` stops training."""

    def on_start(self, config: TrainConfig, history: History) -> None:
        """Before the first step."""

    def on_step(self, step: int, loss: float, history: History) -> bool | None:
        """After each optimiser step (``step`` counts from 1)."""

    def on_eval(self, step: int, history: History) -> bool | None:
        """After each evaluation, when the aligned lists in ``history`` have grown by one."""

    def on_end(self, history: History) -> None:
        """After the last step, however training ended."""


class _FunctionCallback(Callback):
    def __init__(self, fn: Callable[[int, History], Any]):
        self.fn = fn

    def on_eval(self, step: int, history: History) -> bool | None:
        return self.fn(step, history)


def perplexity(loss: float) -> float:
    """exp(loss): the effective number of equally likely next tokens (``inf`` if it overflows)."""
    if not _is_real(loss):
        raise TypeError(f"loss must be a number (nats per token), got {type(loss).__name__}")
    try:
        return math.exp(loss)
    except OverflowError:
        return math.inf


def _as_callbacks(callbacks: Iterable[Callback | Callable] | Callback | Callable | None) -> list[Callback]:
    if callbacks is None:
        return []
    if isinstance(callbacks, Callback) or callable(callbacks):
        callbacks = [callbacks]
    if isinstance(callbacks, dict) or not _checks.iterable(callbacks):
        raise ValueError(f"callbacks must be a Callback, a function (step, history) or a list of them, "
                         f"got {type(callbacks).__name__}")
    out = []
    for cb in callbacks:
        if isinstance(cb, Callback):
            out.append(cb)
        elif callable(cb):
            out.append(_FunctionCallback(cb))
        else:
            raise ValueError(f"callbacks must be Callback objects or functions (step, history), got {cb!r}")
    return out
