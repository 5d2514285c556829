"""Exercise checks for students, and the teacher's two commands.

Every chapter ends with exercises. Where an answer is a number or code, the notebook calls
``check("5.2", answer)``, which tells the student what is right or wrong in it. The truth is computed here
from lmlib, never stored as a bare number.

Teacher commands (one each)::

    python -m lmlib.exercises student chapters/ student_copy/     # notebooks without solutions
    python -m lmlib.exercises grade submissions/                  # run each notebook, print a score table
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

__all__ = ["Result", "check", "CHECKS", "exercise_ids", "make_student_copy", "grade_folder", "main"]

METADATA_KEY = "lmlib_check"  # where a check output records its result, for grading
SOLUTION_TAG = "solution"


@dataclass
class Result:
    """The outcome of one check: passed or not, and what to tell the student."""

    exercise: str
    passed: bool
    message: str

    def _repr_mimebundle_(self, include=None, exclude=None) -> tuple[dict[str, Any], dict[str, Any]]:
        mark = "✔" if self.passed else "✘"
        colour = "#1a7f37" if self.passed else "#cf222e"
        text = f"{mark} Exercise {self.exercise}: {self.message}"
        html = (
            f'<div class="lmlib-check" style="border-left:4px solid {colour};padding:4px 8px">'
            f"<b>{mark} Exercise {self.exercise}</b>: {_escape(self.message)}</div>"
        )
        data = {"text/plain": text, "text/html": html}
        return data, {METADATA_KEY: {"exercise": self.exercise, "passed": self.passed}}

    def __bool__(self) -> bool:
        return self.passed


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


CHECKS: dict[str, Callable[[Any], tuple[bool, str]]] = {}


def _register(exercise: str) -> Callable:
    def wrap(fn: Callable[[Any], tuple[bool, str]]) -> Callable:
        CHECKS[exercise] = fn
        return fn

    return wrap


def exercise_ids() -> list[str]:
    """The exercises that have checks, in chapter order."""
    return sorted(CHECKS, key=lambda e: tuple(int(p) for p in e.split(".")))


def check(exercise: str, answer: Any) -> Result:
    """Check ``answer`` to ``exercise`` (e.g. ``"5.2"``); the result displays itself in a notebook."""
    if exercise not in CHECKS:
        raise ValueError(f"no exercise {exercise!r}; exercises with checks: {exercise_ids()}")
    if answer is ...:
        return Result(exercise, False, "replace the ... with your answer, then run the cell again")
    try:
        passed, message = CHECKS[exercise](answer)
    except Exception as err:  # a student's code may fail in any way: report it, don't crash the check
        passed, message = False, f"your answer raised {type(err).__name__}: {err}"
    return Result(exercise, passed, message)


def _number(answer: Any) -> float:
    if isinstance(answer, bool) or not isinstance(answer, (int, float)) and not hasattr(answer, "__float__"):
        raise TypeError(f"expected a number, got {type(answer).__name__}")
    return float(answer)


# ---------------------------------------------------------------- chapter 1: background


@_register("1.1")
def _perplexity_of_uniform_bytes(answer: Any) -> tuple[bool, str]:
    value = _number(answer)
    if math.isclose(value, 256, rel_tol=1e-6):
        return True, "right: a model that spreads its bets evenly over 256 bytes has perplexity 256."
    if math.isclose(value, math.log(256), rel_tol=1e-3):
        return False, "that is the loss ln(256) in nats; perplexity is exp(loss)."
    if math.isclose(value, 8, rel_tol=1e-6):
        return False, "8 is the loss in bits (log2 256); perplexity is 2**bits = exp(nats)."
    return False, f"{value:g} is not it: perplexity is exp(loss), and the loss of a uniform guess over V tokens is ln V."


@_register("1.2")
def _bytes_of_prompt(answer: Any) -> tuple[bool, str]:
    truth = len("这是一个".encode("utf-8"))
    value = _number(answer)
    if value == truth:
        return True, f"right: each of the 4 characters takes 3 bytes in UTF-8, so {truth} byte tokens."
    if value == 4:
        return False, "4 is the number of characters; a byte tokenizer sees their UTF-8 bytes."
    return False, f"{value:g} is not it; try len('这是一个'.encode('utf-8'))."


# ---------------------------------------------------------------- chapter 5: project practice


@_register("5.1")
def _windows(answer: Any) -> tuple[bool, str]:
    import torch

    if not callable(answer):
        return False, "pass your function itself (make_windows), not its result."
    ids = list(range(10))
    got = answer(ids, 3)
    if got is None:
        return False, "make_windows returned None: finish it so that it returns x, y."
    if not (isinstance(got, tuple) and len(got) == 2):
        return False, "return a pair (x, y)."
    x, y = (torch.as_tensor(t) for t in got)
    want_x = torch.tensor([[0, 1, 2], [3, 4, 5], [6, 7, 8]])
    want_y = want_x + 1
    if x.shape != want_x.shape:
        return False, f"for 10 ids and seq_len 3, x should have shape (3, 3); yours has {tuple(x.shape)}."
    if torch.equal(x, want_x) and torch.equal(y, want_x):
        return False, "your targets equal the inputs; each target is the token that comes next (shift by one)."
    if torch.equal(x, want_x) and torch.equal(y, want_y):
        return True, "right: non-overlapping windows, targets shifted one step to the right."
    return False, f"for ids 0..9 and seq_len 3 expected x={want_x.tolist()}, y={want_y.tolist()}; got x={x.tolist()}, y={y.tolist()}."


def _rnn_parameters(cell: str, vocab: int, emb: int, hidden: int) -> int:
    gates = {"rnn": 1, "lstm": 4, "gru": 3}[cell]
    return vocab * emb + gates * (emb * hidden + hidden * hidden + 2 * hidden) + hidden * vocab + vocab


@_register("5.2")
def _count_rnn_parameters(answer: Any) -> tuple[bool, str]:
    from . import models

    model = models.RNNLM(models.RNNConfig(vocab_size=256, embedding_dim=64, hidden_dim=128, cell="gru"))
    truth = models.count_parameters(model)
    value = _number(answer)
    if value == truth:
        return True, f"right: {truth:,} parameters."
    diffs = {
        2 * 3 * 128: "you left out the GRU's biases (two bias vectors per gate, 3 gates).",
        3 * 128: "you counted one bias vector per GRU gate; PyTorch keeps two (input and hidden).",
        256: "you left out the output layer's bias.",
        2 * 3 * 128 + 256: "you left out all biases.",
        256 * 64: "you left out the embedding table.",
        128 * 256 + 256: "you left out the output layer.",
    }
    hint = diffs.get(int(truth - value))
    if hint:
        return False, hint
    if value == _rnn_parameters("rnn", 256, 64, 128):
        return False, "that is the count for a plain RNN cell; a GRU has 3 gates, each with its own weights."
    return False, f"{value:g} is not it (off by {truth - value:+g}); count embedding, GRU weights and biases, and the output layer."


# ---------------------------------------------------------------- teacher commands


def _is_solution(cell: dict) -> bool:
    tags = cell.get("metadata", {}).get("tags", [])
    return SOLUTION_TAG in tags or "{solution}" in "".join(cell.get("source", ""))


def make_student_copy(src: str | Path, dest: str | Path) -> list[Path]:
    """Copy every notebook under ``src`` to ``dest`` without solution cells and outputs of exercise cells."""
    import nbformat

    src, dest = Path(src), Path(dest)
    written = []
    for path in sorted(src.rglob("*.ipynb")):
        if ".ipynb_checkpoints" in path.parts:
            continue
        nb = nbformat.read(path, as_version=4)
        nb.cells = [cell for cell in nb.cells if not _is_solution(cell)]
        target = dest / path.relative_to(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, target)
        written.append(target)
    return written


def _results_of(nb: Any) -> dict[str, bool]:
    results: dict[str, bool] = {}
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            record = output.get("metadata", {}).get(METADATA_KEY)
            if record:
                results[record["exercise"]] = bool(record["passed"])  # the last check of an exercise counts
    return results


def grade_folder(folder: str | Path, timeout: int = 600, execute: bool = True) -> list[dict[str, Any]]:
    """Run every notebook in ``folder`` (unless ``execute=False``) and collect its check results."""
    import nbformat

    rows = []
    for path in sorted(Path(folder).rglob("*.ipynb")):
        if ".ipynb_checkpoints" in path.parts:
            continue
        nb = nbformat.read(path, as_version=4)
        error = ""
        if execute:
            from nbclient import NotebookClient
            from nbclient.exceptions import CellExecutionError

            client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True,
                                    resources={"metadata": {"path": str(path.parent)}})
            try:
                client.execute()
            except (CellExecutionError, RuntimeError, TimeoutError) as err:
                error = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
        results = _results_of(nb)
        rows.append({
            "notebook": str(path.relative_to(folder)),
            "passed": sum(results.values()),
            "checked": len(results),
            "results": results,
            "error": error,
        })
    return rows


def _table(rows: list[dict[str, Any]]) -> str:
    exercises = sorted({e for r in rows for e in r["results"]}, key=lambda e: tuple(int(p) for p in e.split(".")))
    header = ["notebook", *exercises, "score"]
    lines = [header]
    for r in rows:
        marks = [("✔" if r["results"][e] else "✘") if e in r["results"] else "–" for e in exercises]
        lines.append([r["notebook"], *marks, f"{r['passed']}/{len(exercises)}"])
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(header))]
    out = ["  ".join(str(c).ljust(w) for c, w in zip(line, widths)) for line in lines]
    out.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    """Command line: ``student SRC DEST`` or ``grade FOLDER [--json OUT]``."""
    parser = argparse.ArgumentParser(prog="python -m lmlib.exercises", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    student = sub.add_parser("student", help="write student copies of the notebooks, without solutions")
    student.add_argument("src")
    student.add_argument("dest")
    grade = sub.add_parser("grade", help="run each submitted notebook and print a score table")
    grade.add_argument("folder")
    grade.add_argument("--json", help="also write the results as JSON to this file")
    grade.add_argument("--no-execute", action="store_true", help="grade the stored outputs as they are")
    grade.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    args = parser.parse_args(argv)
    if args.command == "student":
        written = make_student_copy(args.src, args.dest)
        print(f"wrote {len(written)} student notebooks to {args.dest}")
        return 0
    folder = Path(args.folder)
    if not folder.is_dir():
        parser.error(f"{folder} is not a folder of notebooks")
    rows = grade_folder(folder, timeout=args.timeout, execute=not args.no_execute)
    if not rows:
        print(f"no notebooks in {folder}")
        return 1
    print(_table(rows))
    for r in rows:
        if r["error"]:
            print(f"{r['notebook']}: {r['error']}", file=sys.stderr)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2, ensure_ascii=False), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
