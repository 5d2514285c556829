"""lmlib.metrics: each score on small cases worked out by hand, and clear errors."""

import math

import pytest

from lmlib import metrics as M


def test_accuracy_confusion_and_f1_by_hand():
    gold = ["a", "a", "b", "b", "c"]
    pred = ["a", "b", "b", "b", "a"]
    assert M.accuracy(pred, gold) == 3 / 5
    assert M.confusion_matrix(pred, gold, ["a", "b", "c"]) == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]
    f1 = M.per_class_f1(pred, gold, ["a", "b", "c"])
    assert f1["a"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    assert f1["b"]["precision"] == 2 / 3 and f1["b"]["recall"] == 1.0 and math.isclose(f1["b"]["f1"], 0.8)
    assert f1["c"]["f1"] == 0.0 and f1["c"]["support"] == 1
    assert math.isclose(M.macro_f1(pred, gold, ["a", "b", "c"]), (0.5 + 0.8 + 0.0) / 3)


def test_length_and_label_errors():
    with pytest.raises(ValueError, match="differ in length: 2 vs 1"):
        M.accuracy([1, 2], [1])
    with pytest.raises(ValueError, match="empty"):
        M.accuracy([], [])
    with pytest.raises(ValueError, match=r"labels \['z'\] are not in the label list"):
        M.confusion_matrix(["z"], ["a"], ["a"])


def test_bio_spans_follow_conlleval():
    tags = ["B-NAME", "I-NAME", "O", "I-OP", "B-OP", "B-OP", "I-NAME"]
    assert M.bio_spans(tags) == {(0, 2, "NAME"), (3, 4, "OP"), (4, 5, "OP"), (5, 6, "OP"), (6, 7, "NAME")}
    with pytest.raises(ValueError, match="tag 'X' at position 0 is not a BIO tag"):
        M.bio_spans(["X"])


def test_span_f1_counts_only_exact_spans():
    gold = [["B-NAME", "I-NAME", "O", "B-OP"]]
    pred = [["B-NAME", "O", "O", "B-OP"]]  # the name is cut short: a miss and a false positive
    scores = M.span_f1(pred, gold, ["NAME", "OP"])
    assert scores["OP"]["f1"] == 1.0
    assert scores["NAME"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert scores["micro"]["precision"] == 0.5 and scores["micro"]["recall"] == 0.5


def test_edit_distance_cer_and_exact_match():
    assert M.edit_distance("kitten", "sitting") == 3
    assert M.edit_distance("", "abc") == 3
    assert M.char_error_rate(["fourty", "ten"], ["forty", "ten"]) == 1 / 8
    assert M.exact_match(["a ", "b"], ["a", "c"]) == 0.5
    with pytest.raises(ValueError, match="references are all empty"):
        M.char_error_rate(["a"], [""])


def test_rouge_by_hand():
    ref = "Return a copy of the string."
    pred = "Return the string copy."
    # words: pred [return, the, string, copy], ref [return, a, copy, of, the, string]; 4 shared unigrams
    assert math.isclose(M.rouge_n(pred, ref, 1), 2 * 1.0 * (4 / 6) / (1.0 + 4 / 6))
    # bigrams shared: (the, string) only -> P = 1/3, R = 1/5
    assert math.isclose(M.rouge_n(pred, ref, 2), 2 * (1 / 3) * (1 / 5) / (1 / 3 + 1 / 5))
    # LCS: return, the, string (3) -> P = 3/4, R = 3/6
    assert math.isclose(M.rouge_l(pred, ref), 2 * 0.75 * 0.5 / 1.25)
    assert M.rouge_l("", ref) == 0.0
    both = M.rouge([pred, ref], [ref, ref])
    assert both["rouge1"] == pytest.approx((M.rouge_n(pred, ref) + 1.0) / 2)


def test_bootstrap_interval_is_seeded_and_brackets_the_mean():
    scores = [1] * 30 + [0] * 20
    lo, hi = M.bootstrap_interval(scores, seed=0)
    assert (lo, hi) == M.bootstrap_interval(scores, seed=0)
    assert lo < 0.6 < hi and 0.4 < lo and hi < 0.8
    assert M.bootstrap_interval([1, 1, 1]) == (1.0, 1.0)
    with pytest.raises(ValueError, match="no scores"):
        M.bootstrap_interval([])
