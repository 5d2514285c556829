"""Checks of chapter 6's exercises: the truth comes from lmlib, and typical mistakes get specific feedback."""

import torch

from lmlib import adapt, checkpoint, exercises, metrics, taskdata
from lmlib.exercises import ch6



def keep_latest(history, max_tokens):
    """Exercise 6.10 solved: the latest whole turns that fit with the assistant marker's 5 bytes."""
    from lmlib.chat import ChatTemplate

    t, used, kept = ChatTemplate(), 5, []
    for turn in reversed(history):
        size = len(t.turn(turn.role, turn.text).encode())
        if used + size > max_tokens:
            break
        kept.insert(0, turn)
        used += size
    return kept

def test_6_1_macro_f1():
    gold, pred = ch6.EX_6_1
    truth = metrics.macro_f1(pred, gold, ["email", "http", "xml"])
    assert abs(truth - 0.6556) < 1e-3 and exercises.check("6.1", truth).passed
    assert "accuracy" in exercises.check("6.1", 4 / 6).message
    assert "weighted" in exercises.check("6.1", (0.8 * 3 + 0.5 * 2 + 2 / 3) / 6).message


def test_6_2_last_features():
    model, tok = checkpoint.load(checkpoint.bundled("base"))

    def right(ids_list):
        with torch.no_grad():
            return torch.stack([adapt.hidden_states(model, torch.tensor([ids]))[0, -1] for ids in ids_list])

    assert exercises.check("6.2", right).passed
    assert "mean features" in exercises.check("6.2", lambda s: adapt.features(model, s, progress=False)).message
    assert exercises.check("6.2", lambda s: None).status == "unanswered"
    assert "returns None" in exercises.check("6.2", lambda s: None).message


def test_6_3_and_6_7_numbers():
    assert exercises.check("6.3", 1 / 18).passed
    assert "number of edits" in exercises.check("6.3", 1).message
    assert exercises.check("6.7", 2 * (5 / 9) / (1 + 5 / 9)).passed
    assert "ROUGE-L" in exercises.check("6.7", metrics.rouge_l(*ch6.EX_6_7)).message


def test_6_4_words_to_number():
    table = {taskdata.number_words(n): n for n in (0, 7, 13, 20, 45, 100, 105, 999, 1000, 1010, 4071, 19019, 70000, 999999)}
    assert exercises.check("6.4", table.get).passed
    assert "expected 7" in exercises.check("6.4", lambda w: 0 if w == "zero" else 1).message


def test_6_5_and_6_6_retrieval():
    from lmlib.retrieval import BM25

    bm = BM25(ch6.EX_6_5_DOCS)
    assert exercises.check("6.5", bm.scores(ch6.EX_6_5_QUERY)[1]).passed
    assert "length normalisation" in exercises.check("6.5", BM25(ch6.EX_6_5_DOCS, b=0).scores("loop suite")[1]).message
    assert "third document" in exercises.check("6.5", bm.scores(ch6.EX_6_5_QUERY)[2]).message

    def mrr(rankings, gold):
        return sum(1 / (list(r).index(g) + 1) if g in r else 0 for r, g in zip(rankings, gold)) / len(gold)

    assert exercises.check("6.6", mrr).passed
    assert not exercises.check("6.6", lambda r, g: 1.0).passed


def test_6_8_to_6_10():
    def distinct(texts):
        pairs = [p for t in texts for w in [t.split()] for p in zip(w, w[1:])]
        return len(set(pairs)) / len(pairs) if pairs else 0.0

    assert exercises.check("6.8", distinct).passed
    assert not exercises.check("6.8", lambda t: 1.0).passed
    assert exercises.check("6.9", 14).passed and "assistant's marker" in exercises.check("6.9", 9).message

    assert exercises.check("6.10", keep_latest).passed
    assert not exercises.check("6.10", lambda h, n: h).passed
