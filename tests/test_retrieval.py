"""lmlib.retrieval: BM25 by hand, dense ranking, the question set built from the manual and docstrings."""

import math

import pytest
import torch

from lmlib import retrieval


def test_bm25_matches_the_formula_by_hand():
    docs = ["the loop runs the suite", "the suite of the loop", "an else clause ends the loop"]
    bm = retrieval.BM25(docs)
    idf_loop, idf_suite = math.log(1 + 0.5 / 3.5), math.log(1 + 1.5 / 2.5)
    assert bm.idf["loop"] == pytest.approx(idf_loop) and bm.idf["suite"] == pytest.approx(idf_suite)
    # document 1 has the average length (3 terms): each matching term contributes exactly its idf
    assert bm.scores("loop suite")[0] == pytest.approx(idf_loop + idf_suite)
    # document 2 is shorter (2 terms): K = 1.5 (1 - 0.75 + 0.75 * 2/3) = 1.125
    assert bm.scores("loop suite")[1] == pytest.approx((idf_loop + idf_suite) * 2.5 / 2.125)
    assert bm.rank("loop suite") == [1, 0, 2] and bm.rank("else", 1) == [2]
    assert bm.scores("the of an") == [0.0, 0.0, 0.0]  # stopwords only


def test_bm25_and_ranking_errors():
    with pytest.raises(ValueError, match="at least one document"):
        retrieval.BM25([])
    with pytest.raises(ValueError, match="0 <= b <= 1"):
        retrieval.BM25(["a"], b=2)
    with pytest.raises(ValueError, match=r"need \(Q, D\) queries"):
        retrieval.dense_ranking(torch.zeros(2, 3), torch.zeros(4, 5))
    with pytest.raises(ValueError, match="one ranking per gold answer"):
        retrieval.top_k_accuracy([[0]], [0, 1], 1)


def test_dense_ranking_and_top_k():
    docs = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    queries = torch.tensor([[2.0, 0.1], [0.0, 3.0]])
    ranking = retrieval.dense_ranking(queries, docs)
    assert ranking == [[0, 2, 1], [1, 2, 0]]
    assert retrieval.top_k_accuracy(ranking, [2, 1], 1) == 0.5
    assert retrieval.top_k_accuracy(ranking, [2, 1], 2) == 1.0


def test_questions_come_from_docstrings_and_answers_from_the_manual():
    passages = retrieval.manual_passages()
    keys = {p.key for p in passages}
    assert "str.strip" in keys and len(passages) > 200
    questions = retrieval.method_questions("str")
    strip = next(q for q in questions if q.answer == "str.strip")
    assert strip.text.startswith("Return a copy of the string") and "strip" not in strip.text
    assert all(q.answer in keys for q in questions) and len(questions) > 35
    entry = next(p for p in passages if p.key == "str.strip")
    assert retrieval.answer_from(entry) == "str.strip"
    assert retrieval.answer_from(retrieval.Passage("x", "The while statement")) == ""
    with pytest.raises(ValueError, match="built-in type"):
        retrieval.method_questions("nothing")
