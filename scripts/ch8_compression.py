"""Chapter 8c (section 8.3.1, compression and acceleration): the models and the measured table.

    python scripts/ch8_compression.py train     # teacher GPT + two students (plain, distilled); resumable
    python scripts/ch8_compression.py measure   # the table: size on disk, generation speed, validation loss
    python scripts/ch8_compression.py           # both

Writes ``lmlib/assets/ch8-gpt.lmlib`` (the teacher, also used by chapter 8's interpretability notebook),
``lmlib/assets/ch8-student-distilled.lmlib`` (the distilled student) and ``lmlib/assets/ch8_compression.json``
(recipe, per-variant numbers, the machine and its load). Training is seeded and runs on one CPU thread, so
the same machine gives the same weights; the speed figures depend on the machine and on what else runs on
it: the JSON records the load average, and only ratios measured in one run are compared.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as `python scripts/ch8_compression.py` without installing lmlib
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from lmlib import checkpoint, compress, data, models, tokenizers, train  # noqa: E402

ASSETS = ROOT / "lmlib" / "assets"
TEACHER = ASSETS / "ch8-gpt.lmlib"
STUDENT = ASSETS / "ch8-student-distilled.lmlib"
PLAIN = ROOT / "scripts" / "_work" / "ch8-student-plain.lmlib"  # kept out of the package: only its numbers ship
RESULTS = ASSETS / "ch8_compression.json"


@dataclass
class Recipe:
    """The teacher, the student and how both are trained (bytes of the default corpus, 90/10 split)."""

    teacher: tuple[int, int, int] = (3, 4, 64)  # n_layer, n_head, n_embd
    student: tuple[int, int, int] = (2, 2, 32)
    block_size: int = 64
    dropout: float = 0.1  # the corpus is small (about 420 kB of training bytes)
    steps: int = 2000
    batch_size: int = 32
    seq_len: int = 64
    lr: float = 2e-3
    warmup_steps: int = 100
    seed: int = 0
    temperature: float = 2.0  # distillation: softening of both distributions
    alpha: float = 0.5  # distillation: weight of the teacher's soft targets (1 - alpha: the data)
    sparsities: tuple[float, ...] = (0.3, 0.5, 0.7, 0.9)
    threads: int = 1


def _data():
    text = data.load_corpus()
    train_text, val_text = data.split(text, 0.9)
    tok = tokenizers.ByteTokenizer()
    return tok, torch.tensor(tok.encode(train_text)), torch.tensor(tok.encode(val_text)), len(text)


def _gpt(recipe: Recipe, shape: tuple[int, int, int], dropout: float) -> models.GPT:
    n_layer, n_head, n_embd = shape
    torch.manual_seed(recipe.seed)
    return models.GPT(models.GPTConfig(vocab_size=256, block_size=recipe.block_size, n_layer=n_layer,
                                       n_head=n_head, n_embd=n_embd, dropout=dropout))


def _config(recipe: Recipe) -> train.TrainConfig:
    return train.TrainConfig(steps=recipe.steps, batch_size=recipe.batch_size, seq_len=recipe.seq_len, lr=recipe.lr,
                             seed=recipe.seed, schedule="cosine", warmup_steps=recipe.warmup_steps,
                             eval_interval=250, progress=True)


def train_all(recipe: Recipe) -> None:
    """Train the teacher, then the two students; a model whose file exists is not trained again."""
    torch.set_num_threads(recipe.threads)
    tok, train_ids, val_ids, n_chars = _data()
    extra = {"recipe": asdict(recipe), "corpus": data.DEFAULT_CORPUS, "corpus_chars": n_chars,
             "script": "scripts/ch8_compression.py"}
    if not TEACHER.exists():
        teacher = _gpt(recipe, recipe.teacher, recipe.dropout)
        started = time.process_time()
        history = train.fit(teacher, train_ids, val_ids, _config(recipe), device="cpu")
        checkpoint.save(TEACHER, teacher, tok, history=history,
                        extra={**extra, "role": "teacher", "cpu_seconds": round(time.process_time() - started, 1)})
        print(f"teacher: validation loss {history.val_loss[-1]:.4f}", flush=True)
    teacher, _ = checkpoint.load(TEACHER)
    PLAIN.parent.mkdir(parents=True, exist_ok=True)
    if not PLAIN.exists():
        plain = _gpt(recipe, recipe.student, 0.0)
        started = time.process_time()
        history = train.fit(plain, train_ids, val_ids, _config(recipe), device="cpu")
        checkpoint.save(PLAIN, plain, tok, history=history,
                        extra={**extra, "role": "student trained on the data alone",
                               "cpu_seconds": round(time.process_time() - started, 1)})
        print(f"plain student: validation loss {history.val_loss[-1]:.4f}", flush=True)
    if not STUDENT.exists():
        student = _gpt(recipe, recipe.student, 0.0)
        started = time.process_time()
        history = compress.distill(student, teacher, train_ids, val_ids, _config(recipe),
                                   temperature=recipe.temperature, alpha=recipe.alpha)
        checkpoint.save(STUDENT, student, tok, history=history,
                        extra={**extra, "role": "student distilled from ch8-gpt",
                               "cpu_seconds": round(time.process_time() - started, 1)})
        print(f"distilled student: validation loss {history.val_loss[-1]:.4f}", flush=True)


def measure(recipe: Recipe, rounds: int = 15, new_tokens: int = 48) -> dict:
    """Every variant's size on disk, generation speed (KV cache on, one interleaved run) and validation loss."""
    torch.set_num_threads(recipe.threads)
    tok, _, val_ids, _ = _data()
    teacher, _ = checkpoint.load(TEACHER)
    plain, _ = checkpoint.load(PLAIN)
    student, _ = checkpoint.load(STUDENT)
    variants = {"teacher (float32)": teacher, "teacher, int8 dynamic": compress.quantize_int8(teacher)}
    for s in recipe.sparsities:
        variants[f"teacher, {s:.0%} pruned"] = compress.magnitude_prune(teacher, s)
    variants["student (float32), data only"] = plain
    variants["student (float32), distilled"] = student
    variants["student, distilled + int8"] = compress.quantize_int8(student)
    rows = []
    folder = Path(tempfile.mkdtemp())
    for name, m in variants.items():
        path = folder / "model.safetensors"
        if any(compress.is_quantized(x) for x in m.modules()):
            compress.save_int8(path, m)
            kind = "int8"
        elif compress.sparsity(m) > 0.01:
            compress.save_sparse(path, m)
            kind = "sparse"
        else:
            compress.save_float(path, m)
            kind = "float32"
        started = time.process_time()
        loss = train.evaluate(m, val_ids, seq_len=recipe.seq_len)
        rows.append({"variant": name, "format": kind, "parameters": models.count_parameters(
            teacher if name.startswith("teacher") else student),
            "bytes": compress.file_size(path), "dense_float32_bytes": compress.file_size(
                compress.save_float(folder / "dense.safetensors", teacher if name.startswith("teacher") else student)),
            "sparsity": round(compress.sparsity(m), 4) if kind != "int8" else 0.0,
            "val_loss": round(loss, 4), "eval_cpu_seconds": round(time.process_time() - started, 1)})
        print(rows[-1], flush=True)
    prompt = tok.encode("def read(self, size=-1):\n    ")
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    speeds = compress.generation_speeds(variants, prompt, new_tokens=new_tokens, rounds=rounds)
    load_after = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    for row in rows:
        row["tokens_per_second"] = round(speeds[row["variant"]], 1)
        row["speed_vs_teacher"] = round(speeds[row["variant"]] / speeds["teacher (float32)"], 3)
    result = {"recipe": asdict(recipe), "rows": rows,
              "speed_protocol": {"new_tokens": new_tokens, "rounds": rounds, "prompt_tokens": len(prompt),
                                 "decoding": "greedy, KV cache on, one thread, round-robin, median per variant"},
              "machine": {"python": platform.python_version(), "torch": torch.__version__,
                          "processor": platform.machine(), "cpus": os.cpu_count(),
                          "load_average_before": load_before, "load_average_after": load_after},
              "teacher_history": checkpoint.load_history(TEACHER).to_dict(),
              "student_plain_history": checkpoint.load_history(PLAIN).to_dict(),
              "student_distilled_history": checkpoint.load_history(STUDENT).to_dict()}
    for key in ("teacher_history", "student_plain_history", "student_distilled_history"):
        h = result[key]
        result[key] = {k: h[k] for k in ("steps", "train_loss", "val_loss", "tokens_seen", "elapsed")}
    RESULTS.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {RESULTS}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("stage", nargs="?", choices=("train", "measure", "all"), default="all")
    args = parser.parse_args()
    recipe = Recipe()
    if args.stage in ("train", "all"):
        train_all(recipe)
    if args.stage in ("measure", "all"):
        measure(recipe)


if __name__ == "__main__":
    main()
