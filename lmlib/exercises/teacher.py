"""The teacher's commands: student copies, the Otter-Grader export, and sandboxed grading.

    python -m lmlib.exercises student chapters/ student_copy/          # chapters without solutions
    python -m lmlib.exercises export chapters/02_core_concepts.ipynb -o assignments/   # Otter source notebook
    python -m lmlib.exercises grade submissions/ --chapter 2 -o results/              # sandboxed grading
    python -m lmlib.exercises list                                     # the exercises and their points
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path
from typing import Any

__all__ = ["make_student_copy", "main"]

SOLUTION_TAG = "solution"


def _is_solution(cell: dict) -> bool:
    tags = cell.get("metadata", {}).get("tags", [])
    return SOLUTION_TAG in tags or "{solution}" in "".join(cell.get("source", ""))


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def make_student_copy(src: str | Path, dest: str | Path) -> list[Path]:
    """Copy the notebook ``src`` (or every notebook under the folder ``src``) to ``dest`` for students.

    Solution cells are dropped, the outputs of answer cells cleared, and a written exercise without an
    answer cell gets one. ``dest`` must lie outside ``src``: the teacher's notebooks are never rewritten.
    """
    import nbformat

    from .grading.notebooks import find_exercises

    src, dest = Path(src), Path(dest)
    if not src.exists():
        raise FileNotFoundError(f"no notebook or folder {src}")
    src_real, dest_real = src.resolve(), dest.resolve()
    if src.is_file():
        if src.suffix != ".ipynb":
            raise ValueError(f"{src} is not a notebook (.ipynb)")
        if dest_real == src_real or (dest.is_dir() and (dest_real / src.name) == src_real):
            raise ValueError(f"the student copy would overwrite the source notebook {src}; choose another destination")
        pairs = [(src, dest / src.name if dest.is_dir() or dest.suffix != ".ipynb" else dest)]
    else:
        pairs = []
        for path in sorted(src.rglob("*.ipynb")):
            if ".ipynb_checkpoints" in path.parts:
                continue
            pairs.append((path, dest / path.relative_to(src)))
        if _inside(dest_real, src_real) or any(_inside(t.resolve(), src_real) for _, t in pairs):
            raise ValueError(f"the destination {dest} is the source folder {src} or lies inside it: the student copies "
                             "would replace the teacher's notebooks or nest inside them; choose a folder outside it")
    written = []
    for path, target in pairs:
        nb = nbformat.read(path, as_version=4)
        exercises = find_exercises(nb)
        answer_cells = {i for ex in exercises for i in ex.answer_cells}
        insert_after = {ex.prompt_cell: ex.id for ex in exercises if ex.written and ex.written_cell is None}
        cells = []
        for index, cell in enumerate(nb.cells):
            if _is_solution(cell):
                continue
            if index in answer_cells and cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
            cells.append(cell)
            if index in insert_after:
                answer = nbformat.v4.new_markdown_cell("*Your answer (replace this text):*")
                answer.metadata["lmlib"] = {"written": insert_after[index]}
                cells.append(answer)
        nb.cells = cells
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, target)
        written.append(target)
    return written


def _read_roster(path: str) -> dict[str, str]:
    """A CSV with columns ``file`` and ``student`` (the teacher's own mapping of submissions to ids)."""
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or not {"file", "student"} <= set(reader.fieldnames):
            raise ValueError(f"{path} needs the columns 'file' and 'student', found {reader.fieldnames}")
        return {row["file"].strip(): row["student"].strip() for row in reader if row["file"].strip()}


def _grade(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from .grading import grade as grading
    from .grading.sandbox import Limits, SandboxUnavailable, probe

    folder = Path(args.folder)
    if not folder.is_dir():
        parser.error(f"{folder} is not a folder of notebooks")
    try:
        exercises = grading.assignment_exercises(args.chapter)
    except ValueError as err:
        parser.error(str(err))
    out = Path(args.out)
    if out.resolve() == folder.resolve() or folder.resolve() in out.resolve().parents:
        parser.error("write the results outside the submissions folder (-o)")
    if args.unsafe_no_sandbox:
        print("WARNING: --unsafe-no-sandbox: submissions run as you, with your files and network in reach.",
              file=sys.stderr)
    else:
        try:
            mode = probe()
        except SandboxUnavailable as err:
            print(f"refusing to grade: no sandbox ({err}).\nInstall bubblewrap (Debian/Ubuntu: apt-get install "
                  "bubblewrap) or, if you trust every submission, pass --unsafe-no-sandbox.", file=sys.stderr)
            return 2
        print(f"sandbox: bubblewrap ({'as root, one unprivileged user per slot' if mode == 'root' else 'user namespace'})",
              file=sys.stderr)
    roster = _read_roster(args.roster) if args.roster else {}
    import os

    cpus = os.cpu_count() or 1
    workers = args.workers or min(4, cpus)
    limits = Limits(notebook_timeout=args.timeout, cell_timeout=args.cell_timeout,
                    memory_bytes=args.memory_mb * 1024**2, threads=max(1, cpus // workers))
    paths = grading.find_submissions(folder)
    if not paths:
        print(f"no notebooks in {folder}", file=sys.stderr)
        return 1
    print(f"grading {len(paths)} notebooks against chapter {args.chapter}'s {len(exercises)} exercises, "
          f"{workers} at a time; results in {out}/", file=sys.stderr)

    def progress(row: Any) -> None:
        state = "graded" if row.graded else "NOT GRADED"
        print(f"  {row.file}: {row.score:g}/{row.possible:g} {state} ({row.seconds:.1f} s)"
              + (f" - {row.reason}" if row.reason else ""), file=sys.stderr)

    rows = grading.grade_folder(folder, args.chapter, out, limits=limits, workers=workers, roster=roster,
                                unsafe=args.unsafe_no_sandbox, progress=progress)
    print(grading.table(rows, exercises))
    failed = [r for r in rows if not r.graded]
    if failed:
        print(f"{len(failed)} of {len(rows)} submissions were not graded (see the status column).", file=sys.stderr)
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m lmlib.exercises",
                                     description="Student copies, Otter-Grader export and sandboxed grading for the book's exercises.")
    sub = parser.add_subparsers(dest="command", required=True)
    student = sub.add_parser("student", help="write student copies of the chapter notebooks, without solutions")
    student.add_argument("src", help="a chapter notebook or a folder of them")
    student.add_argument("dest", help="a folder outside src")
    export = sub.add_parser("export", help="write each chapter's exercises as an Otter-Grader source notebook")
    export.add_argument("notebooks", nargs="+", help="chapter notebooks")
    export.add_argument("-o", "--out", default="assignments", help="output folder (default: assignments)")
    export.add_argument("--requirement", action="append", dest="requirements",
                        help="a pip requirement for Otter's grading image (repeat; default: CPU torch and lmlib "
                             "from the chapter's repository)")
    grade = sub.add_parser("grade", help="grade a folder of submitted notebooks, each in its own sandbox")
    grade.add_argument("folder")
    grade.add_argument("--chapter", required=True, help="the chapter whose exercises are graded (e.g. 2), or the chapter notebook handed out "
                            "(e.g. chapters/06c_question_answering.ipynb: the exercises in it)")
    grade.add_argument("-o", "--out", default="grading-results", help="results folder (default: grading-results)")
    grade.add_argument("--workers", type=int, default=None, help="submissions graded at once (default: CPUs, at most 4)")
    grade.add_argument("--timeout", type=float, default=300, help="seconds of wall time per notebook (default 300)")
    grade.add_argument("--cell-timeout", type=float, default=60, help="seconds per cell (default 60)")
    grade.add_argument("--memory-mb", type=int, default=4096, help="address space per process in MB (default 4096)")
    grade.add_argument("--roster", help="CSV with columns file,student: the student id for each submission")
    grade.add_argument("--unsafe-no-sandbox", action="store_true",
                       help="run submissions without bubblewrap, as yourself (only for trusted notebooks)")
    sub.add_parser("list", help="list the exercises, their kinds and points")
    args = parser.parse_args(argv)
    if args.command == "student":
        try:
            written = make_student_copy(args.src, args.dest)
        except (ValueError, FileNotFoundError) as err:
            parser.error(str(err))
        print(f"wrote {len(written)} student notebooks to {args.dest}")
        return 0
    if args.command == "export":
        from .grading.export import ExportError, export_chapter

        for notebook in args.notebooks:
            try:
                target = export_chapter(notebook, args.out, args.requirements)
            except ExportError as err:
                print(f"{notebook}: {err}", file=sys.stderr)
                return 1
            print(f"wrote {target}  (next: otter assign {target} dist/{target.parent.name})")
        return 0
    if args.command == "list":
        from ._core import exercise, exercise_ids

        for ex_id in exercise_ids(written=True):
            ex = exercise(ex_id)
            extra = "per-student variants" if ex.variants else ""
            print(f"{ex.id:5} {ex.kind:10} {ex.points:g} pt  {ex.answer or '(written)':22} {extra}")
        return 0
    return _grade(args, parser)


if __name__ == "__main__":
    raise SystemExit(main())
