"""Reading a chapter's exercises from its notebook: prompts, answer cells and solutions.

The book marks exercises with MyST directives, which is all the exporter relies on:

* a Markdown cell opening with ```` ```{exercise} N.k Title ```` (any fence length, ``:label: ex-N-k``; in an
  appendix the chapter is its letter: ``A.k``, ``ex-A-k``);
* the code cells that follow it, up to its solution, are its answer cells (none: a written exercise);
* a Markdown cell with ```` ```{solution} ex-N-k ```` holds the solution (for code exercises, a fenced
  ``python`` block with the function);
* optionally, a Markdown cell whose metadata is ``{"lmlib": {"written": "N.k"}}`` is the student's
  answer cell of a written exercise.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

_EXERCISE = re.compile(r"^(?P<fence>`{3,}|:{3,})\{exercise\}\s+(?P<id>(?:\d+|[A-Z])\.\d+)\s*(?P<title>.*)$")
_SOLUTION = re.compile(r"^(?P<fence>`{3,}|:{3,})\{solution\}\s+ex-(?P<id>(?:\d+|[A-Z])-\d+)\s*$")
_OPTION = re.compile(r"^:[\w-]+:.*$")
_ROLE = re.compile(r"\{(?P<role>[\w:-]+)\}`(?P<body>[^`]*)`")
_PY_BLOCK = re.compile(r"^(`{3,})(?:python|py|\{code-cell\}\s*python)?\s*\n(?P<code>.*?)^\1\s*$", re.M | re.S)


@dataclass
class ChapterExercise:
    """One exercise as a chapter notebook states it."""

    id: str
    title: str
    prompt: str  # Markdown, the directive's body with MyST roles made plain
    prompt_cell: int
    answer_cells: list[int] = field(default_factory=list)
    solution_cell: int | None = None
    solution: str = ""  # Markdown, plain
    written_cell: int | None = None  # a Markdown answer cell marked for this exercise, if any

    @property
    def written(self) -> bool:
        return not self.answer_cells


def plain_markdown(text: str) -> str:
    """MyST roles made plain Markdown: {term}`x` -> x, {ref}`text <label>` -> text; citations dropped."""

    def role(m: re.Match) -> str:
        name, body = m.group("role"), m.group("body")
        if name in ("cite", "footcite", "cite:p", "cite:t", "footcite:p", "footcite:t", "numref"):
            return ""
        inner = re.match(r"^(?P<text>.*?)\s*<[^>]*>$", body, re.S)
        text = inner.group("text") if inner else body
        return f"`{text}`" if name in ("code", "command", "file") else text

    return _ROLE.sub(role, text)


def _directive_body(source: str) -> tuple[str, str]:
    """(first line after the fence's directive name, body) of a single fenced MyST directive cell."""
    lines = source.strip().splitlines()
    first = lines[0]
    fence = re.match(r"^(`{3,}|:{3,})", first).group(1)
    body = lines[1:]
    if body and body[-1].strip() == fence:
        body = body[:-1]
    while body and (_OPTION.match(body[0].strip()) or not body[0].strip()):
        body = body[1:]
    return first, "\n".join(body).strip()


def solution_code(markdown: str) -> str:
    """The first fenced Python block of a solution, or ''."""
    m = _PY_BLOCK.search(markdown)
    return m.group("code").rstrip() + "\n" if m else ""


def find_exercises(nb: Any) -> list[ChapterExercise]:
    """The exercises of a chapter notebook, in order, with their answer and solution cells."""
    found: list[ChapterExercise] = []
    current: ChapterExercise | None = None
    for index, cell in enumerate(nb.cells):
        source = cell.source if isinstance(cell.source, str) else "".join(cell.source)
        first = source.strip().splitlines()[0] if source.strip() else ""
        if cell.cell_type == "markdown":
            written = cell.get("metadata", {}).get("lmlib", {}).get("written")
            m = _EXERCISE.match(first)
            s = _SOLUTION.match(first)
            if m:
                _, body = _directive_body(source)
                current = ChapterExercise(m.group("id"), m.group("title").strip(), plain_markdown(body), index)
                found.append(current)
            elif s and current is not None and s.group("id") == current.id.replace(".", "-"):
                _, body = _directive_body(source)
                current.solution_cell, current.solution = index, plain_markdown(body)
                current = None
            elif written and current is not None and written == current.id:
                current.written_cell = index
            elif first.startswith("#"):
                current = None
        elif cell.cell_type == "code" and current is not None:
            current.answer_cells.append(index)
    return found
