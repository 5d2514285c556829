"""Pretrain the base checkpoint that chapter 6 fine-tunes and probes (lmlib/assets/base.lmlib).

    nice -n 5 python scripts/make_base_checkpoint.py          # about an hour on one CPU core shared with other jobs

A small byte-level GPT pretrained on ``lmlib.taskdata.base_corpus()``: Python's reference manual, the
training-split docstrings of the packages chapter 6 classifies and summarises, and the training-split
source files of its tagging task (test-split items are never seen). Same seed, same machine, same file:
training is seeded and runs on one CPU thread. The checkpoint is saved after every evaluation, so an
interrupted run (Ctrl-C) leaves a usable model with its history (stop reason "interrupted").
"""

from __future__ import annotations

import argparse
import hashlib
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from lmlib import checkpoint, data, models, taskdata, tokenizers, train

OUT = Path(__file__).resolve().parent.parent / "lmlib" / "assets" / "base.lmlib"


@dataclass
class Recipe:
    """The model and training run behind the shipped base checkpoint."""

    n_layer: int = 3
    n_head: int = 4
    n_embd: int = 96
    block_size: int = 256  # bytes of context: a docstring, a chat turn or a passage fits
    dropout: float = 0.1
    steps: int = 350
    batch_size: int = 16
    lr: float = 3e-3
    warmup_steps: int = 35
    weight_decay: float = 0.1
    eval_interval: int = 50
    seed: int = 0
    threads: int = 1  # one thread: the same file on any machine load, and no slowdown from a busy core


class SaveEachEval(train.Callback):
    """Saves the model after every evaluation, so an interrupted run keeps what it learned."""

    def __init__(self, out: Path, model, tok, extra: dict):
        self.out, self.model, self.tok, self.extra = out, model, tok, extra

    def on_eval(self, step: int, history: train.History) -> None:
        checkpoint.save(self.out, self.model, self.tok, history=history, extra=self.extra)


def make(recipe: Recipe, out: Path) -> Path:
    """Pretrain ``recipe`` on the base corpus (the manual's last 10 % held out for validation); save to ``out``."""
    torch.set_num_threads(recipe.threads)
    manual = data.load_corpus()
    manual_train, manual_val = data.split(manual, 0.9)
    corpus = taskdata.base_corpus()
    train_text = corpus.replace(manual_val, "", 1)  # the corpus starts with the manual: drop its last 10 %
    assert len(train_text) == len(corpus) - len(manual_val)
    tok = tokenizers.ByteTokenizer()
    torch.manual_seed(recipe.seed)
    model = models.GPT(models.GPTConfig(vocab_size=tok.vocab_size, block_size=recipe.block_size,
                                        n_layer=recipe.n_layer, n_head=recipe.n_head, n_embd=recipe.n_embd,
                                        dropout=recipe.dropout))
    config = train.TrainConfig(steps=recipe.steps, batch_size=recipe.batch_size, seq_len=recipe.block_size,
                               lr=recipe.lr, seed=recipe.seed, schedule="cosine", warmup_steps=recipe.warmup_steps,
                               weight_decay=recipe.weight_decay, eval_interval=recipe.eval_interval,
                               eval_tokens=32_768, progress=True)
    extra = {"recipe": asdict(recipe), "corpus": "lmlib.taskdata.base_corpus()", "corpus_bytes": len(train_text.encode()),
             "validation": "last 10 % of the reference manual (data.split(load_corpus(), 0.9))"}
    out.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    history = train.fit(model, tok.encode(train_text), tok.encode(manual_val), config, device="cpu",
                        callbacks=SaveEachEval(out, model, tok, extra))
    seconds = time.perf_counter() - started
    val = train.evaluate(model, tok.encode(manual_val), seq_len=recipe.block_size)
    extra.update(val_loss_full=round(val, 4), train_seconds=round(seconds, 1), stop_reason=history.stop_reason)
    checkpoint.save(out, model, tok, history=history, extra=extra)
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB, sha256 {digest[:16]}…) after {len(history.step_loss)} "
          f"steps in {seconds:.0f} s ({history.stop_reason}); validation loss {val:.3f} nats/byte")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--steps", type=int, default=Recipe.steps)
    args = parser.parse_args()
    make(Recipe(steps=args.steps, warmup_steps=min(Recipe.warmup_steps, args.steps // 10)), args.out)


if __name__ == "__main__":
    main()
