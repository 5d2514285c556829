"""The article's ``llm.py`` (its section 5.2), completed with lmlib: a file you can run.

    python chapters/llm.py                    # the article's own configuration: an RNN, Adam, lr 0.001
    python chapters/llm.py --config best      # lmlib's best AdamW setting of the 60-second benchmark: an LSTM
    python chapters/llm.py --steps 600 --prompt "这是一个"

It keeps the article's outline — ``preprocess_text``, the network ``LLM``, ``train``, ``generate_text`` and
a main part that sets the sizes, builds model and optimiser, loads the data, trains and generates from
这是一个 — and fills each part with lmlib. Each change from the article's version is marked
``CHANGE <n>`` where it happens and described in ``CHANGES``. Chapter 5 of the book explains them, and
runs this file.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

REPOSITORY_ROOT = Path(__file__).resolve().parents[1]
if (REPOSITORY_ROOT / "lmlib" / "__init__.py").is_file() and str(REPOSITORY_ROOT) not in sys.path:
    sys.path.insert(0, str(REPOSITORY_ROOT))  # in a clone of the repository: use its lmlib

import torch

from lmlib import data, generate, models, tokenizers
from lmlib import train as training

# (what changes, the article's version, this file's version)
CHANGES: tuple[tuple[str, str, str], ...] = (
    ("1 preprocess_text", "returns the name `sequence`, which it never assigns: the first call raises NameError",
     "returns the text's UTF-8 bytes as token ids (lmlib's ByteTokenizer), so any text, 这是一个 included, "
     "has ids"),
    ("2 vocab_size", "typed as 10000, unrelated to any tokenizer",
     "taken from the tokenizer: 256 byte values"),
    ("3 nn.RNN", "built without batch_first, so a (batch, time) input is read as (time, batch): windows of "
     "a batch would feed each other's state",
     "lmlib's RNNLM builds its RNN with batch_first=True"),
    ("4 load_dataset", "called, never defined",
     "the default corpus (Python's reference manual, on disk) split 90/10 into training and validation ids"),
    ("5 the training loop", "calls train(model, sequence, ...) with one preprocessed text as the dataset, so "
     "train unpacks single token ids as (sequence, target) pairs; no targets exist",
     "training.fit draws batches of windows whose targets are the same windows shifted by one token, for a "
     "given number of steps"),
    ("6 the loss", "CrossEntropyLoss gets logits of shape (batch, time, vocabulary); it wants the vocabulary "
     "in dimension 1",
     "model.loss flattens batch and time into one axis first"),
    ("7 evaluation", "none: nothing says whether the model learned",
     "the validation loss every eval_interval steps, in nats per byte"),
    ("8 generate_text", "one forward pass, then decode_sequence, which is never defined: one pass scores "
     "the next token at each input position but writes no new text",
     "generate.generate: feed the prompt, sample the next token, append it, repeat"),
    ("9 seeds", "none", "one seed for the weights, the batches and the sample"),
)


@dataclass(frozen=True)
class Config:
    """What the article's main part sets, and what it leaves unsaid (the run's length, the batches)."""

    cell: str = "rnn"  # the article's nn.RNN (tanh); lmlib also has "lstm" and "gru"
    embedding_dim: int = 128  # the article's embedding_dim
    hidden_dim: int = 256  # the article's hidden_dim
    optimizer: str = "adam"  # the article's optim.Adam; "adamw" is lmlib's (with clipping and a schedule)
    lr: float = 1e-3  # the article's lr=0.001 (the peak rate when there is a schedule)
    schedule: str = "constant"  # the article has none; "cosine" decays to a tenth
    warmup_fraction: float = 0.0  # share of the steps spent warming the rate up from 0
    grad_clip: float | None = None  # the article clips nothing
    steps: int = 300  # optimiser steps (the article makes one pass over its undefined dataset)
    batch_size: int = 32  # windows per step
    seq_len: int = 64  # bytes per window
    eval_interval: int = 100  # steps between validation losses
    seed: int = 0


ARTICLE = Config()
# lmlib's best AdamW setting of benchmarks/quality.py (60 s on two cores): an LSTM of the same sizes, AdamW
# at a peak rate of 5e-3 with 2 % warm-up and a cosine decay, gradients clipped at norm 1 (Muon did better
# later: benchmarks/README.md).
BEST = Config(cell="lstm", optimizer="adamw", lr=5e-3, schedule="cosine", warmup_fraction=0.02, grad_clip=1.0)
CONFIGS = {"article": ARTICLE, "best": BEST}


def preprocess_text(text: str, tokenizer: tokenizers.Tokenizer | None = None) -> list[int]:
    """Text -> token ids. CHANGE 1: bytes of UTF-8, so every text can be encoded."""
    return (tokenizer or tokenizers.ByteTokenizer()).encode(text)


def LLM(vocab_size: int, config: Config) -> models.RNNLM:
    """The article's network, Embedding -> RNN -> Linear. CHANGE 3: its RNN reads (batch, time)."""
    torch.manual_seed(config.seed)
    return models.RNNLM(models.RNNConfig(vocab_size=vocab_size, embedding_dim=config.embedding_dim,
                                         hidden_dim=config.hidden_dim, cell=config.cell))


def load_dataset(tokenizer: tokenizers.Tokenizer) -> tuple[list[int], list[int]]:
    """CHANGE 4: the default corpus as training and validation token ids (no download)."""
    train_text, val_text = data.split(data.load_corpus(), 0.9)
    return preprocess_text(train_text, tokenizer), preprocess_text(val_text, tokenizer)


def train_config(config: Config, progress: bool = True) -> training.TrainConfig:
    """The loop's settings. CHANGES 5 and 7: batches of shifted windows, and a validation loss."""
    return training.TrainConfig(
        steps=config.steps, batch_size=config.batch_size, seq_len=config.seq_len, lr=config.lr,
        schedule=config.schedule, warmup_steps=round(config.warmup_fraction * config.steps),
        grad_clip=config.grad_clip, eval_interval=config.eval_interval, seed=config.seed, progress=progress)


def make_optimizer(model: torch.nn.Module, config: Config) -> torch.optim.Optimizer:
    """The article's Adam (torch's defaults), or lmlib's AdamW."""
    if config.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=config.lr)
    if config.optimizer == "adamw":
        return training.make_optimizer(model, train_config(config))
    raise ValueError(f"optimizer must be 'adam' or 'adamw', got {config.optimizer!r}")


def train(model: models.RNNLM, train_ids: list[int], val_ids: list[int], config: Config,
          progress: bool = True, device: str | None = None) -> training.History:
    """Train ``model``; CHANGE 6 is inside: the model's loss flattens batch and time."""
    return training.fit(model, train_ids, val_ids, train_config(config, progress), device=device,
                        optimizer=make_optimizer(model, config))


def generate_text(model: models.RNNLM, tokenizer: tokenizers.Tokenizer, prompt: str, max_new_tokens: int = 120,
                  temperature: float = 0.8, top_k: int = 20, seed: int = 0) -> str:
    """CHANGES 8 and 9: the prompt, continued token by token, with a seeded sample."""
    return generate.generate(model, tokenizer, prompt, max_new_tokens=max_new_tokens, temperature=temperature,
                             top_k=top_k, seed=seed)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="The article's llm.py, completed with lmlib.")
    parser.add_argument("--config", choices=sorted(CONFIGS), default="article",
                        help="'article': its RNN, Adam and lr 0.001; 'best': lmlib's LSTM setting")
    parser.add_argument("--steps", type=int, help="optimiser steps (default 300)")
    parser.add_argument("--prompt", default="这是一个", help="text to continue (default: the article's)")
    parser.add_argument("--tokens", type=int, default=120, help="bytes to generate")
    parser.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Set up, train, report and generate, as the article's main part means to; return what it made."""
    args = parse_args(argv)
    config = CONFIGS[args.config]
    if args.steps is not None:
        config = replace(config, steps=args.steps)
    tokenizer = tokenizers.ByteTokenizer()
    model = LLM(tokenizer.vocab_size, config)  # CHANGE 2: the vocabulary comes from the tokenizer
    train_ids, val_ids = load_dataset(tokenizer)
    history = train(model, train_ids, val_ids, config, progress=not args.quiet, device=args.device)
    text = generate_text(model, tokenizer, args.prompt, max_new_tokens=args.tokens, seed=config.seed)
    print(f"{args.config}: {config.cell} {config.embedding_dim}/{config.hidden_dim}, {config.optimizer} "
          f"lr {config.lr:g}, {models.count_parameters(model):,} parameters; {len(history.step_loss)} steps "
          f"in {history.elapsed:.1f} s; validation loss {history.val_loss[-1]:.3f} nats per byte")
    print(text)
    return {"config": config, "model": model, "tokenizer": tokenizer, "history": history, "text": text}


if __name__ == "__main__":
    main()
