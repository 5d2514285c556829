"""Export a chapter's exercises as an Otter-Grader assignment (a source notebook for ``otter assign``).

``python -m lmlib.exercises export chapters/02_core_concepts.ipynb -o assignments/`` writes
``assignments/ch02/ch02.ipynb`` in Otter's notebook format: an assignment config, then one question per
exercise with its points. An answered exercise keeps the chapter's answer cell (with its ``check`` call
for instant feedback), its solution inside Otter's solution markers, and a hidden test that calls lmlib's
check on the student's variable. A written exercise becomes a manually graded question with an answer
cell. ``otter assign`` then makes the student notebook and the autograder (Gradescope, ``otter grade``);
``python -m lmlib.exercises grade`` grades the same notebooks in a sandbox.

Nothing here needs Otter installed: the notebook is plain nbformat.
"""

from __future__ import annotations

import ast
import re
import textwrap
from pathlib import Path
from typing import Any

from .._core import Exercise, chapter_exercises, exercise
from .notebooks import ChapterExercise, find_exercises, solution_code

PRESENTATION_MODULES = ("IPython.display", "ipywidgets", "plotly", "inspect", "importlib", "subprocess", "pathlib",
                        "html", "textwrap", "os")


class ExportError(ValueError):
    """A chapter whose exercises do not match lmlib's registry, or cannot be exported."""


def _question_name(exercise_id: str) -> str:
    return "ex" + exercise_id.replace(".", "_")


def _raw(text: str) -> Any:
    import nbformat

    return nbformat.v4.new_raw_cell(text)


def _chapter_imports(nb: Any) -> list[str]:
    """The chapter's top-level imports that exercises may rely on (presentation-only ones left out)."""
    seen: list[str] = []
    for cell in nb.cells[1:]:
        if cell.cell_type != "code":
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                module = node.module if isinstance(node, ast.ImportFrom) else node.names[0].name
                if module and module.startswith(PRESENTATION_MODULES):
                    continue
                if module == "lmlib.exercises":
                    continue
                line = ast.unparse(node)
                if line not in seen:
                    seen.append(line)
    return seen


_SECTION = re.compile(r"^\d+(?P<letter>[a-z])_")  # 06c_question_answering: section c of chapter 6


def _setup_cell(nb: Any) -> str:
    first = next((c for c in nb.cells if c.cell_type == "code"), None)
    if first is None or "lmlib" not in first.source:
        raise ExportError("the chapter's first code cell is not its set-up cell (it does not mention lmlib)")
    return first.source


def _repository(setup: str) -> str | None:
    m = re.search(r'^REPOSITORY\s*=\s*"([^"]+)"', setup, re.M)
    return m.group(1) if m and m.group(1).startswith("https://") else None


def _numbered_answer_cell(source: str, ex: Exercise) -> str:
    """The answer cell with the placeholder line replaced by the solution, marked ``# SOLUTION``."""
    pattern = re.compile(rf"^(?P<indent>\s*){re.escape(ex.answer)}\s*=\s*\.\.\.\s*(?:#\s*(?P<comment>.*))?$", re.M)
    m = pattern.search(source)
    if m is None:
        raise ExportError(f"exercise {ex.id}: its answer cell has no line `{ex.answer} = ...`")
    if ex.solution is None:
        raise ExportError(f"exercise {ex.id}: lmlib has no solution code for it")
    indent, comment = m.group("indent"), m.group("comment")
    new = (f"{indent}# {comment}\n" if comment else "") + f"{indent}{ex.answer} = {ex.solution(ex.params(None))}  # SOLUTION"
    return source[: m.start()] + new + source[m.end():]


def _function_answer_cell(source: str, ex: Exercise, solution_md: str) -> str:
    """The answer cell with the function's stub body replaced by the solution's, between solution markers."""
    code = solution_code(solution_md)
    if not code:
        raise ExportError(f"exercise {ex.id}: its solution has no Python block with {ex.answer}")
    tree = ast.parse(code)
    fn = next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == ex.answer), None)
    if fn is None:
        raise ExportError(f"exercise {ex.id}: its solution does not define {ex.answer}")
    lines = code.splitlines()
    body = textwrap.dedent("\n".join(lines[fn.body[0].lineno - 1: fn.end_lineno]))
    stub = re.compile(r"^(?P<indent>\s+)\.\.\.\s*(?:#\s*(?P<comment>.*))?$", re.M)
    m = stub.search(source)
    if m is None or f"def {ex.answer}(" not in source[: m.start()]:
        raise ExportError(f"exercise {ex.id}: its answer cell has no stub `def {ex.answer}(...): ...`")
    indent, comment = m.group("indent"), m.group("comment")
    new = (f"{indent}# {comment}\n" if comment else "") + f"{indent}# BEGIN SOLUTION\n"
    new += textwrap.indent(body, indent) + f"\n{indent}# END SOLUTION"
    return source[: m.start()] + new + source[m.end():]


def _hidden_test(ex: Exercise) -> str:
    fn = f"test_{_question_name(ex.id)}"
    return (f'""" # BEGIN TEST CONFIG\nhidden: true\nfailure_message: "see the check\'s message for exercise {ex.id}"\n'
            f'""" # END TEST CONFIG\n'
            f"def {fn}(env):\n"
            f"    from lmlib.exercises import grade_in_kernel\n"
            f"    passed, message = grade_in_kernel({ex.id!r}, env)\n"
            f"    assert passed, message\n\n"
            f"{fn}(globals())")


def _prompt(chapter_ex: ChapterExercise, ex: Exercise) -> str:
    text = f"### Exercise {ex.id}: {chapter_ex.title}\n\n{chapter_ex.prompt}\n\n*Points: {ex.points:g}*"
    if ex.describe is not None:
        text += ("\n\n*Your own numbers may differ from the ones above: the next cell shows those for your student "
                 "id (set at the top of this notebook).*")
    if ex.kind == "written":
        text += "\n\n*A written answer: your teacher grades it by hand.*"
    return text


def export_chapter(chapter_nb: str | Path, out_dir: str | Path, requirements: list[str] | None = None) -> Path:
    """Write chapter ``chapter_nb``'s exercises as an Otter source notebook under ``out_dir``; return its path."""
    import nbformat

    chapter_nb = Path(chapter_nb)
    nb = nbformat.read(chapter_nb, as_version=4)
    found = find_exercises(nb)
    if not found:
        raise ExportError(f"{chapter_nb.name} has no exercises")
    chapter = found[0].id.split(".")[0]
    registered = chapter_exercises(chapter)
    ids_nb, ids_lib = [f.id for f in found], [e.id for e in registered]
    section = _SECTION.match(chapter_nb.stem)
    in_order = [i for i in ids_lib if i in ids_nb] == ids_nb and set(ids_nb) <= set(ids_lib)
    if ids_nb != ids_lib and not (section and in_order):
        raise ExportError(f"{chapter_nb.name} has exercises {ids_nb}, lmlib registers {ids_lib} for chapter {chapter}")
    setup = _setup_cell(nb)
    # a chapter in one notebook is one assignment (ch02, appA); a chapter in sections, one per section (ch06c)
    name = (f"ch{int(chapter):02d}" if chapter.isdigit() else f"app{chapter}") + (
        section.group("letter") if ids_nb != ids_lib else "")
    if requirements is None:
        repo = _repository(setup)
        requirements = ["--extra-index-url https://download.pytorch.org/whl/cpu", "torch>=2.1"]
        requirements += [f"lmlib @ git+{repo}"] if repo else []
    title = next((c.source.strip().splitlines()[0].lstrip("# ").strip() for c in nb.cells
                  if c.cell_type == "markdown" and c.source.lstrip().startswith("# ")), f"Chapter {chapter}")
    config = {
        "name": name, "init_cell": False, "check_all_cell": False, "export_cell": False, "run_tests": False,
        "solutions_pdf": False, "template_pdf": False, "python_version": "3.11",
        "tests": {"ok_format": False, "files": False}, "generate": {"show_stdout": False, "show_hidden": False},
        "requirements": requirements,
    }
    import yaml

    cells = [_raw("# ASSIGNMENT CONFIG\n" + yaml.safe_dump(config, sort_keys=False))]
    cells.append(nbformat.v4.new_markdown_cell(
        f"# Exercises: {title}\n\nThe exercises of chapter {chapter} of *LLMs on the CPU's Path*. If your teacher gave "
        "you a student id, put it in the first code cell below: some exercises then use your own numbers. Answer each "
        "exercise in its cell and run it: `check(...)` tells you at once what is right or wrong in an answer. Before "
        "you hand the notebook in, restart the kernel and run every cell from the top: the grader runs your notebook "
        "again from a clean state, in the same order, and checks each answer itself."))
    cells.append(nbformat.v4.new_code_cell(setup))
    imports = _chapter_imports(nb) + ["from lmlib.exercises import check, set_student, show_exercise"]
    cells.append(nbformat.v4.new_code_cell("\n".join(imports)))
    cells.append(nbformat.v4.new_code_cell(
        'STUDENT_ID = None  # your student id as a string, e.g. "s1234567", if your teacher gave you one\n'
        "set_student(STUDENT_ID)"))
    for chapter_ex in found:
        ex = exercise(chapter_ex.id)
        if chapter_ex.written != (ex.kind == "written"):
            raise ExportError(f"exercise {ex.id}: the chapter gives it {'no ' if chapter_ex.written else ''}answer cell, "
                              f"lmlib registers it as {ex.kind}")
        q = {"name": _question_name(ex.id), "points": ex.points}
        if ex.kind == "written":
            q["manual"] = True
        else:
            q["check_cell"] = False
        cells.append(_raw("# BEGIN QUESTION\n" + yaml.safe_dump(q, sort_keys=False)))
        cells.append(nbformat.v4.new_markdown_cell(_prompt(chapter_ex, ex)))
        if ex.describe is not None:
            cells.append(nbformat.v4.new_code_cell(f"show_exercise({ex.id!r})"))
        if ex.kind == "written":
            answer = nbformat.v4.new_markdown_cell("*Your answer (replace this text):*")
            answer.metadata["lmlib"] = {"written": ex.id}
            cells += [_raw("# BEGIN PROMPT"), answer, _raw("# END PROMPT"), _raw("# BEGIN SOLUTION"),
                      nbformat.v4.new_markdown_cell(chapter_ex.solution or "(no solution given)"), _raw("# END SOLUTION")]
        else:
            cells.append(_raw("# BEGIN SOLUTION"))
            for i, index in enumerate(chapter_ex.answer_cells):
                source = nb.cells[index].source
                if i == 0 and ex.kind == "function":
                    source = _function_answer_cell(source, ex, chapter_ex.solution)
                elif i == 0:
                    source = _numbered_answer_cell(source, ex)
                source = "\n".join(line for line in source.splitlines() if line.strip() != "from lmlib.exercises import check")
                cells.append(nbformat.v4.new_code_cell(source.strip("\n")))
            cells += [_raw("# END SOLUTION"), _raw("# BEGIN TESTS"), nbformat.v4.new_code_cell(_hidden_test(ex)),
                      _raw("# END TESTS")]
        cells.append(_raw("# END QUESTION"))
    out = nbformat.v4.new_notebook()
    out.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    out.metadata["lmlib"] = {"chapter": chapter, "source": chapter_nb.name}
    out.cells = cells
    target = Path(out_dir) / name / f"{name}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(out, target)
    return target
