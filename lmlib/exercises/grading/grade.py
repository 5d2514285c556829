"""Grading a folder of submissions: each in its own sandbox, in parallel, results written as they arrive.

For every notebook in the folder the grader, in its own process:

1. reads the file (size-capped) and keeps only the sources of its code cells: every stored output is
   dropped, so nothing a notebook displays can count;
2. runs those cells in a fresh sandbox (``sandbox``) with ``runner``, which then reads each exercise's
   answer from the kernel as data;
3. rebuilds each answer from that data (``answers.decode``: no eval) and scores it with lmlib's own check
   for the student's variant, against the chapter's fixed list of exercises and points.

A missing, unanswered, failing or timed-out exercise scores 0 and says why; a file that is not a notebook
is its own row. Rows go to ``results.jsonl`` and ``grades.csv`` the moment each submission finishes, with
a feedback file per submission (written answers included, for grading by hand): see ``report``.
"""

from __future__ import annotations

import ast
import json
import os
import queue
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from .._core import Exercise, chapter_exercises, exercise, grade_answer
from . import answers as answer_data
from .report import ResultsWriter, feedback_text, table  # noqa: F401  (re-exported for callers)
from .runner import RESULT_MARKER
from .sandbox import Limits, RunOutcome, run_sandboxed

MAX_NOTEBOOK_BYTES = 20 * 1024**2
MAX_CELLS = 2000
VERDICT_SECONDS = 30.0


@dataclass
class ExerciseResult:
    exercise: str
    points: float
    max_points: float
    status: str  # right, wrong, unanswered, missing, error, timeout, not run, manual
    message: str


@dataclass
class SubmissionResult:
    file: str
    student: str | None
    id_source: str
    graded: bool
    reason: str
    exercises: list[ExerciseResult] = field(default_factory=list)
    written: dict[str, str] = field(default_factory=dict)
    cells: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def score(self) -> float:
        return sum(e.points for e in self.exercises)

    @property
    def possible(self) -> float:
        return sum(e.max_points for e in self.exercises if e.status != "manual")

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(score=self.score, possible=self.possible)
        return data


class BadSubmission(ValueError):
    """A file that cannot be graded as a notebook."""


# ---- Reading a submission (outside the sandbox; the file is untrusted data) ----------------------------

def _source(cell: dict[str, Any]) -> str:
    src = cell.get("source", "")
    if isinstance(src, list) and all(isinstance(s, str) for s in src):
        return "".join(src)
    if isinstance(src, str):
        return src
    raise BadSubmission("a cell's source is neither text nor a list of lines")


def read_submission(path: Path) -> dict[str, Any]:
    """The code cells, written answers and declared student id of the notebook at ``path``."""
    try:
        size = path.stat().st_size
    except OSError as err:
        raise BadSubmission(f"cannot read the file: {err.strerror}") from None
    if size > MAX_NOTEBOOK_BYTES:
        raise BadSubmission(f"the file is {size / 1e6:.0f} MB, larger than the {MAX_NOTEBOOK_BYTES // 1024**2} MB allowed")
    raw = path.read_bytes()
    try:
        nb = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise BadSubmission("not a notebook: the file is not UTF-8 text") from None
    except json.JSONDecodeError as err:
        raise BadSubmission(f"not a notebook: invalid JSON at line {err.lineno}, column {err.colno} "
                            "(truncated or damaged file?)") from None
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        if isinstance(nb, dict) and isinstance(nb.get("worksheets"), list):
            raise BadSubmission("an nbformat 3 notebook: open and save it in a current Jupyter first")
        raise BadSubmission("not a notebook: no list of cells")
    if len(nb["cells"]) > MAX_CELLS:
        raise BadSubmission(f"the notebook has more than {MAX_CELLS} cells")
    code, written, declared = [], {}, None
    for cell in nb["cells"]:
        if not isinstance(cell, dict):
            raise BadSubmission("not a notebook: a cell is not an object")
        kind = cell.get("cell_type")
        if kind == "code":
            text = _source(cell)
            code.append(text)
            declared = _declared_student(text) or declared
        elif kind == "markdown":
            meta = cell.get("metadata") if isinstance(cell.get("metadata"), dict) else {}
            lm = meta.get("lmlib") if isinstance(meta.get("lmlib"), dict) else {}
            if isinstance(lm.get("written"), str):
                written[lm["written"]] = _source(cell)[:20_000]
    return {"cells": code, "written": written, "declared_student": declared}


def _declared_student(source: str) -> str | None:
    """The id a notebook declares with ``STUDENT_ID = "..."`` (read from the code, never run)."""
    if "STUDENT_ID" not in source:
        return None
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError):
        return None
    found = None
    for node in tree.body:
        if (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
                and node.targets[0].id == "STUDENT_ID" and isinstance(node.value, ast.Constant)
                and isinstance(node.value.value, (str, int)) and not isinstance(node.value.value, bool)):
            text = str(node.value.value).strip()
            found = text[:200] if text else None
    return found


# ---- Scoring ------------------------------------------------------------------------------------------

def _with_timeout(fn: Callable[[], Any], seconds: float) -> Any:
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as err:  # noqa: BLE001
            box["error"] = err

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        raise TimeoutError(f"checking this answer took more than {seconds:g} s")
    if "error" in box:
        raise box["error"]
    return box["value"]


def score_exercise(ex: Exercise, record: Any, student: str | None, not_run: str) -> ExerciseResult:
    """Score one exercise from the kernel's record of its answer (``None``: never read, ``not_run`` says why)."""
    full = ex.points

    def result(status: str, message: str, points: float = 0.0) -> ExerciseResult:
        return ExerciseResult(ex.id, points, full, status, message)

    if not isinstance(record, dict):
        return result("not run", not_run or "the answer was not read")
    status = record.get("status")
    if status == "missing":
        return result("missing", f"no {ex.answer} in the notebook: its answer cell was deleted or renamed, or "
                                 "failed before the answer was assigned")
    if status == "unanswered":
        return result("unanswered", "not answered: the answer is still the placeholder ...")
    if status in ("timeout", "output", "died"):
        why = {"timeout": "ran past the cell time limit", "output": "printed more than the output limit",
               "died": "stopped the kernel"}[status]
        return result("timeout" if status != "died" else "error", f"reading the answer {why}")
    if status == "error":
        return result("error", f"the answer could not be read: {str(record.get('message', ''))[:300]}")
    if status != "value":
        return result("error", "the kernel sent a malformed answer record")
    try:
        answer = answer_data.decode(ex.id, ex.kind, record)
        passed, message, verdict = _with_timeout(lambda: grade_answer(ex.id, answer, student), VERDICT_SECONDS)
    except answer_data.AnswerError as err:
        return result("error", f"the answer could not be read: {err}")
    except TimeoutError as err:
        return result("timeout", str(err))
    if verdict == "unanswered":
        return result("unanswered", message)
    return result(verdict, message, full if passed else 0.0)


def _cell_summary(cells: Any) -> list[dict[str, Any]]:
    out = []
    for c in cells if isinstance(cells, list) else []:
        if isinstance(c, dict) and c.get("status") != "ok":
            out.append({"cell": c.get("cell"), "status": str(c.get("status"))[:20],
                        "error": str(c.get("error", ""))[:300]})
    return out[:50]


WRITTEN_PLACEHOLDER = "*Your answer (replace this text):*"


def not_run(exercises: list[Exercise], why: str) -> list[ExerciseResult]:
    """Every exercise at 0 points, with the reason none was read."""
    return [ExerciseResult(ex.id, 0.0, ex.points, "manual" if ex.kind == "written" else "not run",
                           "graded by hand" if ex.kind == "written" else why) for ex in exercises]


def parse_run(outcome: RunOutcome, limits: Limits) -> tuple[dict[str, Any] | None, str]:
    """The runner's result from a sandbox run, or None and why there is none."""
    line = None
    for candidate in outcome.stdout.splitlines():
        if candidate.startswith(RESULT_MARKER):
            line = candidate[len(RESULT_MARKER):]
    if outcome.timed_out:
        return None, f"the notebook ran past its {limits.wall_seconds:g} s wall-time limit and was stopped"
    if line is None:
        tail = outcome.stderr.strip().splitlines()[-1:] or [f"exit status {outcome.returncode}"]
        return None, f"the grader's runner ended without a result ({tail[0][:200]})"
    try:
        data = json.loads(line)
    except json.JSONDecodeError:
        return None, "the grader's runner sent a malformed result"
    if not isinstance(data, dict):
        return None, "the grader's runner sent a malformed result"
    if "error" in data:
        return None, f"the grader's runner failed: {str(data['error'])[:300]}"
    return data, ""


def _failing_cell(name: str, sources: list[str], failed: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The failed cell that most likely kept ``name`` from being assigned: one assigning it, else the last."""
    with_error = [c for c in failed if c.get("error")]
    assigns = re.compile(rf"(^|\n)\s*(def\s+)?{re.escape(name)}\b")
    for c in with_error:
        index = c.get("cell")
        if isinstance(index, int) and 0 < index <= len(sources) and assigns.search(sources[index - 1]):
            return c
    return with_error[-1] if with_error else None


def assignment_exercises(assignment: int | str) -> list[Exercise]:
    """The exercises graded for ``assignment``: a chapter number (all of its exercises) or a chapter notebook
    (the exercises in it, e.g. one section of a chapter split over several notebooks)."""
    if str(assignment).endswith(".ipynb"):
        import nbformat

        from .notebooks import find_exercises

        try:
            nb = nbformat.read(str(assignment), as_version=4)
        except (OSError, ValueError) as err:
            raise ValueError(f"cannot read the chapter notebook {assignment}: {err}") from None
        ids = [found.id for found in find_exercises(nb)]
        if not ids:
            raise ValueError(f"{assignment} has no exercises")
        return [exercise(i) for i in ids]
    return chapter_exercises(assignment)


def grade_one(path: Path, root: Path, chapter: str, limits: Limits, slot: int, roster: dict[str, str],
              unsafe: bool = False) -> SubmissionResult:
    """Grade the submission at ``path`` (relative names from ``root``) in sandbox slot ``slot``."""
    started = time.monotonic()
    name = str(path.relative_to(root))
    exercises = assignment_exercises(chapter)
    try:
        sub = read_submission(path)
    except BadSubmission as err:
        return SubmissionResult(name, roster.get(name), "roster" if name in roster else "none", False,
                                f"not graded: {err}", not_run(exercises, str(err)),
                                seconds=round(time.monotonic() - started, 2))
    if name in roster:
        student, source = roster[name], "roster"
    elif sub["declared_student"]:
        student, source = sub["declared_student"], "notebook"
    else:
        student, source = None, "none"
    job = {"cells": sub["cells"], "exercises": [e.id for e in exercises if e.kind != "written"],
           "student": student, "cell_timeout": limits.cell_timeout, "notebook_timeout": limits.notebook_timeout,
           "max_output_bytes": limits.output_bytes}
    outcome = run_sandboxed(json.dumps(job), slot, limits, unsafe=unsafe)
    data, problem = parse_run(outcome, limits)
    graded = data is not None or outcome.timed_out
    answers = data.get("answers", {}) if data else {}
    stopped = (data or {}).get("stopped") or problem
    results = []
    for ex in exercises:
        if ex.kind == "written":
            text = sub["written"].get(ex.id)
            if text is None:
                message = "graded by hand: no written answer cell found"
            elif not text.replace(WRITTEN_PLACEHOLDER, "").strip():
                message = "graded by hand: the answer cell is empty (still its placeholder)"
            else:
                message = "graded by hand: see the written answer"
            results.append(ExerciseResult(ex.id, 0.0, ex.points, "manual", message))
        else:
            record = answers.get(ex.id) if isinstance(answers, dict) else None
            scored = score_exercise(ex, record, student, stopped or "the answer was not read")
            if scored.status == "missing":
                failing = _failing_cell(ex.answer or "", sub["cells"], _cell_summary((data or {}).get("cells")))
                if failing:
                    scored.message += f" (code cell {failing['cell']} raised {failing['error'][:120]})"
            results.append(scored)
    reason = stopped if graded else f"not graded: {problem}"
    if source == "notebook" and roster:
        reason = (reason + "; " if reason else "") + "student id taken from the notebook (not in the roster)"
    return SubmissionResult(name, student, source, graded, reason or "", results, sub["written"],
                            _cell_summary((data or {}).get("cells")), round(time.monotonic() - started, 2))


def find_submissions(folder: Path) -> list[Path]:
    """Every ``.ipynb`` under ``folder`` (checkpoints and hidden folders skipped), in a stable order."""
    found = []
    for path in sorted(folder.rglob("*.ipynb")):
        rel = path.relative_to(folder).parts
        if any(part.startswith(".") for part in rel[:-1]) or ".ipynb_checkpoints" in rel or path.is_dir():
            continue
        found.append(path)
    return found


def grade_folder(folder: str | Path, chapter: int | str, out_dir: str | Path, limits: Limits | None = None,
                 workers: int | None = None, roster: dict[str, str] | None = None, unsafe: bool = False,
                 progress: Callable[[SubmissionResult], None] | None = None) -> list[SubmissionResult]:
    """Grade every notebook in ``folder`` against chapter ``chapter``'s exercises; results into ``out_dir``."""
    folder = Path(folder)
    exercises = assignment_exercises(chapter)
    paths = find_submissions(folder)
    cpus = os.cpu_count() or 1
    workers = max(1, workers or min(4, cpus))
    limits = limits or Limits(threads=max(1, cpus // workers))
    writer = ResultsWriter(Path(out_dir), exercises)
    slots: queue.Queue[int] = queue.Queue()
    for i in range(workers):
        slots.put(i)
    roster = roster or {}

    def task(path: Path) -> SubmissionResult:
        slot = slots.get()
        try:
            return grade_one(path, folder, str(chapter), limits, slot, roster, unsafe)
        except Exception as err:  # noqa: BLE001 - one submission's failure is its own row
            why = f"the grader failed on it ({type(err).__name__}: {err})"
            return SubmissionResult(str(path.relative_to(folder)), None, "none", False, f"not graded: {why}",
                                    not_run(exercises, why))
        finally:
            slots.put(slot)

    rows = []
    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for future in as_completed([pool.submit(task, p) for p in paths]):
                row = future.result()
                writer.add(row)
                rows.append(row)
                if progress:
                    progress(row)
    finally:
        writer.close()
    rows.sort(key=lambda r: r.file)
    return rows
