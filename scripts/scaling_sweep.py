"""The miniature scaling law of chapter 8 (section 8.1.1): GPTs of several sizes, each trained on several
token budgets, on the default corpus at character level. Writes lmlib/assets/scaling_law.json.

    python scripts/scaling_sweep.py                # the whole grid (resumes: finished runs are kept)
    python scripts/scaling_sweep.py --workers 2    # two single-threaded processes at a time
    python scripts/scaling_sweep.py --list         # the grid, with parameters and compute per run

Every run is seeded and uses one torch thread, so it gives the same numbers on the same machine whatever
else runs there, and the same numbers whether the grid runs with one worker or several. Another CPU
(other float kernels) changes most losses in their fifth decimal or later, but not all: with AVX-512
instead of AVX2 kernels (ATEN_CPU_CAPABILITY=avx512) three runs of the 16-wide model moved by 0.017 to
0.037 (chapter 8a says what that does to the fits). Each run: a fresh GPT (2019 recipe,
``models.GPTConfig`` defaults) seeded with ``seed``; ``train.fit`` with AdamW, ``batch_size`` windows of
``seq_len`` characters, a 5 % linear warm-up and a cosine decay to 10 % of the size's learning rate over
exactly the run's budget (Hoffmann et al. 2022 showed the schedule must end with the budget); then the
loss on the whole validation split. Larger models need smaller learning rates (Kaplan et al. 2020 tuned
theirs per size): short probes (256 steps) of a 1-layer, 32-wide and a 4-layer, 96-wide GPT
(``Recipe.lr_probe``) anchored a rule, lr proportional to N ** -0.45, and each size takes that rule's
learning rate, rounded (capped at 1.5e-2 for the smallest size, since 2e-2 was already too high for the
1-layer, 32-wide one).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as `python scripts/scaling_sweep.py` without installing lmlib
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from lmlib import data, models, scaling, tokenizers, train  # noqa: E402

OUT = ROOT / "lmlib" / "assets" / "scaling_law.json"


@dataclass(frozen=True)
class Size:
    n_layer: int
    n_embd: int
    n_head: int
    lr: float  # peak learning rate for this size (from the probe)

    @property
    def name(self) -> str:
        return f"L{self.n_layer}-d{self.n_embd}"


@dataclass
class Recipe:
    """Everything a run depends on (stored with the results)."""

    sizes: list[Size] = field(default_factory=lambda: [
        Size(1, 16, 2, 1.5e-2), Size(1, 32, 2, 1e-2), Size(2, 32, 2, 7e-3), Size(2, 48, 3, 5e-3),
        Size(2, 64, 4, 4e-3), Size(3, 80, 5, 3e-3),
    ])
    budgets: list[int] = field(default_factory=lambda: [2**17, 2**18, 2**19, 2**20])  # training tokens D
    batch_size: int = 32
    seq_len: int = 64  # also the block size
    warmup_fraction: float = 0.05
    min_lr_ratio: float = 0.1
    seed: int = 0
    threads: int = 1
    curve_points: int = 8  # evaluations along each run (on the first eval_tokens validation characters)
    eval_tokens: int = 8192
    corpus: str = data.DEFAULT_CORPUS
    tokenizer: str = "char (CharTokenizer fitted on the whole corpus)"
    split: float = 0.9
    lr_probe: dict = field(default_factory=lambda: {  # validation loss (first 16,384 characters) after 256 steps
        "L1-d32": {"2e-3": 2.5606, "5e-3": 2.4457, "1e-2": 2.4201, "2e-2": 2.5646},
        "L4-d96 (N = 447,552, not in the grid)": {"2e-3": 2.29, "5e-3": 2.5069},
    })


def _data():
    text = data.load_corpus()
    tok = tokenizers.CharTokenizer.fit(text)
    train_text, val_text = data.split(text, 0.9)
    return text, tok, torch.tensor(tok.encode(train_text)), torch.tensor(tok.encode(val_text))


def _model(size: Size, vocab: int, recipe: Recipe) -> models.GPT:
    torch.manual_seed(recipe.seed)
    return models.GPT(models.GPTConfig(vocab_size=vocab, block_size=recipe.seq_len, n_layer=size.n_layer,
                                       n_head=size.n_head, n_embd=size.n_embd))


def run_one(size: Size, budget: int, recipe: Recipe, lr: float | None = None) -> dict:
    """Train one (size, budget) point and evaluate it; returns its record."""
    torch.set_num_threads(recipe.threads)
    _, tok, train_ids, val_ids = _data()
    model = _model(size, tok.vocab_size, recipe)
    steps = budget // (recipe.batch_size * recipe.seq_len)
    cfg = train.TrainConfig(steps=steps, batch_size=recipe.batch_size, seq_len=recipe.seq_len,
                            lr=size.lr if lr is None else lr, seed=recipe.seed, schedule="cosine",
                            warmup_steps=max(1, int(recipe.warmup_fraction * steps)),
                            min_lr_ratio=recipe.min_lr_ratio, eval_interval=max(1, steps // recipe.curve_points),
                            eval_tokens=recipe.eval_tokens, progress=False)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    history = train.fit(model, train_ids, val_ids, cfg, device="cpu")
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    val = train.evaluate(model, val_ids, seq_len=recipe.seq_len)
    n = scaling.non_embedding_parameters(model)
    return {
        "size": size.name, "n_layer": size.n_layer, "n_embd": size.n_embd, "n_head": size.n_head,
        "lr": cfg.lr, "params_non_embedding": n, "params_total": models.count_parameters(model),
        "tokens": history.tokens_seen, "steps": steps, "flops_6nd": scaling.training_flops(n, history.tokens_seen),
        "flops_with_attention": scaling.gpt_flops_per_token(model.config, recipe.seq_len) * history.tokens_seen,
        "val_loss": val, "curve": {"tokens": [s * recipe.batch_size * recipe.seq_len for s in history.steps],
                                   "val_loss": history.val_loss},
        "stop_reason": history.stop_reason, "cpu_seconds": cpu, "wall_seconds": wall,
    }


def _key(size: Size, budget: int) -> str:
    return f"{size.name}@{budget}"


def probe(recipe: Recipe, lrs: list[float], budget: int) -> None:
    """Print the validation loss of every size at ``budget`` tokens for each learning rate in ``lrs``."""
    for size in recipe.sizes:
        for lr in lrs:
            r = run_one(size, budget, recipe, lr=lr)
            print(f"{size.name:8s} lr {lr:g}: val {r['val_loss']:.4f}  ({r['cpu_seconds']:.0f} s CPU)", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workers", type=int, default=1, help="runs at a time, each on one thread (default 1)")
    ap.add_argument("--list", action="store_true", help="print the grid and exit")
    ap.add_argument("--fresh", action="store_true", help="ignore finished runs in the results file")
    ap.add_argument("--probe", default="", help="comma-separated learning rates: probe every size, store nothing")
    ap.add_argument("--probe-budget", type=int, default=2**19)
    ap.add_argument("--sizes", default="", help="comma-separated size names (e.g. L1-d32): run only these")
    args = ap.parse_args()
    recipe = Recipe()
    _, tok, _, _ = _data()
    if args.list:
        for size in recipe.sizes:
            m = _model(size, tok.vocab_size, recipe)
            n = scaling.non_embedding_parameters(m)
            print(f"{size.name:8s} N = {n:9,d} (total {models.count_parameters(m):9,d}), lr {size.lr:g}; budgets "
                  + ", ".join(f"{b / 1e6:.2f}M ({scaling.training_flops(n, b):.1e} FLOP)" for b in recipe.budgets))
        return
    if args.probe:
        probe(recipe, [float(v) for v in args.probe.split(",")], args.probe_budget)
        return
    previous = {}
    if OUT.exists() and not args.fresh:
        stored = json.loads(OUT.read_text())
        shared = {k: v for k, v in json.loads(json.dumps(asdict(recipe))).items() if k not in ("sizes", "budgets", "lr_probe")}
        if {k: v for k, v in stored.get("recipe", {}).items() if k not in ("sizes", "budgets", "lr_probe")} == shared:
            wanted = {_key(s, b) for s in recipe.sizes for b in recipe.budgets}
            previous = {k: r for r in stored["runs"]
                        if (k := _key(Size(r["n_layer"], r["n_embd"], r["n_head"], r["lr"]), r["tokens"])) in wanted}
    todo = [(s, b) for s in recipe.sizes for b in recipe.budgets if _key(s, b) not in previous
            and (not args.sizes or s.name in args.sizes.split(","))]
    todo.sort(key=lambda sb: -sb[0].n_embd * sb[0].n_layer * sb[1])  # the longest first: better packing
    print(f"{len(previous)} runs stored, {len(todo)} to go, {args.workers} worker(s)", flush=True)
    runs = dict(previous)
    started = time.perf_counter()

    def save() -> None:
        order = {_key(s, b): i for i, (s, b) in enumerate((s, b) for s in recipe.sizes for b in recipe.budgets)}
        record = {
            "recipe": asdict(recipe), "script": "scripts/scaling_sweep.py",
            "env": {"python": platform.python_version(), "torch": torch.__version__, "machine": platform.machine(),
                    "logical_cpus": os.cpu_count(), "corpus_chars": len(data.load_corpus()),
                    "vocab_size": tok.vocab_size},
            "sweep_wall_seconds_last_invocation": time.perf_counter() - started,
            "runs": sorted(runs.values(), key=lambda r: order[f"{r['size']}@{r['tokens']}"]),
        }
        OUT.write_text(json.dumps(record, indent=1) + "\n")

    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        futures = {pool.submit(run_one, s, b, recipe): (s, b) for s, b in todo}
        for fut in as_completed(futures):
            s, b = futures[fut]
            r = fut.result()
            runs[_key(s, b)] = r
            save()
            print(f"{s.name:8s} D {b / 1e6:5.2f}M  val {r['val_loss']:.4f}  {r['cpu_seconds']:6.0f} s CPU "
                  f"{r['wall_seconds']:6.0f} s wall  [{time.perf_counter() - started:6.0f} s]", flush=True)
    save()
    print(f"done in {time.perf_counter() - started:.0f} s; results in {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
