"""Chapters 6, 7 and Appendix B's answers survive the grader's path: recorded in the kernel as data, rebuilt
outside it, and checked there with the same verdict as in the notebook."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from lmlib import exercises
from lmlib.exercises.grading import answers
from test_exercises_ch6 import keep_latest  # exercise 6.10 solved


def _through_the_grader(exercise_id: str, value) -> tuple[bool, str, str]:
    """Record ``value`` as the kernel would, send it as JSON, rebuild it and grade it as the grader does."""
    ex = exercises.exercise(exercise_id)
    record = json.loads(json.dumps(answers.record(exercise_id, {ex.answer: value})))
    assert record["status"] == "value", record
    return exercises.grade_answer(exercise_id, answers.decode(exercise_id, ex.kind, record))


def _same_verdict(exercise_id: str, value) -> bool:
    in_kernel = exercises.grade_answer(exercise_id, value)
    replayed = _through_the_grader(exercise_id, value)
    assert replayed[0] == in_kernel[0] and replayed[2] == in_kernel[2], (in_kernel, replayed)
    return replayed[0]


_SMALL = {w: i for i, w in enumerate("zero one two three four five six seven eight nine ten eleven twelve thirteen "
                                     "fourteen fifteen sixteen seventeen eighteen nineteen".split())}
_TENS = {w: 10 * i for i, w in enumerate("_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()) if i > 1}


def words_to_number(text):
    total = current = 0
    for word in text.replace("-", " ").split():
        if word in _SMALL:
            current += _SMALL[word]
        elif word in _TENS:
            current += _TENS[word]
        elif word == "hundred":
            current *= 100
        elif word == "thousand":
            total, current = (total + current) * 1000, 0
    return total + current


def mean_reciprocal_rank(rankings, gold):
    return sum(1 / (list(r).index(g) + 1) if g in r else 0.0 for r, g in zip(rankings, gold)) / len(gold)


def distinct_2(texts):
    pairs = [p for t in texts for p in zip(t.split(), t.split()[1:])]
    return len(set(pairs)) / len(pairs) if pairs else 0.0


def my_loss(logits, targets):
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1))


def check_batch(x, y):
    if x.shape != y.shape or not torch.equal(x[:, 1:], y[:, :-1]):
        raise ValueError("y is not x shifted by one position")


def my_matmul_share(rows):
    return sum(t for n, t in rows if n in {"aten::mm", "aten::addmm", "aten::bmm"}) / sum(t for _, t in rows)


def best_step(log_dir):
    from lmlib import tensorboard_log

    return min(tensorboard_log.read_scalars(log_dir)["loss/val"], key=lambda point: point[1])[0]


RIGHT_AND_WRONG = {
    "6.4": (words_to_number, lambda text: len(text)),
    "6.6": (mean_reciprocal_rank, lambda rankings, gold: 1.0),
    "6.8": (distinct_2, lambda texts: 1.0),
    "6.10": (keep_latest, lambda history, max_tokens: list(history)),
    "7.1": (my_loss, lambda logits, targets: F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1),
                                                             reduction="sum")),
    "7.2": (check_batch, lambda x, y: None if x.shape == y.shape else 1 / 0),
    "7.4": (my_matmul_share, lambda rows: 0.5),
    "7.7": (best_step, lambda log_dir: 30),
}


@pytest.mark.parametrize("exercise_id", sorted(RIGHT_AND_WRONG))
def test_function_answers_get_the_same_verdict_when_replayed(exercise_id):
    right, wrong = RIGHT_AND_WRONG[exercise_id]
    assert _same_verdict(exercise_id, right)
    assert not _same_verdict(exercise_id, wrong)


def test_a_stub_reads_as_not_answered_in_the_kernel_and_in_the_grader():
    for exercise_id, stub in [("6.8", lambda texts: None), ("7.2", lambda x, y: None), ("7.7", lambda d: None)]:
        assert exercises.grade_answer(exercise_id, stub)[2] == "unanswered"
        assert _through_the_grader(exercise_id, stub)[2] == "unanswered"


def test_the_replayed_error_keeps_the_students_exception_class():
    def raises_type_error(x, y):
        if not torch.equal(x[:, 1:], y[:, :-1]):
            raise TypeError("wrong batch")

    _, message, _ = _through_the_grader("7.2", raises_type_error)
    assert "raise ValueError, not TypeError" in message


def test_features_of_the_base_model_replay():
    from lmlib import adapt
    from lmlib.checkpoint import bundled, load

    model, _ = load(bundled("base"))
    assert _same_verdict("6.2", lambda ids_list: adapt.features(model, ids_list, pool="last", progress=False))
    assert not _same_verdict("6.2", lambda ids_list: adapt.features(model, ids_list, pool="mean", progress=False))


def test_jax_arrays_travel_as_values():
    jax = pytest.importorskip("jax")
    jnp = jax.numpy

    def jax_cross_entropy(logits, targets):
        logp = jax.nn.log_softmax(logits, axis=-1)
        return -jnp.take_along_axis(logp, targets[..., None], axis=-1).mean()

    assert _same_verdict("7.9", jax_cross_entropy)
    assert not _same_verdict("7.9", lambda logits, targets: -jax_cross_entropy(logits, targets))


def test_a_bibtex_entry_is_graded_as_text():
    from lmlib.exercises.ch10 import SOLUTION_10_1

    assert _same_verdict("10.1", SOLUTION_10_1)
    assert not _same_verdict("10.1", SOLUTION_10_1.replace("Communication Efficiency", "Data Privacy"))
    record = answers.record("10.1", {"entry_10_1": 42})
    assert record["status"] == "error" and "expected a string" in record["message"]
    with pytest.raises(answers.AnswerError, match="too long"):
        answers.decode("10.1", "text", {"status": "value", "text": "x" * (answers.MAX_TEXT_CHARS + 1)})
