"""Writing grading results: JSON lines, a CSV for the LMS, a feedback file per submission, a score table.

Rows are written the moment each submission is graded (flushed and synced), so a long class run can be
followed, and nothing already graded is lost if the run is interrupted.
"""

from __future__ import annotations

import csv
import json
import os
import re
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from .._core import Exercise

if TYPE_CHECKING:
    from .grade import SubmissionResult


def _safe_name(index: int, name: str) -> str:
    stem = re.sub(r"[^\w.-]+", "_", Path(name).stem, flags=re.UNICODE)[:80] or "submission"
    return f"{index:03d}-{stem}"


class ResultsWriter:
    """Writes each submission's row the moment it is graded: JSON lines, CSV, and a feedback file."""

    def __init__(self, out_dir: Path, exercises: list[Exercise]) -> None:
        self.out = Path(out_dir)
        (self.out / "feedback").mkdir(parents=True, exist_ok=True)
        self.exercises = exercises
        self.lock = threading.Lock()
        self.count = 0
        self.jsonl = open(self.out / "results.jsonl", "w", encoding="utf-8")
        self.csv_file = open(self.out / "grades.csv", "w", encoding="utf-8", newline="")
        self.csv = csv.writer(self.csv_file)
        header = ["file", "student"]
        for ex in exercises:
            header.append(f"{ex.id} ({ex.points:g}{', by hand' if ex.kind == 'written' else ''})")
        self.csv.writerow(header + ["total", "possible", "status", "notes"])
        self._flush()

    def _flush(self) -> None:
        for fh in (self.jsonl, self.csv_file):
            fh.flush()
            os.fsync(fh.fileno())

    def add(self, row: SubmissionResult) -> None:
        with self.lock:
            self.count += 1
            self.jsonl.write(json.dumps(row.to_json(), ensure_ascii=False) + "\n")
            by_id = {e.exercise: e for e in row.exercises}
            cells = [row.file, row.student or ""]
            for ex in self.exercises:
                e = by_id.get(ex.id)
                cells.append("" if e is None or e.status == "manual" else f"{e.points:g}")
            cells += [f"{row.score:g}", f"{row.possible:g}", "graded" if row.graded else "not graded", row.reason]
            self.csv.writerow(cells)
            self._flush()
            (self.out / "feedback" / f"{_safe_name(self.count, row.file)}.md").write_text(
                feedback_text(row), encoding="utf-8")

    def close(self) -> None:
        self.jsonl.close()
        self.csv_file.close()


def feedback_text(row: SubmissionResult) -> str:
    """A submission's feedback: score, each exercise's verdict and reason, failing cells, written answers."""
    lines = [f"# Feedback: {row.file}", ""]
    who = row.student or "none (the book's numbers)"
    lines += [f"Student id: {who} (from {row.id_source})", ""]
    if not row.graded:
        lines += [f"**Not graded**: {row.reason}", ""]
    lines += [f"Score: {row.score:g} / {row.possible:g} (written answers are graded by hand)", ""]
    if row.graded and row.reason:
        lines += [f"Note: {row.reason}", ""]
    lines += ["| exercise | points | result | why |", "|---|---|---|---|"]
    for e in row.exercises:
        pts = f"– / {e.max_points:g}" if e.status == "manual" else f"{e.points:g} / {e.max_points:g}"
        lines.append(f"| {e.exercise} | {pts} | {e.status} | {e.message.replace('|', '/')} |")
    if row.cells:
        lines += ["", "Cells that did not finish cleanly:", ""]
        for c in row.cells:
            lines.append(f"- code cell {c['cell']}: {c['status']}" + (f" ({c['error']})" if c.get("error") else ""))
    for ex_id, text in sorted(row.written.items()):
        lines += ["", f"## Written answer {ex_id}", "", text.strip() or "(empty)"]
    return "\n".join(lines) + "\n"


def table(rows: list[SubmissionResult], exercises: list[Exercise]) -> str:
    """A plain-text score table, one row per submission."""
    header = ["submission", "student", *[ex.id + ("*" if ex.kind == "written" else "") for ex in exercises],
              "score", "status"]
    lines = [header]
    for r in rows:
        by_id = {e.exercise: e for e in r.exercises}
        marks = []
        for ex in exercises:
            e = by_id.get(ex.id)
            marks.append("" if e is None else "hand" if e.status == "manual" else f"{e.points:g}/{e.max_points:g}")
        lines.append([r.file, r.student or "-", *marks, f"{r.score:g}/{r.possible:g}",
                      "graded" if r.graded else "NOT GRADED"])
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(header))]
    out = ["  ".join(str(c).ljust(w) for c, w in zip(line, widths)).rstrip() for line in lines]
    out.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(out)
