"""The Otter-Grader export of the book's chapters, checked on the chapters as they are, through Otter's own
``otter assign`` and ``otter run`` and through the sandboxed grader."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest
import yaml

from lmlib import exercises
from lmlib.exercises.grading import sandbox
from lmlib.exercises.grading.export import ExportError, export_chapter

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "chapters").glob("0[1-5]_*.ipynb"))
HAVE_OTTER = importlib.util.find_spec("otter") is not None and shutil.which("otter") is not None


def _config(cell) -> dict:
    return yaml.safe_load(cell.source.split("\n", 1)[1])


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    out = tmp_path_factory.mktemp("assignments")
    return {nb.name: export_chapter(nb, out) for nb in CHAPTERS}


def test_every_chapter_exports_one_question_per_exercise(exported):
    assert len(exported) == 5
    for chapter_nb, path in exported.items():
        nb = nbformat.read(path, as_version=4)
        chapter = nb.metadata["lmlib"]["chapter"]
        assert path.name == f"ch{int(chapter):02d}.ipynb"
        assignment = _config(nb.cells[0])
        assert nb.cells[0].source.startswith("# ASSIGNMENT CONFIG") and assignment["tests"]["ok_format"] is False
        questions = [_config(c) for c in nb.cells if c.cell_type == "raw" and c.source.startswith("# BEGIN QUESTION")]
        expected = exercises.chapter_exercises(chapter)
        assert [q["name"] for q in questions] == ["ex" + e.id.replace(".", "_") for e in expected]
        assert [q["points"] for q in questions] == [e.points for e in expected]
        assert [bool(q.get("manual")) for q in questions] == [e.kind == "written" for e in expected]
        tests = [c.source for c in nb.cells if c.cell_type == "code" and "BEGIN TEST CONFIG" in c.source]
        assert len(tests) == sum(e.kind != "written" for e in expected)
        assert all("hidden: true" in t and "grade_in_kernel" in t for t in tests)
        written = [c for c in nb.cells if c.metadata.get("lmlib", {}).get("written")]
        assert [c.metadata["lmlib"]["written"] for c in written] == [e.id for e in expected if e.kind == "written"]
        solutions = "\n".join(c.source for c in nb.cells if "# SOLUTION" in c.source or "# BEGIN SOLUTION" in c.source)
        for e in expected:
            if e.kind in ("number", "expression"):
                assert f"{e.answer} = " in solutions


def test_an_exercise_list_that_disagrees_with_lmlib_is_refused(tmp_path):
    nb = nbformat.read(CHAPTERS[0], as_version=4)
    nb.cells = [c for c in nb.cells if "1.2 How many tokens" not in c.source]
    broken = tmp_path / "01_background.ipynb"
    nbformat.write(nb, broken)
    with pytest.raises(ExportError, match=r"has exercises \['1.1', '1.3'\], lmlib registers \['1.1', '1.2', '1.3'\]"):
        export_chapter(broken, tmp_path / "out")


@pytest.fixture(scope="module")
def assigned(exported, tmp_path_factory):
    if not HAVE_OTTER:
        pytest.skip("otter-grader is not installed (pip install -e '.[test]' installs it)")
    dist = tmp_path_factory.mktemp("dist")
    for path in exported.values():
        done = subprocess.run(["otter", "assign", str(path), str(dist / path.stem)], capture_output=True, text=True,
                              timeout=600)
        assert done.returncode == 0, done.stdout + done.stderr
    return dist


def test_otter_assign_makes_student_notebooks_without_solutions(assigned):
    for chapter in range(1, 6):
        name = f"ch{chapter:02d}"
        student = nbformat.read(assigned / name / "student" / f"{name}.ipynb", as_version=4)
        text = json.dumps(student)
        assert "BEGIN SOLUTION" not in text and "grade_in_kernel" not in text  # no solution, no hidden test
        for e in exercises.chapter_exercises(chapter):
            if e.kind in ("number", "expression"):
                assert f"{e.answer} = ...\\n" in text or text.count(f"{e.answer} = ...") == 1
        for solution in ("16_480", "16480", "(yhat - y) * w * h * (1 - h) * x", "masked_fill"):
            assert solution not in text
        zips = list((assigned / name / "autograder").glob("*.zip"))
        assert len(zips) == 1
        with zipfile.ZipFile(zips[0]) as z:
            tests = [n for n in z.namelist() if n.startswith("tests/")]
            assert len(tests) == sum(e.kind != "written" for e in exercises.chapter_exercises(chapter))
            assert all("grade_in_kernel" in z.read(n).decode() for n in tests)


@pytest.mark.skipif(not HAVE_OTTER, reason="otter-grader is not installed")
def test_otter_run_scores_the_solutions_full_marks(assigned, tmp_path):
    name = "ch04"
    submission = tmp_path / "submission.ipynb"
    shutil.copy(assigned / name / "autograder" / f"{name}.ipynb", submission)
    autograder = next((assigned / name / "autograder").glob("*.zip"))
    env = {"PYTHONPATH": str(ROOT), "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(tmp_path)}
    done = subprocess.run(["otter", "run", "-a", str(autograder), "-o", str(tmp_path), str(submission)],
                          capture_output=True, text=True, timeout=600, cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    results = json.loads((tmp_path / "results.json").read_text())
    scores = {t["name"]: t["score"] for t in results["tests"] if t["name"].startswith("ex")}
    assert scores == {"ex4_1": 1.0, "ex4_2": 2.0, "ex4_3": 1.0, "ex4_4": 1.0}


@pytest.mark.parametrize("chapter", [3, 4])  # every kind: number, function (3), expression (4)
def test_the_sandboxed_grader_scores_solutions_full_and_blank_notebooks_zero(assigned, tmp_path, chapter):
    try:
        sandbox.probe()
    except sandbox.SandboxUnavailable as err:
        pytest.skip(f"bubblewrap sandbox unavailable here: {err}")
    name = f"ch{chapter:02d}"
    subs = tmp_path / "subs"
    subs.mkdir()
    shutil.copy(assigned / name / "autograder" / f"{name}.ipynb", subs / "solution.ipynb")
    shutil.copy(assigned / name / "student" / f"{name}.ipynb", subs / "blank.ipynb")
    status = exercises.main(["grade", str(subs), "--chapter", str(chapter), "-o", str(tmp_path / "out"),
                             "--workers", "2", "--timeout", "240"])
    assert status == 0
    rows = {r["file"]: r for r in map(json.loads, (tmp_path / "out" / "results.jsonl").read_text().splitlines())}
    auto = sum(e.points for e in exercises.chapter_exercises(chapter) if e.kind != "written")
    assert rows["solution.ipynb"]["score"] == auto, rows["solution.ipynb"]
    assert rows["blank.ipynb"]["score"] == 0
    assert {e["status"] for e in rows["blank.ipynb"]["exercises"]} <= {"unanswered", "manual"}


SECTIONED = sorted(p for p in (ROOT / "chapters").glob("*.ipynb") if p not in CHAPTERS and "{exercise}" in p.read_text())


@pytest.mark.parametrize("chapter_nb", SECTIONED, ids=[p.stem for p in SECTIONED])
def test_later_chapters_export_one_assignment_per_notebook(chapter_nb, tmp_path):
    from lmlib.exercises.grading.grade import assignment_exercises

    path = export_chapter(chapter_nb, tmp_path)
    nb = nbformat.read(path, as_version=4)
    expected = assignment_exercises(chapter_nb)
    chapter = expected[0].chapter
    whole = [e.id for e in exercises.chapter_exercises(chapter)] == [e.id for e in expected]
    prefix = chapter_nb.stem.split("_")[0]
    base = f"ch{int(chapter):02d}" if chapter.isdigit() else f"app{chapter}"  # appendices: appA
    assert path.stem == base + ("" if whole else prefix[-1]), path
    questions = [_config(c) for c in nb.cells if c.cell_type == "raw" and c.source.startswith("# BEGIN QUESTION")]
    assert [q["name"] for q in questions] == ["ex" + e.id.replace(".", "_") for e in expected]
    assert [bool(q.get("manual")) for q in questions] == [e.kind == "written" for e in expected]
    solutions = "\n".join(c.source for c in nb.cells if "# SOLUTION" in c.source or "# BEGIN SOLUTION" in c.source)
    for e in expected:
        if e.kind in ("number", "expression", "text"):
            assert f"{e.answer} = " in solutions
        if e.kind == "function":
            assert f"def {e.answer}(" in solutions


def test_a_section_notebook_is_graded_against_its_own_exercises():
    from lmlib.exercises.grading.grade import assignment_exercises

    assert [e.id for e in assignment_exercises(ROOT / "chapters" / "06c_question_answering.ipynb")] == ["6.5", "6.6"]
    assert [e.id for e in assignment_exercises("2")] == [e.id for e in exercises.chapter_exercises(2)]
    with pytest.raises(ValueError, match="cannot read the chapter notebook"):
        assignment_exercises(ROOT / "chapters" / "no_such_notebook.ipynb")
