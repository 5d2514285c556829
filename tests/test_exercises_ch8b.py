"""Exercises of chapter 8 part B (8.10-8.26) and Appendix A (A.1-A.4), and appendix ids in the registry."""

import io
import math
import tokenize

import nbformat
import pytest
import torch

from lmlib import exercises
from lmlib.exercises import _core
from lmlib.exercises.grading.notebooks import find_exercises

NUMERIC_TRUTHS = {
    "8.10": lambda p: 4 * (p["linear"] + p["other"]) / (p["linear"] + 4 * p["other"]),
    "8.13": lambda p: p["digits"] * math.log2(10) - math.log2(p["rank"]),
    "8.14": lambda p: 10 ** p["digits"] / 2 ** p["bits"],
    "8.16": lambda p: p["p"] ** (1 / p["t"]) / (p["p"] ** (1 / p["t"]) + (1 - p["p"]) ** (1 / p["t"])),
    "8.20": lambda p: max(p["counts"]) / sum(p["counts"]),
    "8.22": lambda p: (p["side"] // p["patch"]) ** 2,
    "8.23": lambda p: p["factor"] ** 4,
    "8.25": lambda p: 6 * p["params"] * p["tokens"] / 1e25,
    "A.1": lambda p: p["loss"] / math.log(2) / p["bytes_per_token"],
    "A.2": lambda p: 2 ** p["bpb"],
}


@pytest.mark.parametrize("ex_id", sorted(NUMERIC_TRUTHS))
@pytest.mark.parametrize("student", [None, "s1", "s2"])
def test_numeric_exercises_accept_their_truth_and_refuse_others(ex_id, student):
    params = exercises.params_for(ex_id, student)
    truth = NUMERIC_TRUTHS[ex_id](params)
    assert exercises.check(ex_id, truth, student=student).passed
    assert not exercises.check(ex_id, truth * 1.5 + 1, student=student).passed
    assert exercises.check(ex_id, ..., student=student).status == "unanswered"


def test_amplification_exercise_uses_the_direction():
    from lmlib import bias

    p = exercises.params_for("8.17", None)
    truth = bias.amplification(dict(enumerate(p["corpus"])), dict(enumerate(p["model"])))
    assert exercises.check("8.17", truth, student=None).passed
    plain = sum(m - c for c, m in zip(p["corpus"], p["model"])) / 3
    result = exercises.check("8.17", plain, student=None)
    assert not result.passed and "direction" in result.message


def test_typical_mistakes_get_specific_messages():
    assert "stay float32" in exercises.check("8.10", 4.0, student=None).message
    assert "natural logarithms" in exercises.check("8.13", 6 * math.log(10) - math.log(3), student=None).message
    assert "power 1/T" in exercises.check("8.16", 0.7**0.5 / (0.7**0.5 + 0.3**0.5), student=None).message
    assert "factor 6" in exercises.check("8.25", 70e9 * 15e12 / 1e25, student=None).message
    assert "divide by ln 2" in exercises.check("A.1", 3.2 / 4.2, student=None).message


def test_variants_differ_between_students():
    assert exercises.params_for("8.13", "alice") != exercises.params_for("8.13", "bob") or \
        exercises.params_for("8.22", "alice") != exercises.params_for("8.22", "bob")


def prune(w, amount):
    k = int(round(amount * w.numel()))
    w = w.clone()
    w[w.abs().argsort()[:k]] = 0.0
    return w


def in_string(source):
    labels = [0] * len(source)
    starts = [0]
    for line in source.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    for t in tokenize.generate_tokens(io.StringIO(source).readline):
        if t.type == tokenize.STRING:
            for i in range(starts[t.start[0] - 1] + t.start[1], starts[t.end[0] - 1] + t.end[1]):
                labels[i] = 1
    return labels


def dedup(lines):
    seen, out = set(), []
    for line in lines:
        if not line.strip() or line not in seen:
            out.append(line)
        seen.add(line)
    return out


@pytest.mark.parametrize("student", [None, "s7"])
def test_function_exercises(student):
    assert exercises.check("8.11", prune, student=student).passed
    assert exercises.check("8.19", in_string, student=student).passed
    assert exercises.check("A.3", dedup, student=student).passed


def test_function_exercises_explain_mistakes():
    def by_value(w, amount):
        k = int(round(amount * w.numel()))
        w = w.clone()
        w[w.argsort()[:k]] = 0.0
        return w

    assert "absolute value" in exercises.check("8.11", by_value, student=None).message
    assert exercises.check("8.11", lambda w, a: None, student=None).status == "unanswered"
    assert "quote marks" in exercises.check("8.19", lambda s: [0] * len(s), student=None).message
    assert "blank lines" in exercises.check("A.3", lambda lines: list(dict.fromkeys(lines)), student=None).message
    assert "pass your function" in exercises.check("A.3", [1, 2], student=None).message


def test_written_exercises_are_registered():
    for ex_id in ("8.12", "8.15", "8.18", "8.21", "8.24", "8.26", "A.4"):
        assert exercises.exercise(ex_id).kind == "written"


def test_appendix_ids_sort_after_chapters():
    ids = exercises.exercise_ids(written=True)
    assert ids.index("8.26") < ids.index("A.1") < ids.index("A.4")
    assert ids.index("8.9" if "8.9" in ids else "5.3") < ids.index("8.10")
    assert [e.id for e in exercises.chapter_exercises("A")] == ["A.1", "A.2", "A.3", "A.4"]
    assert exercises.exercise("A.1").chapter == "A"
    assert _core.chapter_key("A") > _core.chapter_key("99") and _core.chapter_key("B") > _core.chapter_key("A")


@pytest.mark.parametrize("bad", ["A1", "a.1", "AB.1", "8.x", "8"])
def test_malformed_ids_are_refused(bad):
    with pytest.raises(ValueError):
        _core._sort_key(bad)


def test_unknown_chapter_lists_appendices():
    with pytest.raises(ValueError, match="'A'"):
        exercises.chapter_exercises("Z")


def test_notebook_reader_finds_appendix_exercises():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("```{exercise} A.1 Bits per byte\n:label: ex-A-1\n\nCompute it.\n```"),
                nbformat.v4.new_code_cell('answer_A_1 = ...\ncheck("A.1", answer_A_1)'),
                nbformat.v4.new_markdown_cell("```{solution} ex-A-1\n:class: dropdown\n\nIt is 1.1.\n```")]
    found = find_exercises(nb)
    assert [(e.id, e.answer_cells, e.solution_cell) for e in found] == [("A.1", [1], 2)]
