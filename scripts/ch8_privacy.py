"""Chapter 8d (section 8.2.2, data privacy): canaries in the training text, their exposure and extraction.

    python scripts/ch8_privacy.py            # all runs (resumable: finished runs are kept in the JSON)

After Carlini et al., "The Secret Sharer" (2019). Random 4-digit secrets ("Ada's PIN is 0394") are inserted
into the training split of the default corpus, three of them once, three 4 times, three 16 times and three
64 times; four more are never inserted (controls). A small GPT trains on the bytes; every ``eval_interval`` steps each secret's exact exposure
(its rank among all 10,000 candidates, in bits) and whether greedy decoding from its prefix writes it are
recorded. The mitigation run removes repeated lines from the training text first (each canary then
occurs once). One seed each (the secrets, their positions and the initial weights follow it).

Writes ``lmlib/assets/ch8_privacy.json`` and the final model of the first run without mitigation,
``lmlib/assets/ch8-canary-gpt.lmlib`` (its canaries are in the checkpoint's ``extra``), which the chapter
loads to recompute one exposure live. Seeded, one CPU thread: the same machine gives the same numbers.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from lmlib import checkpoint, cleaning, data, models, privacy, tokenizers, train  # noqa: E402

RESULTS = ROOT / "lmlib" / "assets" / "ch8_privacy.json"
MODEL = ROOT / "lmlib" / "assets" / "ch8-canary-gpt.lmlib"


@dataclass
class Recipe:
    """Canaries, model and training of every run."""

    repeats: tuple[int, ...] = (1, 1, 1, 4, 4, 4, 16, 16, 16, 64, 64, 64, 0, 0, 0, 0)  # copies; 0: a control
    digits: int = 4
    shape: tuple[int, int, int] = (2, 4, 64)  # n_layer, n_head, n_embd
    block_size: int = 64
    steps: int = 1500
    batch_size: int = 32
    seq_len: int = 64
    lr: float = 2e-3
    warmup_steps: int = 100
    eval_interval: int = 250
    seeds: tuple[int, ...] = (0,)
    threads: int = 1


class CanaryProbe(train.Callback):
    """After each evaluation: every canary's exposure and whether greedy decoding extracts it."""

    def __init__(self, model, tok, canaries, log):
        self.model, self.tok, self.canaries, self.log = model, tok, canaries, log

    def on_eval(self, step, history):
        row = {"step": step, "val_loss": round(history.val_loss[-1], 4), "canaries": []}
        for c in self.canaries:
            e = privacy.exposure(self.model, self.tok, c)
            row["canaries"].append({"name": c.name, "repeats": c.repeats, "rank": e.rank,
                                    "exposure_bits": round(e.bits, 3),
                                    "extracted": privacy.extracted(self.model, self.tok, c)})
        self.log.append(row)
        print(f"  step {step}: val {row['val_loss']:.3f}; exposure by repeats "
              + ", ".join(f"{c['repeats']}:{c['exposure_bits']:.1f}" for c in row["canaries"]), flush=True)
        self.model.train()


def run(recipe: Recipe, seed: int, dedup: bool) -> tuple[dict, models.GPT, list[privacy.Canary]]:
    torch.set_num_threads(recipe.threads)
    text = data.load_corpus()
    train_text, val_text = data.split(text, 0.9)
    canaries = privacy.make_canaries(recipe.repeats, recipe.digits, seed=seed)
    with_canaries = privacy.insert_canaries(train_text, canaries, seed=seed)
    stats = None
    if dedup:
        with_canaries, s = cleaning.dedup_lines(with_canaries)
        stats = {"lines": s.units, "removed": s.removed, "removed_fraction": round(s.removed_fraction, 4)}
    tok = tokenizers.ByteTokenizer()
    n_layer, n_head, n_embd = recipe.shape
    torch.manual_seed(seed)
    model = models.GPT(models.GPTConfig(vocab_size=256, block_size=recipe.block_size, n_layer=n_layer,
                                        n_head=n_head, n_embd=n_embd))
    config = train.TrainConfig(steps=recipe.steps, batch_size=recipe.batch_size, seq_len=recipe.seq_len,
                               lr=recipe.lr, seed=seed, schedule="cosine", warmup_steps=recipe.warmup_steps,
                               eval_interval=recipe.eval_interval, progress=False)
    log: list[dict] = []
    started = time.process_time()
    history = train.fit(model, tok.encode(with_canaries), tok.encode(val_text), config,
                        callbacks=[CanaryProbe(model, tok, canaries, log)], device="cpu")
    result = {"seed": seed, "dedup": dedup, "dedup_stats": stats, "train_chars": len(with_canaries),
              "canaries": [asdict(c) for c in canaries], "evals": log,
              "cpu_seconds": round(time.process_time() - started, 1), "stop_reason": history.stop_reason}
    return result, model, canaries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.parse_args()
    recipe = Recipe()
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    if results.get("recipe") != json.loads(json.dumps(asdict(recipe))):
        results = {"recipe": asdict(recipe), "runs": []}
    done = {(r["seed"], r["dedup"]) for r in results["runs"]}
    for dedup in (False, True):
        for seed in recipe.seeds:
            if (seed, dedup) in done:
                continue
            print(f"run: seed {seed}, {'lines deduplicated' if dedup else 'as inserted'}", flush=True)
            result, model, canaries = run(recipe, seed, dedup)
            results["runs"].append(result)
            results["machine"] = {"python": platform.python_version(), "torch": torch.__version__}
            RESULTS.write_text(json.dumps(results, indent=1) + "\n")
            if seed == recipe.seeds[0] and not dedup:
                checkpoint.save(MODEL, model, tokenizers.ByteTokenizer(),
                                extra={"canaries": [asdict(c) for c in canaries], "recipe": asdict(recipe),
                                       "script": "scripts/ch8_privacy.py", "seed": seed})
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
