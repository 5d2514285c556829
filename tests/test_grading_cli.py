"""The grading command's refusals: no sandbox without the explicit unsafe flag, results outside the class."""

import json

import nbformat
import pytest

from lmlib import exercises
from lmlib.exercises.grading import sandbox


def _class(tmp_path):
    subs = tmp_path / "subs"
    subs.mkdir()
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("answer_1_1 = 256\nanswer_1_2 = 12")]
    nbformat.write(nb, subs / "a.ipynb")
    return subs


def test_grading_refuses_without_a_sandbox(tmp_path, monkeypatch, capsys):
    subs = _class(tmp_path)
    monkeypatch.setattr(sandbox, "_PROBE", {"error": "bubblewrap (bwrap) is not installed"})
    assert exercises.main(["grade", str(subs), "--chapter", "1", "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "refusing to grade: no sandbox (bubblewrap (bwrap) is not installed)" in err
    assert "--unsafe-no-sandbox" in err and "apt-get install bubblewrap" in err
    assert not (tmp_path / "out").exists()


def test_the_unsafe_flag_grades_without_the_sandbox(tmp_path, monkeypatch, capsys):
    subs = _class(tmp_path)
    monkeypatch.setattr(sandbox, "_PROBE", {"error": "bubblewrap (bwrap) is not installed"})
    assert exercises.main(["grade", str(subs), "--chapter", "1", "-o", str(tmp_path / "out"),
                           "--unsafe-no-sandbox", "--workers", "1"]) == 0
    assert "WARNING: --unsafe-no-sandbox" in capsys.readouterr().err
    row = json.loads((tmp_path / "out" / "results.jsonl").read_text())
    assert (row["score"], row["possible"], row["graded"]) == (2, 2, True)


def test_results_stay_outside_the_submissions_and_the_chapter_must_exist(tmp_path):
    subs = _class(tmp_path)
    with pytest.raises(SystemExit):
        exercises.main(["grade", str(subs), "--chapter", "1", "-o", str(subs / "results")])
    with pytest.raises(SystemExit):
        exercises.main(["grade", str(subs), "--chapter", "42", "-o", str(tmp_path / "out")])
