"""Algorithmic progress at fixed compute (chapter 8, section 8.1.2): lmlib's GPT with the 2019 recipe
against the same model with each modern change added in turn. Writes lmlib/assets/algorithmic_progress.json.

    python scripts/algorithmic_progress.py              # every recipe (resumes: finished runs are kept)
    python scripts/algorithmic_progress.py --workers 2  # two single-threaded trainings at a time
    python scripts/algorithmic_progress.py --list

Two measurements, kept apart so that a busy machine cannot spoil the first:

1. **Loss at equal tokens.** Every recipe trains the same model size (a GPT of 2 layers, 4 heads,
   128 wide, block 64) on the same batches (seeded, one thread) for ``steps`` steps, with a
   learning curve on the first validation characters and a final loss on the whole validation split.
   These numbers do not depend on the machine's load.
2. **Cost per step.** All recipes take training steps in turn (round-robin, ``rounds`` rounds of
   ``round_steps`` steps, on one thread like the runs), and each recipe's median seconds per step is kept:
   the ratios between recipes are measured under the same conditions, even on a shared machine.

From the two: how much lower the modern loss is at equal tokens and at equal wall time (a separate run
of the modern recipe with as many steps as the 2019 recipe's time buys), and how many times fewer steps
and seconds the modern recipe needs to reach the 2019 recipe's final loss (read from its learning curve).
The chapter's live spot check (``spot``) is stored too, so the chapter can show its numbers land here.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from lmlib import data, models, tokenizers, train  # noqa: E402

OUT = ROOT / "lmlib" / "assets" / "algorithmic_progress.json"

MODERN_ARCH = {"pos": "rope", "norm": "rmsnorm", "mlp": "swiglu", "qk_norm": True, "bias": False}


@dataclass(frozen=True)
class Step:
    """One rung of the ladder: a name, the GPT options, the training options."""

    name: str
    label: str
    arch: dict
    opt: dict


LADDER = [
    Step("gpt2019", "2019 recipe: learned positions, LayerNorm, GELU MLP, biases, AdamW", {}, {}),
    Step("gpt2019-hi", "(2019 recipe at twice the learning rate)", {}, {"lr_factor": 2.0}),
    Step("rope", "+ rotary positions", {"pos": "rope"}, {}),
    Step("rmsnorm", "+ RMSNorm", {"pos": "rope", "norm": "rmsnorm"}, {}),
    Step("swiglu", "+ SwiGLU MLP", {"pos": "rope", "norm": "rmsnorm", "mlp": "swiglu"}, {}),
    Step("qknorm", "+ QK-norm", {"pos": "rope", "norm": "rmsnorm", "mlp": "swiglu", "qk_norm": True}, {}),
    Step("nobias", "+ no biases (the modern architecture)", MODERN_ARCH, {}),
    Step("adamw-hi", "+ AdamW at twice the learning rate (QK-norm keeps it stable)", MODERN_ARCH, {"lr_factor": 2.0}),
    Step("muon", "+ Muon for the hidden matrices (the modern recipe)", MODERN_ARCH,
         {"optimizer": "muon", "lr_factor": 2.0}),
]


@dataclass
class Recipe:
    """What every run shares (stored with the results)."""

    n_layer: int = 2
    n_head: int = 4
    n_embd: int = 128
    seq_len: int = 64
    batch_size: int = 32
    steps: int = 200
    lr: float = 3e-3  # AdamW's peak learning rate; the rung "gpt2019-hi" tries twice this for the 2019 recipe
    muon_lr: float = 0.02
    warmup_fraction: float = 0.05
    min_lr_ratio: float = 0.1
    seed: int = 0
    threads: int = 1
    curve_points: int = 10
    eval_tokens: int = 16_384
    rounds: int = 6  # cost measurement: rounds of round_steps steps per recipe (one thread, as the runs)
    round_steps: int = 3
    spot: dict = field(default_factory=lambda: {"n_layer": 2, "n_head": 2, "n_embd": 64, "batch_size": 16,
                                                 "steps": 150, "names": ["gpt2019", "muon"]})


def _data():
    text = data.load_corpus()
    tok = tokenizers.CharTokenizer.fit(text)
    train_text, val_text = data.split(text, 0.9)
    return tok, torch.tensor(tok.encode(train_text)), torch.tensor(tok.encode(val_text))


def build(step: Step, recipe: Recipe, vocab: int, n_layer=None, n_head=None, n_embd=None) -> models.GPT:
    torch.manual_seed(recipe.seed)
    return models.GPT(models.GPTConfig(vocab_size=vocab, block_size=recipe.seq_len,
                                       n_layer=n_layer or recipe.n_layer, n_head=n_head or recipe.n_head,
                                       n_embd=n_embd or recipe.n_embd, **step.arch))


def config(step: Step, recipe: Recipe, steps: int, batch_size: int | None = None, progress: bool = False,
           curve: bool = True) -> train.TrainConfig:
    opt = dict(step.opt)
    factor = opt.pop("lr_factor", 1.0)
    return train.TrainConfig(
        steps=steps, batch_size=batch_size or recipe.batch_size, seq_len=recipe.seq_len, lr=recipe.lr * factor,
        muon_lr=recipe.muon_lr, seed=recipe.seed, schedule="cosine",
        warmup_steps=max(1, int(recipe.warmup_fraction * steps)), min_lr_ratio=recipe.min_lr_ratio,
        eval_interval=max(1, steps // recipe.curve_points) if curve else 10**9, eval_tokens=recipe.eval_tokens,
        progress=progress, **opt)


def run_one(step: Step, recipe: Recipe, steps: int, tag: str) -> dict:
    """Train one recipe for ``steps`` steps on one thread; its learning curve and final loss."""
    torch.set_num_threads(recipe.threads)
    tok, train_ids, val_ids = _data()
    model = build(step, recipe, tok.vocab_size)
    cpu0 = time.process_time()
    history = train.fit(model, train_ids, val_ids, config(step, recipe, steps), device="cpu")
    cpu = time.process_time() - cpu0
    return {"name": step.name, "tag": tag, "label": step.label, "arch": step.arch, "opt": step.opt,
            "params": models.count_parameters(model), "steps": steps, "tokens": history.tokens_seen,
            "val_loss": train.evaluate(model, val_ids, seq_len=recipe.seq_len),
            "curve": {"steps": history.steps, "val_loss": history.val_loss, "train_loss": history.train_loss},
            "cpu_seconds": cpu, "stop_reason": history.stop_reason}


def spot_check(recipe: Recipe) -> dict:
    """The chapter's live run: the smaller model, each named recipe, on ``recipe.threads`` threads."""
    torch.set_num_threads(recipe.threads)
    tok, train_ids, val_ids = _data()
    s = recipe.spot
    out = {}
    for name in s["names"]:
        step = next(x for x in LADDER if x.name == name)
        model = build(step, recipe, tok.vocab_size, s["n_layer"], s["n_head"], s["n_embd"])
        cfg = config(step, recipe, s["steps"], batch_size=s["batch_size"], curve=False)
        train.fit(model, train_ids, None, cfg, device="cpu")
        out[name] = train.evaluate(model, val_ids, seq_len=recipe.seq_len, max_tokens=recipe.eval_tokens)
    return out


def measure_costs(recipe: Recipe) -> dict:
    """Median seconds per training step of every recipe, measured round-robin under the same conditions
    (on ``recipe.threads`` threads, as the runs train: a busy machine hurts several threads far more)."""
    torch.set_num_threads(recipe.threads)
    tok, train_ids, _ = _data()
    runners = {}
    for step in LADDER:
        model = build(step, recipe, tok.vocab_size)
        cfg = config(step, recipe, 10**6, curve=False)
        opt = train.make_optimizer(model, cfg)
        gen = torch.Generator().manual_seed(0)

        def one_step(model=model, opt=opt, gen=gen):
            x, y = data.get_batch(train_ids, recipe.batch_size, recipe.seq_len, gen)
            loss = model.loss(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()

        for _ in range(2):
            one_step()  # warm-up
        runners[step.name] = one_step
    times: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(recipe.rounds):
        for name, one_step in runners.items():
            t0 = time.perf_counter()
            for _ in range(recipe.round_steps):
                one_step()
            times[name].append((time.perf_counter() - t0) / recipe.round_steps)
    return {name: {"median_s": statistics.median(v), "all_s": v} for name, v in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--fresh", action="store_true", help="ignore stored runs")
    ap.add_argument("--skip-costs", action="store_true", help="keep the stored cost measurement")
    ap.add_argument("--names", default="", help="train only these runs now (comma-separated names or tags, "
                                                "e.g. gpt2019,muon,muon@time-matched); the others on a later call")
    args = ap.parse_args()
    recipe = Recipe()
    if args.list:
        for step in LADDER:
            print(f"{step.name:9s} {step.label}: {step.arch} {step.opt}")
        return
    stored = json.loads(OUT.read_text()) if OUT.exists() and not args.fresh else {}
    if stored.get("recipe") != json.loads(json.dumps(asdict(recipe))):
        stored = {}
    runs = {r["tag"]: r for r in stored.get("runs", [])}
    started = time.perf_counter()
    record = dict(stored)
    record.update(recipe=asdict(recipe), script="scripts/algorithmic_progress.py",
                  env={"python": platform.python_version(), "torch": torch.__version__,
                       "logical_cpus": os.cpu_count(), "torch_threads_for_costs": recipe.threads})

    def save() -> None:
        record["runs"] = sorted(runs.values(), key=lambda r: [s.name for s in LADDER].index(r["name"])
                                + (0.5 if r["tag"].endswith("time-matched") else 0))
        OUT.write_text(json.dumps(record, indent=1) + "\n")

    if "costs" not in record or not args.skip_costs:
        print("measuring the cost per step of every recipe (round-robin) ...", flush=True)
        record["costs"] = measure_costs(recipe)
        record["costs_loadavg"] = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
        save()
        for name, c in record["costs"].items():
            print(f"  {name:9s} {c['median_s'] * 1e3:7.1f} ms per step", flush=True)
    costs = record["costs"]
    todo = [(s, recipe.steps, s.name) for s in LADDER if s.name not in runs]
    ratio = costs["gpt2019"]["median_s"] / costs["muon"]["median_s"]
    matched = max(1, round(recipe.steps * ratio))
    if f"muon@time-matched" not in runs or runs["muon@time-matched"]["steps"] != matched:
        todo.append((LADDER[-1], matched, "muon@time-matched"))
    first = ("gpt2019", "muon", "muon@time-matched", "gpt2019-hi")  # the headline comparison, on a busy machine
    todo.sort(key=lambda t: first.index(t[2]) if t[2] in first else len(first))
    if args.names:
        todo = [t for t in todo if t[2] in args.names.split(",")]
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        futures = {pool.submit(run_one, s, recipe, n, tag): tag for s, n, tag in todo}
        for fut in as_completed(futures):
            r = fut.result()
            runs[r["tag"]] = r
            save()
            print(f"{r['tag']:20s} {r['steps']} steps: val {r['val_loss']:.4f} ({r['cpu_seconds']:.0f} s CPU) "
                  f"[{time.perf_counter() - started:.0f} s]", flush=True)
    if "spot" not in record and all(n in runs for n in record["recipe"]["spot"]["names"]):
        record["spot"] = spot_check(recipe)
        save()
    print(f"spot check: {record.get('spot', 'not yet (needs the runs it compares)')}")
    print(f"done in {time.perf_counter() - started:.0f} s; results in {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
