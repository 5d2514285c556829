"""A live training dashboard: pick a model and hyperparameters, press Train, watch the loss fall.

Chapter 5 (section 5.2) uses it. Controls are ipywidgets (ipywidgets 7 and 8); the loss curve is a
``plotting.LivePlot``, so it also works on Colab. Train runs in a background thread so that Stop
stays clickable; ``Dashboard.train()`` runs the same training in the foreground (for scripts, tests and
the book's stored outputs). Stop keeps the model trained so far, and a bad setting shows a message in
the dashboard instead of a traceback.
"""

from __future__ import annotations

import html
import math
import numbers
import re
import threading
import time
from dataclasses import dataclass, fields, replace
from typing import Any

import torch

from . import generate, models, train
from .plotting import LivePlot, loss_figure
from .tokenizers import Tokenizer

__all__ = ["DashboardSettings", "Dashboard", "build_model", "check_setting", "check_settings", "LIMITS"]

KINDS = ("rnn", "lstm", "gru", "gpt")
# What each setting accepts: an int range, a number range, one of some choices, or any str. The controls
# show the same ranges, so a value outside them is refused with a message instead of silently clamped.
LIMITS: dict[str, tuple] = {
    "kind": ("choice", KINDS),
    "embedding_dim": ("int", 1, 1024),
    "hidden_dim": ("int", 1, 2048),
    "n_layer": ("int", 1, 12),
    "n_head": ("int", 1, 16),
    "lr": ("number", 1e-5, 1.0),
    "seq_len": ("int", 1, 512),
    "batch_size": ("int", 1, 512),
    "steps": ("int", 1, 100_000),
    "eval_interval": ("int", 1, 100_000),
    "seed": ("int", 0, 2**32 - 1),
    "prompt": ("str",),
    "sample_tokens": ("int", 0, 10_000),
}


@dataclass
class DashboardSettings:
    """What the dashboard's controls set."""

    kind: str = "gru"  # "rnn", "lstm", "gru" (the article's network) or "gpt"
    embedding_dim: int = 64  # token vector size (the GPT's width n_embd)
    hidden_dim: int = 128  # recurrent state size (ignored by the GPT)
    n_layer: int = 2  # Transformer blocks (GPT only)
    n_head: int = 4  # attention heads (GPT only; must divide embedding_dim)
    lr: float = 3e-3  # AdamW learning rate
    seq_len: int = 64  # tokens per training window (the GPT's block_size)
    batch_size: int = 32  # windows per step
    steps: int = 200  # optimiser steps
    eval_interval: int = 25  # steps between loss-curve points
    seed: int = 0  # seeds the weights and the batches
    prompt: str = "The "  # start of the sample text
    sample_tokens: int = 120  # length of the sample text


def check_setting(name: str, value: Any) -> Any:
    """``value`` for the setting ``name`` (ints as int), or ValueError saying what the setting accepts."""
    if name not in LIMITS:
        raise ValueError(f"unknown setting {name!r}; settings: {', '.join(LIMITS)}")
    rule = LIMITS[name]
    if rule[0] == "choice":
        if not isinstance(value, str) or value not in rule[1]:
            raise ValueError(f"{name} must be one of {rule[1]}, got {value!r}")
        return value
    if rule[0] == "str":
        if not isinstance(value, str):
            raise ValueError(f"{name} must be a str, got {type(value).__name__}")
        return value
    _, low, high = rule
    if rule[0] == "int":
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not low <= value <= high:
            raise ValueError(f"{name} must be an int from {low} to {high}, got {value!r}")
        return int(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not low <= value <= high:
        raise ValueError(f"{name} must be a number from {low:g} to {high:g}, got {value!r}")
    return float(value)


def check_settings(settings: Any) -> DashboardSettings:
    """``settings`` with every value checked by ``check_setting`` (ValueError for the first bad one)."""
    if not isinstance(settings, DashboardSettings):
        raise ValueError(f"settings must be a DashboardSettings, got {type(settings).__name__}")
    return DashboardSettings(**{f.name: check_setting(f.name, getattr(settings, f.name)) for f in fields(settings)})


def build_model(settings: DashboardSettings, vocab_size: int) -> models.LanguageModel:
    """A fresh, seeded model for ``settings`` (raises ValueError for invalid sizes)."""
    if not isinstance(settings, DashboardSettings):
        raise ValueError(f"settings must be a DashboardSettings, got {type(settings).__name__}")
    if settings.kind not in KINDS:
        raise ValueError(f"model kind must be one of {KINDS}, got {settings.kind!r}")
    torch.manual_seed(settings.seed)
    if settings.kind == "gpt":
        return models.GPT(models.GPTConfig(
            vocab_size=vocab_size, block_size=settings.seq_len, n_layer=settings.n_layer,
            n_head=settings.n_head, n_embd=settings.embedding_dim,
        ))
    return models.RNNLM(models.RNNConfig(
        vocab_size=vocab_size, embedding_dim=settings.embedding_dim, hidden_dim=settings.hidden_dim,
        cell=settings.kind,
    ))


class _Live(train.Callback):
    """Pushes each evaluation to the dashboard and stops when Stop was pressed."""

    def __init__(self, dashboard: "Dashboard"):
        self.dashboard = dashboard

    def on_step(self, step: int, loss: float, history: train.History) -> bool:
        self.dashboard._progress(step, loss)
        return self.dashboard._stop.is_set()

    def on_eval(self, step: int, history: train.History) -> bool:
        self.dashboard._refresh(history, final=False)
        return self.dashboard._stop.is_set()


class Dashboard:
    """Controls, Train/Stop, a live loss curve and a sample of generated text, for one corpus."""

    def __init__(self, train_ids: Any, val_ids: Any, tokenizer: Tokenizer,
                 settings: DashboardSettings | None = None, sample_seed: int = 0):
        import ipywidgets as w

        if not isinstance(tokenizer, Tokenizer):
            raise ValueError(f"tokenizer must be an lmlib tokenizer, got {type(tokenizer).__name__}")
        if isinstance(sample_seed, bool) or not isinstance(sample_seed, numbers.Integral) or not 0 <= sample_seed < 2**64:
            raise ValueError(f"sample_seed must be an int in [0, 2**64), got {sample_seed!r}")
        self.train_ids, self.val_ids, self.tokenizer = train_ids, val_ids, tokenizer
        self.settings = check_settings(DashboardSettings() if settings is None else settings)
        self.sample_seed = int(sample_seed)
        self.model: models.LanguageModel | None = None
        self.history: train.History | None = None
        self.histories: list[train.History] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        s = self.settings
        style = {"description_width": "120px"}
        self.controls = {
            "kind": w.Dropdown(options=list(KINDS), value=s.kind, description="model", style=style),
            "embedding_dim": w.BoundedIntText(value=s.embedding_dim, min=1, max=1024, description="embedding", style=style),
            "hidden_dim": w.BoundedIntText(value=s.hidden_dim, min=1, max=2048, description="hidden (RNN)", style=style),
            "n_layer": w.BoundedIntText(value=s.n_layer, min=1, max=12, description="layers (GPT)", style=style),
            "n_head": w.BoundedIntText(value=s.n_head, min=1, max=16, description="heads (GPT)", style=style),
            "lr": w.FloatLogSlider(value=s.lr, base=10, min=-5, max=0, step=0.1, description="learning rate",
                                   readout_format=".1e", style=style),
            "seq_len": w.BoundedIntText(value=s.seq_len, min=1, max=512, description="sequence length", style=style),
            "batch_size": w.BoundedIntText(value=s.batch_size, min=1, max=512, description="batch size", style=style),
            "steps": w.BoundedIntText(value=s.steps, min=1, max=100_000, description="steps", style=style),
        }
        # Darker than ipywidgets' own success/danger colours, so their white labels meet WCAG AA (5.1 and 6.0).
        self.train_button = w.Button(description="Train", button_style="success", icon="play",
                                     style={"button_color": "#1a7f37"})
        self.stop_button = w.Button(description="Stop", button_style="danger", icon="stop", disabled=True,
                                    style={"button_color": "#c21d2a"})
        self.status = w.HTML(value="Choose settings and press <b>Train</b>.")
        self._last_result, self._restoring = self.status.value, False  # what reset_controls shows again
        self.sample = w.HTML(value="")
        self.plot = LivePlot()
        for name, control in self.controls.items():
            control.observe(lambda change, name=name: self._setting_changed(name, change["new"]), names="value")
        self.train_button.on_click(lambda _: self.start())
        self.stop_button.on_click(lambda _: self.stop())
        left = w.VBox(list(self.controls.values()) + [w.HBox([self.train_button, self.stop_button])])
        right = w.VBox([self.status, self.plot.widget, self.sample], layout=w.Layout(width="60%"))
        self.widget = w.HBox([left, right])

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    def read_controls(self) -> DashboardSettings:
        """The settings the controls show now."""
        return replace(self.settings, **{name: c.value for name, c in self.controls.items()})

    @property
    def status_text(self) -> str:
        """The status line as plain text, for ``print``."""
        return html.unescape(re.sub(r"<[^>]*>", "", self.status.value))

    def reset_controls(self) -> None:
        """Set the controls back to the settings of the model in ``.model`` (or the initial ones), e.g. after
        refused settings, and show the last finished run's status again. Not while a training runs."""
        if self._thread is not None and self._thread.is_alive():
            raise RuntimeError("a training is running: press Stop (or call stop() and wait()) before reset_controls()")
        self._restoring = True
        try:
            for name, control in self.controls.items():
                control.value = getattr(self.settings, name)
        finally:
            self._restoring = False
        self.status.value = self._last_result

    def _setting_changed(self, name: str, value: Any) -> None:
        """Say that a changed setting takes effect at the next Train (nothing is retrained by itself)."""
        if self._restoring or (self._thread is not None and self._thread.is_alive()):
            return  # reset_controls sets the status itself; a running training's progress keeps the line
        shown = f"{value:.1e}" if isinstance(value, float) else html.escape(str(value))
        self._set_status(f"{self.controls[name].description} set to {shown}: press <b>Train</b> to train with it.")

    def _set_status(self, text: str, error: bool = False) -> None:
        colour = "#cf222e" if error else "inherit"
        self.status.value = f'<span style="color:{colour}">{text}</span>'

    def _progress(self, step: int, loss: float) -> None:
        if step % 10 == 0:
            self._set_status(f"step {step}/{self.settings.steps}: train loss {loss:.3f}")

    def _sample_text(self) -> str:
        s = self.settings
        return generate.generate(self.model, self.tokenizer, s.prompt, max_new_tokens=s.sample_tokens,
                                 temperature=0.8, top_k=40, seed=self.sample_seed)

    def _refresh(self, history: train.History, final: bool) -> None:
        self.plot.update(loss_figure(history, title=f"{self.settings.kind} language model: loss"))
        text = html.escape(self._sample_text())
        self.sample.value = (
            f"<b>Sample</b> (prompt {html.escape(repr(self.settings.prompt))}, temperature 0.8, top-k 40):"
            f"<pre style='white-space:pre-wrap'>{text}</pre>"
        )

    def _fail(self, what: str, err: BaseException) -> None:
        self._set_status(f"{what}: {html.escape(str(err))}", error=True)

    def train(self, **overrides: Any) -> train.History | None:
        """Train in the foreground with the controls' settings (or ``overrides``); return the history.

        A bad setting returns None and shows why in the dashboard; the previous model stays.
        """
        self._stop.clear()
        return self._train(overrides)

    def _train(self, overrides: dict[str, Any]) -> train.History | None:
        try:
            checked = {name: check_setting(name, value) for name, value in overrides.items()}
            for name, value in checked.items():  # every value is inside its control's range: nothing is clamped
                if name in self.controls:
                    self.controls[name].value = value
            settings = replace(self.read_controls(), **{k: v for k, v in checked.items() if k not in self.controls})
            model = build_model(settings, self.tokenizer.vocab_size)
            config = train.TrainConfig(steps=settings.steps, batch_size=settings.batch_size, seq_len=settings.seq_len,
                                       lr=settings.lr, seed=settings.seed, eval_interval=settings.eval_interval,
                                       eval_tokens=8192, progress=False)
            # check the data and the sample's prompt against the settings now, so a bad setting costs nothing
            train._checked_ids("train_ids", self.train_ids, model, settings.seq_len)
            if self.val_ids is not None:
                train._checked_ids("val_ids", self.val_ids, model, settings.seq_len)
            if not self.tokenizer.encode(settings.prompt):
                raise ValueError("the sample's prompt is empty; it must encode to at least one token")
        except (ValueError, TypeError) as err:
            self._fail("Cannot train with these settings", err)
            return None
        self.settings, self.model = settings, model
        self.train_button.disabled, self.stop_button.disabled = True, False
        self._set_status(f"training a {settings.kind} model ({models.count_parameters(model):,} parameters)…")
        started = time.perf_counter()
        try:
            history = train.fit(model, self.train_ids, self.val_ids, config, callbacks=[_Live(self)], device="cpu")
        except Exception as err:  # noqa: BLE001 - shown in the dashboard; the model trained so far stays
            self._fail("Training failed", err)
            return None
        finally:
            self.train_button.disabled, self.stop_button.disabled = False, True
        self.history = history
        self.histories.append(history)
        try:
            self._refresh(history, final=True)
        except Exception as err:  # noqa: BLE001 - the history is kept even if the sample cannot be drawn
            self._fail("Trained, but the plot or the sample failed", err)
            return history
        last = history.val_loss[-1] if history.val_loss else float("nan")
        done = "stopped early" if not history.completed else "finished"
        if not history.completed and history.stop_reason not in ("stopped by callback", "interrupted"):
            done = f"stopped early ({html.escape(history.stop_reason)})"
        self._set_status(f"{done} after {len(history.step_loss)} steps in {time.perf_counter() - started:.1f} s; "
                         f"validation loss {last:.3f} nats/token. The trained model is in <code>.model</code>.")
        self._last_result = self.status.value
        return history

    def start(self) -> None:
        """Start training in a background thread (what the Train button does)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()  # here, not in the thread: a stop() right after start() must not be lost
        self._thread = threading.Thread(target=self._train_in_background, daemon=True)
        self._thread.start()

    def _train_in_background(self) -> None:
        try:
            self._train({})
        except BaseException as err:  # noqa: BLE001 - a thread's error would otherwise vanish
            self.train_button.disabled, self.stop_button.disabled = False, True
            self._fail("Training stopped by an error", err)

    def stop(self) -> None:
        """Ask a running training to stop after its current step (what the Stop button does)."""
        if self._thread is not None and self._thread.is_alive():
            self._stop.set()
            self._set_status("stopping after this step…")

    def wait(self, timeout: float | None = None) -> None:
        """Block until a background training started by ``start`` has finished."""
        if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, numbers.Real)
                                    or not 0 <= timeout < math.inf):
            raise ValueError(f"timeout must be a number of seconds >= 0 or None, got {timeout!r}")
        if self._thread is not None:
            self._thread.join(timeout)
