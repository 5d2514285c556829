"""Checks for chapter 6: application scenarios (notebooks 06a-06e, two exercises each)."""

from __future__ import annotations

import math
from typing import Any

from ._core import Unanswered, _grade, _number, register

EX_6_1 = (["email", "email", "email", "http", "http", "xml"], ["email", "http", "email", "http", "xml", "xml"])
EX_6_3 = ("fourty-two thousand", "forty-two thousand")
EX_6_5_DOCS = ("the loop runs the suite", "the suite of the loop", "an else clause ends the loop")
EX_6_5_QUERY = "loop suite"
EX_6_7 = ("Return the list of lines.", "Return a list of the lines in the string.")
EX_6_9_HISTORY = (("user", "Hi"),)


@register("6.1", kind="number", answer="answer_6_1", points=1, solution=lambda p: "(0.8 + 0.5 + 2 / 3) / 3")
def _macro_f1(answer: Any) -> tuple[bool, str]:
    from ..metrics import accuracy, macro_f1

    gold, pred = EX_6_1
    labels = sorted(set(gold))
    truth = macro_f1(pred, gold, labels)
    value = _number(answer)
    per_class = [0.8, 0.5, 2 / 3]
    mistakes = [
        (accuracy(pred, gold), "that is the accuracy (4 of 6 right); macro-F1 averages the three packages' F1 scores."),
        (sum([1.0, 0.5, 0.5]) / 3, "that is the mean precision; F1 combines precision and recall: 2PR / (P + R)."),
        (sum([2 / 3, 0.5, 1.0]) / 3, "that is the mean recall; F1 combines precision and recall: 2PR / (P + R)."),
        ((0.8 * 3 + 0.5 * 2 + 2 / 3) / 6, "you weighted each package by its number of items (weighted F1); macro-F1 "
                                         "gives every package the same weight."),
    ]
    right = f"right: F1 is {per_class[0]:.2f} (email), {per_class[1]:.2f} (http), {per_class[2]:.2f} (xml); mean {truth:.3f}."
    return _grade(value, truth, 0.01, right, mistakes,
                  f"{value:g} is not it: for each package compute precision and recall, F1 = 2PR/(P+R), then average.")


def _base_model():
    from ..checkpoint import bundled, load

    return load(bundled("base"))


@register("6.2", kind="function", answer="last_features", points=2)
def _last_features(answer: Any) -> tuple[bool, str]:
    import torch

    from ..adapt import features

    if not callable(answer):
        return False, "pass your function itself (last_features), not its result."
    model, tok = _base_model()
    seqs = [tok.encode(t) for t in ("Return the value.", "Open a socket and listen on it for a long time.", "x")]
    got = answer(seqs)
    if got is None:
        raise Unanswered("last_features returns None: finish it so that it returns a tensor with one row per sequence.")
    got = torch.as_tensor(got, dtype=torch.float32)
    want = features(model, seqs, pool="last", progress=False)
    if got.shape != want.shape:
        return False, f"expected shape {tuple(want.shape)} (one row of n_embd numbers per sequence), got {tuple(got.shape)}."
    if torch.allclose(got, want, atol=1e-4):
        return True, "right: the final layer norm's output at each sequence's last token."
    if torch.allclose(got, features(model, seqs, pool="mean", progress=False), atol=1e-4):
        return False, "those are the mean features over all positions; take the row at the last position only."
    return False, "the rows differ from lmlib's: take adapt.hidden_states(model, ids)[0, -1] for each sequence (model in eval mode)."


@register("6.3", kind="number", answer="answer_6_3", points=1, solution=lambda p: "1 / 18")
def _char_error_rate(answer: Any) -> tuple[bool, str]:
    from ..metrics import char_error_rate, edit_distance

    pred, ref = EX_6_3
    truth = char_error_rate([pred], [ref])
    value = _number(answer)
    edits = edit_distance(pred, ref)
    mistakes = [
        (edits, f"{edits} is the number of edits; divide it by the reference's length ({len(ref)} characters)."),
        (edits / len(pred), "divide by the length of the reference, not of the prediction."),
        (1.0, "the whole output is not wrong: count the fewest single-character edits."),
    ]
    right = f"right: {edits} edit (delete the 'u') over {len(ref)} reference characters = {truth:.4f}."
    return _grade(value, truth, 1e-3, right, mistakes,
                  f"{value:g} is not it: count the fewest insertions, deletions and substitutions, divide by {len(ref)}.")


@register("6.4", kind="function", answer="words_to_number", points=2)
def _words_to_number(answer: Any) -> tuple[bool, str]:
    from ..taskdata import number_words

    if not callable(answer):
        return False, "pass your function itself (words_to_number), not its result."
    for n in (0, 7, 13, 20, 45, 100, 105, 999, 1000, 1010, 4071, 19019, 70000, 999999):
        words = number_words(n)
        got = answer(words)
        if got is None:
            raise Unanswered("words_to_number returns None: finish it so that it returns an int.")
        if got != n:
            return False, f"words_to_number({words!r}) returned {got!r}, expected {n}."
    return True, "right: every test number comes back from its words."


@register("6.5", kind="number", answer="answer_6_5", points=1,
          solution=lambda p: "retrieval.BM25(" + repr(list(EX_6_5_DOCS)) + ").scores(" + repr(EX_6_5_QUERY) + ")[1]")
def _bm25_by_hand(answer: Any) -> tuple[bool, str]:
    from ..retrieval import BM25

    bm = BM25(EX_6_5_DOCS)
    truth = bm.scores(EX_6_5_QUERY)[1]
    value = _number(answer)
    no_norm = BM25(EX_6_5_DOCS, b=0.0).scores(EX_6_5_QUERY)[1]
    mistakes = [
        (no_norm, "you left out the length normalisation: f (k1 + 1) / (f + k1 (1 - b + b |d| / avgdl)) "
                  "(without it, the second document scores the same as the first, which has the average length)."),
        (bm.scores(EX_6_5_QUERY)[2], "that is the third document's score; the question asks for the second."),
        (sum(bm.idf[t] for t in ("loop", "suite")), "that is only the sum of the idf weights; multiply each by its "
                                                      "saturated term-frequency factor."),
    ]
    right = f"right: {truth:.4f}; shorter than average, the second document scores higher than the first."
    return _grade(value, truth, 1e-3, right, mistakes,
                  f"{value:g} is not it: stopwords (the, of, an) are dropped; |d| = 2 terms, avgdl = 3; compute idf "
                  "= ln(1 + (N - n + 0.5)/(n + 0.5)) for each query term.")


@register("6.6", kind="function", answer="mean_reciprocal_rank", points=1)
def _mean_reciprocal_rank(answer: Any) -> tuple[bool, str]:
    if not callable(answer):
        return False, "pass your function itself (mean_reciprocal_rank), not its result."
    cases = [([[3, 1, 2], [0, 2, 1], [2, 0, 1]], [1, 0, 5], (1 / 2 + 1 + 0) / 3), ([[0]], [0], 1.0), ([[4, 3]], [3], 0.5)]
    for rankings, gold, want in cases:
        got = answer(rankings, gold)
        if got is None:
            raise Unanswered("mean_reciprocal_rank returns None: finish it so that it returns a number.")
        if not math.isclose(float(got), want, abs_tol=1e-9):
            hint = " (a gold item missing from its ranking counts 0)" if 5 in gold else ""
            return False, f"for rankings {rankings} and gold {gold} expected {want:.4f}, got {float(got):.4f}{hint}."
    return True, "right: the mean over queries of 1 / (position of the gold item, counting from 1), 0 if absent."


@register("6.7", kind="number", answer="answer_6_7", points=1, solution=lambda p: "2 * 1 * (5 / 9) / (1 + 5 / 9)")
def _rouge1_by_hand(answer: Any) -> tuple[bool, str]:
    from ..metrics import rouge_l, rouge_n

    pred, ref = EX_6_7
    truth = rouge_n(pred, ref, 1)
    value = _number(answer)
    mistakes = [
        (rouge_n(pred, ref, 2), "that is ROUGE-2 (pairs of words); the question asks for single words."),
        (rouge_l(pred, ref), "that is ROUGE-L (the longest common subsequence)."),
        (5 / 9, "that is the recall; ROUGE-1 F1 combines it with the precision 5/5."),
        (4 / 9, "a word counts as often as it occurs in both: 'the' is shared once, so 5 words are shared."),
    ]
    right = f"right: 5 shared words, precision 5/5, recall 5/9, F1 = {truth:.4f}."
    return _grade(value, truth, 1e-3, right, mistakes,
                  f"{value:g} is not it: lower-case both, split into words, count the overlap, F1 = 2PR/(P+R).")


@register("6.8", kind="function", answer="distinct_2", points=1)
def _distinct_2(answer: Any) -> tuple[bool, str]:
    if not callable(answer):
        return False, "pass your function itself (distinct_2), not its result."
    cases = [(["a b a b"], 2 / 3), (["a b c", "a b c"], 2 / 4), (["x"], 0.0), (["the cat sat", "a dog ran"], 1.0)]
    for texts, want in cases:
        got = answer(texts)
        if got is None:
            raise Unanswered("distinct_2 returns None: finish it so that it returns a number.")
        if not math.isclose(float(got), want, abs_tol=1e-9):
            return False, (f"for {texts} expected {want:.4f}, got {float(got):.4f} (distinct bigrams over all bigrams "
                           "of all texts; a text of one word has none; return 0 if there are none).")
    return True, "right: the share of word pairs that are new; repetitive text scores low."


@register("6.9", kind="number", answer="answer_6_9", points=1,
          solution=lambda p: "len('User: Hi\\n') + len('Bot: ')", brute_forceable=True)
def _prompt_length(answer: Any) -> tuple[bool, str]:
    from ..chat import ChatTemplate, Turn, prompt_for
    from ..tokenizers import ByteTokenizer

    ids = prompt_for([Turn(*t) for t in EX_6_9_HISTORY], ByteTokenizer(), ChatTemplate(), 256)
    truth = len(ids)
    value = _number(answer)
    if value == truth:
        return True, f"right: 'User: Hi' + newline is 9 bytes, then the assistant marker 'Bot: ' is 5: {truth}."
    if value == 9:
        return False, "the prompt ends with the assistant's marker 'Bot: ', so the model's continuation is the reply."
    if value == 8:
        return False, "each turn ends with the end marker, a newline; and the prompt ends with 'Bot: '."
    return False, f"{value:g} is not it: write the turn with its marker and end marker, then add the assistant marker."


@register("6.10", kind="function", answer="keep_latest", points=2)
def _trim_history(answer: Any) -> tuple[bool, str]:
    from ..chat import ChatTemplate, Turn, prompt_for
    from ..tokenizers import ByteTokenizer

    if not callable(answer):
        return False, "pass your function itself (keep_latest), not its result."
    tok, template = ByteTokenizer(), ChatTemplate()
    history = [Turn("user", "Hello"), Turn("assistant", "Hello! Ask me."), Turn("user", "What does len do?"),
               Turn("assistant", "Return the number of items."), Turn("user", "And max?")]
    for budget in (20, 40, 60, 200):
        want = prompt_for(history, tok, template, budget)
        kept = answer(history, budget)
        if kept is None:
            raise Unanswered("keep_latest returns None: finish it so that it returns the list of turns to keep.")
        text = "".join(template.turn(t.role, t.text) for t in kept) + template.assistant
        if tok.encode(text) != want:
            return False, (f"with a budget of {budget} bytes you kept {len(kept)} turns; keep the latest whole turns "
                           "whose bytes, plus the 5 of 'Bot: ', fit in the budget.")
    return True, "right: the latest whole turns that fit, as chat.prompt_for keeps them."
