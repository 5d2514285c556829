"""TensorBoard logs for ``train.fit``, and a reader that turns them back into Python data.

Chapter 7 (section 7.2.2, TensorBoard) trains a model with ``TensorBoardCallback`` and plots what the
reader functions return; the same folder opens in TensorBoard itself (``tensorboard --logdir DIR``, or
``%tensorboard --logdir DIR`` in Jupyter and Colab).

What the callback writes, under the tags TensorBoard shows them by:

* scalars: ``loss/train_step`` and ``lr`` every step; ``grad_norm`` (the global gradient norm after
  ``fit``'s clipping) every step; ``loss/train``, ``loss/val`` and ``perplexity/val`` at each evaluation;
* histograms: ``weights/<name>`` and ``grads/<name>`` for every parameter, every ``histogram_every``-th
  evaluation;
* the embedding projector's data: the token embedding matrix with one label per token, at the end.

Needs the ``tensorboard`` package (``pip install tensorboard``); nothing else of TensorFlow.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from .train import Callback, History, TrainConfig

__all__ = [
    "TensorBoardCallback",
    "HistogramRecord",
    "ProjectorEmbedding",
    "read_scalars",
    "read_histograms",
    "read_projector",
    "token_labels",
    "event_files",
]


def _summary_writer():
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as err:  # torch raises ImportError when the tensorboard package is missing
        raise ImportError(
            "TensorBoardCallback needs the tensorboard package: `pip install tensorboard`, then restart the kernel"
        ) from err
    return SummaryWriter


def _embedding_of(model: nn.Module) -> nn.Embedding:
    """The model's token embedding: ``RNNLM.embedding`` or ``GPT.tok_emb`` (else the first Embedding)."""
    for name in ("embedding", "tok_emb"):
        module = getattr(model, name, None)
        if isinstance(module, nn.Embedding):
            return module
    for module in model.modules():
        if isinstance(module, nn.Embedding):
            return module
    raise ValueError(f"{type(model).__name__} has no nn.Embedding layer, so there is no embedding to project")


def _label(tokenizer: Any, token_id: int) -> str:
    try:
        piece = tokenizer.token_bytes(token_id)
    except (AttributeError, ValueError, IndexError, KeyError):
        return f"<{token_id}>"
    try:
        text = piece.decode("utf-8")
    except UnicodeDecodeError:  # a byte that is only part of a character
        return "".join(f"<{b:02x}>" for b in piece)
    if not text.strip() or not text.isprintable():
        return repr(text)  # spaces, newlines and control characters, made visible and tab-free
    return text


def token_labels(tokenizer: Any, vocab_size: int) -> list[str]:
    """One printable, tab- and newline-free label per token id (the projector's metadata)."""
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < 0:
        raise ValueError(f"vocab_size must be an int >= 0, got {vocab_size!r}")
    return [_label(tokenizer, i) for i in range(vocab_size)]


class TensorBoardCallback(Callback):
    """Write scalars, weight and gradient histograms and the token embedding of a ``fit`` run to ``log_dir``.

    ``fit``'s callbacks are not handed the model, so it is given here. Pass ``tokenizer`` to label the
    embedding projector's points with the tokens' text (else they are labelled by id).
    """

    def __init__(self, log_dir: str | os.PathLike, model: nn.Module, tokenizer: Any = None,
                 histogram_every: int = 1, embedding: bool = True, flush_secs: int = 10):
        if not isinstance(model, nn.Module):
            raise ValueError(f"model must be the torch model being trained, got {type(model).__name__}")
        if isinstance(histogram_every, bool) or not isinstance(histogram_every, int) or histogram_every < 0:
            raise ValueError(f"histogram_every must be an int >= 0 (0: no histograms), got {histogram_every!r}")
        self.log_dir = Path(log_dir)
        self.model = model
        self.tokenizer = tokenizer
        self.histogram_every = histogram_every
        self.embedding = embedding
        self.flush_secs = flush_secs
        self.writer = None
        self._evals = 0
        self._last_step = 0

    # -- fit's hooks -------------------------------------------------------------------------------------

    def on_start(self, config: TrainConfig, history: History) -> None:
        SummaryWriter = _summary_writer()
        self.writer = SummaryWriter(log_dir=str(self.log_dir), flush_secs=self.flush_secs)
        settings = {"train": asdict(config), "model": getattr(self.model, "config_dict", lambda: {})()}
        self.writer.add_text("config", "```\n" + json.dumps(settings, indent=2, default=str) + "\n```", 0)
        self._evals = 0

    def on_step(self, step: int, loss: float, history: History) -> None:
        self._last_step = step
        self.writer.add_scalar("loss/train_step", loss, step)
        if history.lr:
            self.writer.add_scalar("lr", history.lr[-1], step)
        norms = [p.grad.detach().norm() for p in self.model.parameters() if p.grad is not None]
        if norms:
            self.writer.add_scalar("grad_norm", float(torch.stack(norms).norm()), step)

    def on_eval(self, step: int, history: History) -> None:
        self.writer.add_scalar("loss/train", history.train_loss[-1], step)
        val = history.val_loss[-1]
        if math.isfinite(val):
            self.writer.add_scalar("loss/val", val, step)
            self.writer.add_scalar("perplexity/val", math.exp(min(val, 50.0)), step)
        self._evals += 1
        if self.histogram_every and (self._evals - 1) % self.histogram_every == 0:
            self._write_histograms(step)

    def on_end(self, history: History) -> None:
        if self.writer is None:
            return
        if self.embedding:
            self._write_embedding(self._last_step)
        self.writer.close()

    # -- the pieces ----------------------------------------------------------------------------------------

    def _write_histograms(self, step: int) -> None:
        for name, p in self.model.named_parameters():
            self.writer.add_histogram(f"weights/{name}", p.detach().float().cpu(), step)
            if p.grad is not None:
                self.writer.add_histogram(f"grads/{name}", p.grad.detach().float().cpu(), step)

    def _write_embedding(self, step: int) -> None:
        table = _embedding_of(self.model).weight.detach().float().cpu()
        labels = (token_labels(self.tokenizer, table.shape[0]) if self.tokenizer is not None
                  else [str(i) for i in range(table.shape[0])])
        self.writer.add_embedding(table, metadata=labels, global_step=step, tag="token_embedding")


# -- reading a log folder back ---------------------------------------------------------------------------

def event_files(log_dir: str | os.PathLike) -> list[Path]:
    """The TensorBoard event files in ``log_dir`` (not in its subfolders), oldest first."""
    return sorted(Path(log_dir).glob("events.out.tfevents.*"))


def _accumulator(log_dir: str | os.PathLike):
    from tensorboard.backend.event_processing import event_accumulator

    if not event_files(log_dir):
        raise FileNotFoundError(f"no TensorBoard event files in {log_dir}")
    acc = event_accumulator.EventAccumulator(str(log_dir), size_guidance={
        event_accumulator.SCALARS: 0, event_accumulator.HISTOGRAMS: 0, event_accumulator.TENSORS: 0})
    acc.Reload()
    return acc


def read_scalars(log_dir: str | os.PathLike) -> dict[str, list[tuple[int, float]]]:
    """Every scalar series in the log: ``{tag: [(step, value), ...]}`` in step order."""
    acc = _accumulator(log_dir)
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


@dataclass
class HistogramRecord:
    """One histogram as TensorBoard stores it: summary statistics and bucket counts."""

    step: int
    min: float
    max: float
    num: float
    sum: float
    sum_squares: float
    bucket_limits: list[float] = field(default_factory=list)  # right edges of the buckets
    bucket_counts: list[float] = field(default_factory=list)

    @property
    def mean(self) -> float:
        return self.sum / self.num

    @property
    def std(self) -> float:
        return math.sqrt(max(self.sum_squares / self.num - self.mean ** 2, 0.0))


def read_histograms(log_dir: str | os.PathLike) -> dict[str, list[HistogramRecord]]:
    """Every histogram series in the log: ``{tag: [HistogramRecord, ...]}`` in step order."""
    acc = _accumulator(log_dir)
    out = {}
    for tag in acc.Tags()["histograms"]:
        out[tag] = [HistogramRecord(step=e.step, min=e.histogram_value.min, max=e.histogram_value.max,
                                    num=e.histogram_value.num, sum=e.histogram_value.sum,
                                    sum_squares=e.histogram_value.sum_squares,
                                    bucket_limits=list(e.histogram_value.bucket_limit),
                                    bucket_counts=list(e.histogram_value.bucket))
                    for e in acc.Histograms(tag)]
    return out


@dataclass
class ProjectorEmbedding:
    """One embedding as the projector reads it: a matrix (one row per point) and a label per row."""

    tag: str
    tensor: Any  # numpy array (points, dimensions)
    labels: list[str]
    config_path: Path


def _projector_entries(config_text: str) -> list[dict[str, str]]:
    """The ``embeddings { ... }`` blocks of a projector_config.pbtxt, as dicts of their string fields."""
    entries, current = [], None
    for line in config_text.splitlines():
        line = line.strip()
        if line.startswith("embeddings {"):
            current = {}
        elif line == "}" and current is not None:
            entries.append(current)
            current = None
        elif current is not None and ":" in line:
            key, value = line.split(":", 1)
            current[key.strip()] = value.strip().strip('"')
    return entries


def read_projector(log_dir: str | os.PathLike) -> list[ProjectorEmbedding]:
    """The embeddings listed in ``log_dir/projector_config.pbtxt``, with their vectors and labels."""
    import numpy as np

    log_dir = Path(log_dir)
    config_path = log_dir / "projector_config.pbtxt"
    if not config_path.is_file():
        raise FileNotFoundError(f"no projector_config.pbtxt in {log_dir}: was the run logged with embedding=True?")
    out = []
    for entry in _projector_entries(config_path.read_text(encoding="utf-8")):
        tensor = np.loadtxt(log_dir / entry["tensor_path"], delimiter="\t", dtype=np.float32, ndmin=2)
        labels = []
        if entry.get("metadata_path"):
            labels = (log_dir / entry["metadata_path"]).read_text(encoding="utf-8").split("\n")
            labels = labels[: tensor.shape[0]]
        out.append(ProjectorEmbedding(tag=entry.get("tensor_name", ""), tensor=tensor, labels=labels,
                                      config_path=config_path))
    return out
