"""Train the small checkpoint that ships with lmlib (chapter 1's "first taste").

    python scripts/make_checkpoint.py            # writes lmlib/assets/first-taste.lmlib
    python scripts/make_checkpoint.py --resave   # writes the existing file again, weights unchanged

Same seed, same machine, same file: training is seeded and runs on one CPU thread. The model reads and
writes UTF-8 bytes, so any prompt (English, Chinese, code) is valid input. It takes a few minutes.

``--resave`` loads the checkpoint at ``--out`` and saves it again with this lmlib, keeping its weights,
tokenizer, history and recipe; it brings a file written by an older lmlib up to the current format (the
SHA-256 digest that ``checkpoint.load`` verifies) without retraining.
"""

from __future__ import annotations

import argparse
import hashlib
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from lmlib import checkpoint, data, models, tokenizers, train

OUT = Path(__file__).resolve().parent.parent / "lmlib" / "assets" / "first-taste.lmlib"


@dataclass
class Recipe:
    """The model and training run behind the shipped checkpoint."""

    cell: str = "gru"
    embedding_dim: int = 64
    hidden_dim: int = 384
    dropout: float = 0.25  # the corpus is small (about 420 kB of training bytes): without it the GRU memorises
    steps: int = 1500
    batch_size: int = 64
    seq_len: int = 128
    lr: float = 4e-3
    warmup_steps: int = 100
    seed: int = 0
    threads: int = 1  # one thread: the same file on any machine load, and no slowdown from a busy core


def make(recipe: Recipe, out: Path) -> Path:
    """Train the recipe on the default corpus (bytes, 90/10 split) and save the checkpoint to ``out``."""
    torch.set_num_threads(recipe.threads)
    text = data.load_corpus()
    train_text, val_text = data.split(text, 0.9)
    tok = tokenizers.ByteTokenizer()
    torch.manual_seed(recipe.seed)
    model = models.RNNLM(models.RNNConfig(vocab_size=tok.vocab_size, embedding_dim=recipe.embedding_dim,
                                          hidden_dim=recipe.hidden_dim, cell=recipe.cell,
                                          dropout=recipe.dropout))
    config = train.TrainConfig(steps=recipe.steps, batch_size=recipe.batch_size, seq_len=recipe.seq_len,
                               lr=recipe.lr, seed=recipe.seed, schedule="cosine", warmup_steps=recipe.warmup_steps,
                               eval_interval=250, progress=True)
    started = time.perf_counter()
    history = train.fit(model, tok.encode(train_text), tok.encode(val_text), config, device="cpu")
    seconds = time.perf_counter() - started
    val = train.evaluate(model, tok.encode(val_text), seq_len=recipe.seq_len)
    extra = {"recipe": asdict(recipe), "corpus": data.DEFAULT_CORPUS, "corpus_chars": len(text),
             "val_loss_full": round(val, 4), "train_seconds": round(seconds, 1)}
    out.parent.mkdir(parents=True, exist_ok=True)
    checkpoint.save(out, model, tok, history=history, extra=extra)
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB, sha256 {digest[:16]}…) in {seconds:.0f} s; "
          f"validation loss {val:.3f} nats/byte")
    return out


def resave(out: Path) -> Path:
    """Save the checkpoint at ``out`` again with this lmlib: same weights, tokenizer, history and extra."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", checkpoint.UnverifiedCheckpointWarning)
        model, tok = checkpoint.load(out)
    before = {name: t.clone() for name, t in model.state_dict().items()}
    checkpoint.save(out, model, tok, history=checkpoint.load_history(out), extra=checkpoint.read_metadata(out)["extra"])
    again, _ = checkpoint.load(out)  # verifies the new digest
    assert all(torch.equal(t, before[name]) for name, t in again.state_dict().items())
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    print(f"re-saved {out} ({out.stat().st_size / 1e6:.2f} MB, sha256 {digest[:16]}…); weights unchanged")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--steps", type=int, default=Recipe.steps)
    parser.add_argument("--resave", action="store_true", help="save the existing --out again, weights unchanged")
    args = parser.parse_args()
    if args.resave:
        resave(args.out)
    else:
        make(Recipe(steps=args.steps), args.out)


if __name__ == "__main__":
    main()
