"""The teacher's commands: student copies of the notebooks, and grading a folder of submissions.

    python -m lmlib.exercises student chapters/ student_copy/     # notebooks without solutions
    python -m lmlib.exercises grade submissions/                  # run each notebook, print a score table
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ._core import METADATA_KEY

__all__ = ["make_student_copy", "grade_folder", "main"]

SOLUTION_TAG = "solution"

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
    parser = argparse.ArgumentParser(prog="python -m lmlib.exercises", description="Student copies and grading for the book's exercises.")
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
