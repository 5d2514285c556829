import json
import math

import nbformat
import pytest

from lmlib import exercises, models


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

    assert "shift by one" in exercises.check("5.1", no_shift).message
    assert exercises.check("5.1", right).passed
    broken = exercises.check("5.1", lambda ids, n: 1 / 0)
    assert not broken.passed and "ZeroDivisionError" in broken.message


def test_placeholder_and_unknown_exercise():
    assert "replace the ..." in exercises.check("1.1", ...).message
    with pytest.raises(ValueError, match="no exercise '9.9'"):
        exercises.check("9.9", 1)


def test_result_displays_with_a_machine_readable_record():
    bundle, metadata = exercises.check("1.1", 256)._repr_mimebundle_()
    assert metadata[exercises.METADATA_KEY] == {"exercise": "1.1", "passed": True}
    assert set(bundle) == {"text/plain", "text/html"}
    assert bundle["text/plain"].startswith("✔ Exercise 1.1")


def _notebook(answer: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        nbformat.v4.new_markdown_cell("```{exercise}\nWhat is the perplexity?\n```"),
        nbformat.v4.new_code_cell(f"from lmlib.exercises import check\ncheck('1.1', {answer})"),
        nbformat.v4.new_markdown_cell("```{solution}\n256\n```"),
        nbformat.v4.new_code_cell("answer = 256", metadata={"tags": ["solution"]}),
    ]
    return nb


def test_student_copy_drops_solutions(tmp_path):
    src = tmp_path / "chapters"
    src.mkdir()
    nbformat.write(_notebook("..."), src / "ch.ipynb")
    exercises.make_student_copy(src, tmp_path / "student")
    copy = nbformat.read(tmp_path / "student" / "ch.ipynb", as_version=4)
    assert len(copy.cells) == 2
    assert all("solution" not in "".join(c.source) for c in copy.cells)


def test_grade_folder_runs_notebooks_and_scores(tmp_path, capsys):
    subs = tmp_path / "subs"
    subs.mkdir()
    nbformat.write(_notebook("256"), subs / "alice.ipynb")
    nbformat.write(_notebook("5.545"), subs / "bob.ipynb")
    assert exercises.main(["grade", str(subs), "--json", str(tmp_path / "scores.json")]) == 0
    table = capsys.readouterr().out
    assert "alice.ipynb  ✔    1/1" in table
    assert "bob.ipynb    ✘    0/1" in table
    rows = json.loads((tmp_path / "scores.json").read_text())
    assert [r["passed"] for r in rows] == [1, 0]
