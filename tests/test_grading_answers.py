"""Answers as data: what the kernel records, and how the grader rebuilds it without trusting it."""

import json
import math

import pytest
import sympy as sp
import torch

from lmlib import exercises
from lmlib.exercises.grading import answers, grade
from lmlib.exercises.grading.answers import AnswerError, decode, parse_expression, record


def _roundtrip(exercise_id, env, student=None):
    rec = json.loads(json.dumps(record(exercise_id, env, student)))
    ex = exercises.exercise(exercise_id)
    return grade.score_exercise(ex, rec, student, "not run")


def test_numbers_expressions_and_functions_survive_the_trip():
    assert _roundtrip("1.1", {"answer_1_1": 256}).status == "right"
    assert _roundtrip("1.1", {"answer_1_1": torch.tensor(256.0)}).status == "right"
    assert _roundtrip("1.1", {"answer_1_1": 8}).status == "wrong"
    z = sp.Symbol("z", real=True)
    assert _roundtrip("4.1", {"answer_4_1": sp.exp(z) / (1 + sp.exp(z))}).status == "right"
    assert _roundtrip("4.1", {"answer_4_1": "exp(z)/(1 + exp(z))"}).status == "right"
    yhat, y, w, h, x = sp.symbols("yhat y w h x")
    assert _roundtrip("4.2", {"answer_4_2": (yhat - y) * w * h * (1 - h) * x}).points == 2

    def windows(ids, seq_len):
        n = (len(ids) - 1) // seq_len
        return ([ids[i * seq_len:(i + 1) * seq_len] for i in range(n)],
                torch.tensor([ids[i * seq_len + 1:(i + 1) * seq_len + 1] for i in range(n)]))

    assert _roundtrip("5.1", {"make_windows": windows}, student="alice").status == "right"
    broken = _roundtrip("5.1", {"make_windows": lambda ids, n: 1 / 0})
    assert broken.status == "wrong" and "ZeroDivisionError" in broken.message
    stub = _roundtrip("3.2", {"my_next_token_probs": lambda logits, t, k: None})
    assert stub.status == "unanswered"


def test_missing_unanswered_and_unreadable_answers_score_zero_with_a_reason():
    missing = _roundtrip("1.2", {})
    assert (missing.status, missing.points) == ("missing", 0) and "answer_1_2" in missing.message
    assert _roundtrip("1.2", {"answer_1_2": ...}).status == "unanswered"
    text = _roundtrip("1.2", {"answer_1_2": "twelve"})
    assert text.status == "error" and "expected a number" in text.message
    assert _roundtrip("3.2", {"my_next_token_probs": 0.5}).status == "error"
    never = grade.score_exercise(exercises.exercise("1.1"), None, None, "the kernel died in code cell 2")
    assert never.status == "not run" and "kernel died" in never.message


@pytest.mark.parametrize("text", [
    "__import__('os').system('true')", "z.__class__", "exp(z).func", "open('/etc/passwd')", "lambda: 1",
    "[z for z in ()]", "z if z else z", "exp(z, evaluate=False)", "10**10**10", "(2**64)**64**64", "1e999",
    "unknown_name * z", "z" + "+z" * 500, "'a' * 10",
])
def test_the_expression_parser_allows_only_arithmetic(text):
    with pytest.raises(AnswerError):
        parse_expression(text, {"z": sp.Symbol("z")})


def test_records_that_claim_a_verdict_are_not_answers():
    ex = exercises.exercise("1.1")
    for rec in ({"status": "right"}, {"status": "value", "passed": True}, {"status": "value", "float": "abc"},
                {"status": "value", "int": "9" * 30}, "passed", None, []):
        assert grade.score_exercise(ex, rec, None, "not run").points == 0
    with pytest.raises(AnswerError):
        decode("5.1", "function", {"status": "value", "calls": [{"no args": 1}]})
    with pytest.raises(AnswerError):
        decode("1.3", "written", {"status": "value"})


def test_a_replayed_function_answers_only_the_inputs_it_ran_on():
    replay = answers.Replay([{"args": answers._encode_value([[1, 2, 3], 2]), "result": {"__tuple__": [[[1, 2]], [[2, 3]]]}}])
    assert replay([1, 2, 3], 2) == ([[1, 2]], [[2, 3]])
    with pytest.raises(RuntimeError, match="did not run on the check's inputs"):
        replay([1, 2, 3], 1)
    assert math.isnan(answers._decode_value({"__float__": "nan"}))
    with pytest.raises(AnswerError):
        answers._decode_value({"__float__": "1e3"})
