"""The exercise machinery: checks, display states, variants, the try limit, student copies."""

import math

import nbformat
import pytest

from lmlib import exercises, models
from lmlib.exercises import _core


@pytest.fixture(autouse=True)
def _fresh_state():
    exercises.set_student(None)
    _core._WRONG.clear()
    _core._LOCKED_UNTIL.clear()
    yield
    exercises.set_student(None)
    _core._WRONG.clear()
    _core._LOCKED_UNTIL.clear()


def test_numeric_checks_give_specific_feedback():
    assert exercises.check("1.1", 256).passed
    assert "exp(loss)" in exercises.check("1.1", math.log(256)).message
    assert "bits" in exercises.check("1.1", 8).message
    assert exercises.check("1.2", 12).passed
    assert "number of characters" in exercises.check("1.2", 4).message


def test_parameter_count_check_names_what_is_missing():
    model = models.RNNLM(models.RNNConfig(vocab_size=256, embedding_dim=64, hidden_dim=128, cell="gru"))
    truth = models.count_parameters(model)
    assert truth == exercises._rnn_parameters("gru", 256, 64, 128)
    assert exercises.check("5.2", truth).passed
    assert "biases" in exercises.check("5.2", truth - 6 * 128).message
    assert "embedding" in exercises.check("5.2", truth - 256 * 64).message
    assert "plain RNN" in exercises.check("5.2", exercises._rnn_parameters("rnn", 256, 64, 128)).message


def test_code_check_explains_off_by_one():
    def no_shift(ids, seq_len):
        n = (len(ids) - 1) // seq_len
        x = [ids[i * seq_len:(i + 1) * seq_len] for i in range(n)]
        return x, x

    def right(ids, seq_len):
        n = (len(ids) - 1) // seq_len
        return ([ids[i * seq_len:(i + 1) * seq_len] for i in range(n)],
                [ids[i * seq_len + 1:(i + 1) * seq_len + 1] for i in range(n)])

    def overlapping(ids, seq_len):
        n = (len(ids) - 1) // seq_len
        return [ids[i:i + seq_len] for i in range(n)], [ids[i + 1:i + seq_len + 1] for i in range(n)]

    assert "shift by one" in exercises.check("5.1", no_shift).message
    assert exercises.check("5.1", right).passed
    assert "overlap" in exercises.check("5.1", overlapping).message
    broken = exercises.check("5.1", lambda ids, n: 1 / 0)
    assert not broken.passed and "ZeroDivisionError" in broken.message
    # the student's own variant adds hidden cases: the same right function passes them too
    assert exercises.check("5.1", right, student="alice").passed


def test_placeholder_reads_as_not_answered_yet_not_as_a_failure():
    result = exercises.check("1.1", ...)
    assert result.status == "unanswered" and not result.passed
    text = result._repr_mimebundle_()[0]["text/plain"]
    assert text.startswith("○ Exercise 1.1, not answered yet") and "✘" not in text
    stub = exercises.check("3.2", lambda logits, t, k: None)  # the chapter's stub function body `...`
    assert stub.status == "unanswered" and "returns None" in stub.message
    assert "not answered yet" in stub._repr_mimebundle_()[0]["text/plain"]
    html = stub._repr_mimebundle_()[0]["text/html"]
    assert "lmlib-check-unanswered" in html and "#cf222e" not in html  # no red on the static page
    with pytest.raises(ValueError, match="no exercise '9.9'"):
        exercises.check("9.9", 1)
    with pytest.raises(ValueError, match="written answer"):
        exercises.check("1.3", "because")


def test_result_displays_with_a_record():
    bundle, metadata = exercises.check("1.1", 256)._repr_mimebundle_()
    assert metadata[exercises.METADATA_KEY] == {"exercise": "1.1", "passed": True, "status": "right"}
    assert set(bundle) == {"text/plain", "text/html"}
    assert bundle["text/plain"].startswith("✔ Exercise 1.1")
    wrong = exercises.check("1.1", 3)._repr_mimebundle_()[0]["text/plain"]
    assert wrong.startswith("✘ Exercise 1.1")


def test_every_chapter_has_a_fixed_list_with_points():
    assert [e.id for e in exercises.chapter_exercises(1)] == ["1.1", "1.2", "1.3"]
    assert [e.kind for e in exercises.chapter_exercises(4)] == ["expression", "expression", "number", "number", "written"]
    assert all(e.points > 0 for c in range(1, 6) for e in exercises.chapter_exercises(c))
    with pytest.raises(ValueError, match="chapter '42' has no exercises"):
        exercises.chapter_exercises("42")


def test_variants_depend_on_the_student_and_are_stable():
    assert exercises.params_for("2.2", None) == {"s": 0.1, "n": 8}
    students = [f"s{i}" for i in range(30)]
    variants = {str(exercises.params_for("2.2", s)) for s in students}
    assert len(variants) > 10  # copying a neighbour's number rarely works
    assert exercises.params_for("2.2", "alice") == exercises.params_for("2.2", " alice ")
    exercises.set_student("alice")
    p = exercises.params_for("2.2")
    truth = 1 / (p["s"] + (1 - p["s"]) / p["n"])
    assert exercises.check("2.2", truth).passed
    assert exercises.check("2.2", truth, student=None).passed == math.isclose(truth, 1 / (0.1 + 0.9 / 8), rel_tol=0.005)
    assert str(p["n"]) in exercises.show_exercise("2.2")._repr_mimebundle_()["text/plain"]


def _namespace():
    import sympy as sp

    from lmlib import growth, retrieval, symbolic, tokenizers

    return {"math": math, "models": models, "tokenizers": tokenizers, "symbolic": symbolic, "growth": growth,
            "retrieval": retrieval,
            "sp": sp, "z": sp.Symbol("z"), **{n: sp.Symbol(n) for n in ("yhat", "y", "w", "h", "x")}}


@pytest.mark.parametrize("exercise_id", [e for e in exercises.exercise_ids() if exercises.exercise(e).solution])
def test_solution_code_passes_the_check_for_every_variant(exercise_id):
    ex = exercises.exercise(exercise_id)
    for student in [None, "alice", "bob", "s1", "s2", "s3"]:
        answer = eval(ex.solution(ex.params(student)), _namespace())  # noqa: S307 - lmlib's own solution code
        passed, message, _ = exercises.grade_answer(exercise_id, answer, student)
        assert passed, (exercise_id, student, message)


def _forms(value):
    forms = {f"{value:g}", f"{value:,}", f"{value:.2f}", f"{value:.3f}", f"{value:.4f}", repr(value)}
    if value == int(value):
        forms |= {str(int(value)), f"{int(value):,}"}
    return {f for f in forms if len(f.replace(",", "").replace(".", "").lstrip("0")) >= 2}


@pytest.mark.parametrize("exercise_id", [e for e in exercises.exercise_ids()
                                         if exercises.exercise(e).kind == "number"])
def test_wrong_answer_messages_do_not_give_the_value_away(exercise_id):
    ex = exercises.exercise(exercise_id)
    for student in [None, "alice", "bob", "carol"]:
        truth = eval(ex.solution(ex.params(student)), _namespace())  # noqa: S307
        truth = float(truth)
        wrong = [truth + 1, truth - 1, truth * 1.5, truth / 3, 0.5, 2.0, 7.0, 123.0, -4.0, 1e6]
        for value in wrong:
            passed, message, _ = exercises.grade_answer(exercise_id, value, student)
            if passed:
                continue
            leaked = [f for f in _forms(truth) if f in message and f not in f"{value:g} {value!r}"]
            assert not leaked, (exercise_id, student, value, message)


def test_yes_no_checks_slow_down_guessing(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(_core.time, "monotonic", lambda: now[0])
    results = [exercises.check("3.3", n) for n in range(1000, 1000 + _core.FREE_TRIES + 3)]
    assert all(not r.passed for r in results)
    assert sum("answers again in" in r.message for r in results) == 2  # the 10th and 11th were not checked
    locked = exercises.check("3.3", 16_480)  # the right answer, but the check is locked for a while now
    assert not locked.passed and "answers again in 2 s" in locked.message
    now[0] += 2.5
    assert exercises.check("3.3", 16_480).passed
    for n in range(2000, 2004):  # each new wrong answer doubles the wait: guessing 16,480 values takes years
        now[0] += 3600
        exercises.check("3.3", n)
    assert "answers again in 32 s" in exercises.check("3.3", 1).message
    exercises.set_student("someone-else")
    assert exercises.check("3.3", 12345).status == "wrong"  # the limit is per exercise and student
    # the grader has no limit: it checks each answer once
    assert exercises.grade_answer("3.3", 16_480)[0]


def _notebook(answer: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        nbformat.v4.new_markdown_cell("```{exercise} 1.1 Perplexity\n:label: ex-1-1\n\nWhat is the perplexity?\n```"),
        nbformat.v4.new_code_cell(f"from lmlib.exercises import check\nanswer_1_1 = {answer}\ncheck('1.1', answer_1_1)",
                                  outputs=[nbformat.v4.new_output("stream", text="old output")]),
        nbformat.v4.new_markdown_cell("```{solution} ex-1-1\n256\n```"),
        nbformat.v4.new_markdown_cell("```{exercise} 1.3 Greedy\n:label: ex-1-3\n\nWhy does it loop?\n```"),
        nbformat.v4.new_markdown_cell("```{solution} ex-1-3\nBecause.\n```"),
        nbformat.v4.new_code_cell("answer = 256", metadata={"tags": ["solution"]}),
    ]
    return nb


def test_student_copy_drops_solutions_clears_answers_and_adds_written_cells(tmp_path):
    src = tmp_path / "chapters"
    src.mkdir()
    nbformat.write(_notebook("..."), src / "ch.ipynb")
    exercises.make_student_copy(src, tmp_path / "student")
    copy = nbformat.read(tmp_path / "student" / "ch.ipynb", as_version=4)
    assert all("solution" not in "".join(c.source) for c in copy.cells)
    assert copy.cells[1].outputs == []
    written = [c for c in copy.cells if c.metadata.get("lmlib", {}).get("written") == "1.3"]
    assert len(written) == 1 and copy.cells.index(written[0]) == 3  # right after the exercise


def test_student_copy_refuses_to_overwrite_or_nest_in_the_source(tmp_path):
    src = tmp_path / "chapters"
    src.mkdir()
    nbformat.write(_notebook("256"), src / "ch.ipynb")
    before = (src / "ch.ipynb").read_bytes()
    with pytest.raises(ValueError, match="inside it"):
        exercises.make_student_copy(src, src)
    with pytest.raises(ValueError, match="inside it"):
        exercises.make_student_copy(src, src / "student")
    with pytest.raises(ValueError, match="overwrite the source"):
        exercises.make_student_copy(src / "ch.ipynb", src)
    assert (src / "ch.ipynb").read_bytes() == before  # the teacher's solutions are intact
    assert sorted(p.name for p in src.rglob("*")) == ["ch.ipynb"]  # nothing nested
    with pytest.raises(SystemExit):
        exercises.main(["student", str(src), str(src)])
    # a destination beside the source is fine, and a single notebook can be copied
    exercises.make_student_copy(src / "ch.ipynb", tmp_path / "one")
    assert (tmp_path / "one" / "ch.ipynb").exists()
