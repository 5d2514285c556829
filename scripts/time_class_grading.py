"""Time the sandboxed grader on a class: N submissions of one chapter's exported assignment.

    python scripts/time_class_grading.py --chapter 2 --students 30 --workers 2

Exports the chapter (``lmlib.exercises export``), makes the student notebook with ``otter assign``, fills
it in for N students with their own variants (about half right, a quarter wrong, a quarter unanswered),
writes a roster, grades the folder with ``python -m lmlib.exercises grade`` and prints the wall time, the
load average and the score table. Timings on a shared machine are disturbed by whatever else runs: the
script prints the load average beside them.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lmlib import exercises  # noqa: E402


def _namespace() -> dict:
    import sympy as sp

    from lmlib import growth, models, symbolic, tokenizers

    return {"math": math, "models": models, "tokenizers": tokenizers, "symbolic": symbolic, "growth": growth, "sp": sp}


def fill(student_nb: Path, target: Path, chapter: int, student: str, kind: str) -> None:
    """Write ``student``'s submission: right, wrong or unanswered answers to the numeric exercises."""
    import nbformat

    nb = nbformat.read(student_nb, as_version=4)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        cell.source = cell.source.replace("STUDENT_ID = None", f"STUDENT_ID = {student!r}")
        for ex in exercises.chapter_exercises(chapter):
            if ex.kind != "number" or kind == "unanswered":
                continue
            value = eval(ex.solution(ex.params(student)), _namespace())  # noqa: S307 - lmlib's own solution code
            answer = repr(float(value) if kind == "right" else float(value) * 1.7 + 1)
            cell.source = re.sub(rf"^{ex.answer} = \.\.\.", f"{ex.answer} = {answer}", cell.source, flags=re.M)
    nbformat.write(nb, target)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chapter", type=int, default=2)
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--keep", help="keep the class folder here")
    args = parser.parse_args()
    work = Path(args.keep or tempfile.mkdtemp(prefix="lmlib-class-"))
    work.mkdir(parents=True, exist_ok=True)
    chapter_nb = sorted((ROOT / "chapters").glob(f"{args.chapter:02d}_*.ipynb"))[0]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-m", "lmlib.exercises", "export", str(chapter_nb), "-o", str(work / "src")],
                   check=True, env=env)
    name = f"ch{args.chapter:02d}"
    subprocess.run(["otter", "assign", str(work / "src" / name / f"{name}.ipynb"), str(work / "dist")], check=True,
                   env=env, capture_output=True)
    subs = work / "submissions"
    subs.mkdir(exist_ok=True)
    roster = ["file,student"]
    for i in range(args.students):
        student = f"s{1000 + i}"
        kind = ("right", "right", "wrong", "unanswered")[i % 4]
        fill(work / "dist" / "student" / f"{name}.ipynb", subs / f"{student}.ipynb", args.chapter, student, kind)
        roster.append(f"{student}.ipynb,{student}")
    (work / "roster.csv").write_text("\n".join(roster) + "\n")
    cmd = [sys.executable, "-m", "lmlib.exercises", "grade", str(subs), "--chapter", str(args.chapter),
           "--roster", str(work / "roster.csv"), "-o", str(work / "results")]
    if args.workers:
        cmd += ["--workers", str(args.workers)]
    load_before = os.getloadavg()
    started = time.monotonic()
    done = subprocess.run(cmd, env=env)
    seconds = time.monotonic() - started
    load_after = os.getloadavg()
    print(f"\n{args.students} submissions of chapter {args.chapter} graded in {seconds:.0f} s "
          f"({seconds / args.students:.1f} s each), exit status {done.returncode}; "
          f"load average before {load_before[0]:.1f}, after {load_after[0]:.1f} on {os.cpu_count()} CPUs; "
          f"results in {work / 'results'}")
    return done.returncode


if __name__ == "__main__":
    raise SystemExit(main())
