"""Exercises of chapter 8, part B (notebooks 8c-8h): compression, privacy, fairness, interpretability,
multimodality, law and ethics. Numbered 8.10 upward (part A's notebooks use 8.1-8.9, in ``ch8``)."""

from __future__ import annotations

import math
import random
from typing import Any

from ._core import Unanswered, _grade, _number, register, register_written

# ---- 8c compression ------------------------------------------------------------------------------------


def _int8_variant(rng: random.Random) -> dict[str, Any]:
    return {"linear": rng.choice((0.4, 0.8, 1.2, 2.5, 7.0, 13.0)) * 1e6, "other": rng.choice((0.05, 0.1, 0.3, 0.6)) * 1e6}


@register("8.10", answer="answer_8_10", points=1, book={"linear": 1.2e6, "other": 0.1e6}, variants=_int8_variant,
          describe=lambda p: (f"a model has {p['linear']:,.0f} parameters in Linear weight matrices and "
                              f"{p['other']:,.0f} elsewhere (embeddings, norms, biases)."),
          solution=lambda p: f"4 * ({p['linear']:g} + {p['other']:g}) / ({p['linear']:g} + 4 * {p['other']:g})")
def _int8_ratio(answer: Any, p: dict[str, Any]) -> tuple[bool, str]:
    n, e = p["linear"], p["other"]
    truth = 4 * (n + e) / (n + 4 * e)
    value = _number(answer)
    mistakes = [
        (4.0, "4 is the ratio for the Linear weights alone; the other parameters stay float32 (4 bytes each)."),
        (1 / truth, "you divided the wrong way round: the float32 size over the int8 size is above 1."),
        (2 * (n + e) / (n + 2 * e), "that is the ratio for 16-bit weights; int8 is 1 byte against float32's 4."),
        (4 * (n + e) / (n + e), "the other parameters are not quantised: they keep their 4 bytes."),
    ]
    right = f"right: 4(N + E) / (N + 4E) = {truth:.2f}; the parameters that stay float32 cap the gain below 4."
    return _grade(value, truth, 0.01, right, mistakes,
                  f"{value:g} is not it: count bytes: 4 per float32 parameter, 1 per int8 weight.")


def _prune_cases(rng: random.Random) -> dict[str, Any]:
    cases = [((0.5, -0.1, 0.3, -0.9, 0.05, 0.2), 0.5)]
    for _ in range(3):
        n = rng.randint(6, 20)
        values = tuple(round(rng.uniform(-1, 1), 3) for _ in range(n))
        cases.append((values, rng.choice((0.25, 0.5, 0.75))))
    return {"cases": tuple(cases)}


@register("8.11", kind="function", answer="prune", points=2,
          book={"cases": (((0.5, -0.1, 0.3, -0.9, 0.05, 0.2), 0.5), ((1.0, -2.0, 3.0, -4.0), 0.25))},
          variants=_prune_cases)
def _prune(answer: Any, p: dict[str, Any]) -> tuple[bool, str]:
    import torch

    if not callable(answer):
        return False, "pass your function itself (prune), not its result."
    for values, amount in p["cases"]:
        w = torch.tensor(values)
        got = answer(w.clone(), amount)
        if got is None:
            raise Unanswered("prune returns None: finish it so that it returns the pruned tensor.")
        got = torch.as_tensor(got, dtype=torch.float32)
        k = int(round(amount * w.numel()))
        order = w.abs().argsort()
        want = w.clone()
        want[order[:k]] = 0.0
        if got.shape != w.shape:
            return False, f"return a tensor of the same shape as w; yours has shape {tuple(got.shape)}."
        if torch.equal(got, want):
            continue
        zeros = int((got == 0).sum())
        if zeros != k:
            return False, f"with amount={amount} and {w.numel()} weights, exactly {k} should become 0; yours zeroes {zeros}."
        most_negative = w.clone()
        most_negative[w.argsort()[:k]] = 0.0
        if torch.equal(got, most_negative):
            return False, "you removed the most negative weights; magnitude pruning ranks by absolute value |w|."
        return False, "the zeroed weights are not the ones of smallest |w|, or the kept weights changed."
    return True, "right: the smallest weights by magnitude are zeroed and the others kept as they were."


register_written("8.12", points=2)

# ---- 8d privacy -----------------------------------------------------------------------------------------


def _exposure_variant(rng: random.Random) -> dict[str, Any]:
    digits = rng.choice((4, 5, 6, 8, 9))
    return {"digits": digits, "rank": rng.choice((1, 2, 3, 7, 12, 40, 150, 999))}


@register("8.13", answer="answer_8_13", points=1, book={"digits": 6, "rank": 3}, variants=_exposure_variant,
          describe=lambda p: (f"a {p['digits']}-digit canary's secret ranks {p['rank']} among all "
                              f"10^{p['digits']} candidates."),
          solution=lambda p: f"math.log2(10**{p['digits']}) - math.log2({p['rank']})")
def _exposure(answer: Any, p: dict[str, Any]) -> tuple[bool, str]:
    d, r = p["digits"], p["rank"]
    truth = d * math.log2(10) - math.log2(r)
    value = _number(answer)
    mistakes = [
        (d * math.log(10) - math.log(r), "you used natural logarithms; exposure is measured in bits (log2)."),
        (d - math.log10(r), "you used log10; exposure is measured in bits (log2)."),
        (d * math.log2(10), "that is the maximum exposure (rank 1); subtract log2 of the rank."),
        (math.log2(r), "that is log2(rank) alone; exposure is log2(number of candidates) minus it."),
        (d * math.log2(10) + math.log2(r), "subtract log2(rank), don't add it: a worse rank means less exposure."),
    ]
    right = f"right: log2(10^{d}) - log2({r}) = {truth:.2f} bits (the maximum is {d * math.log2(10):.2f})."
    return _grade(value, truth, 0.005, right, mistakes,
                  f"{value:g} is not it: exposure = log2(|R|) - log2(rank), with |R| the number of candidates.")


def _rank_variant(rng: random.Random) -> dict[str, Any]:
    return {"digits": rng.choice((5, 6, 7, 9)), "bits": rng.choice((4.0, 6.0, 8.0, 10.0, 12.0))}


@register("8.14", answer="answer_8_14", points=1, book={"digits": 6, "bits": 10.0}, variants=_rank_variant,
          describe=lambda p: f"a {p['digits']}-digit canary has an exposure of {p['bits']:g} bits.",
          solution=lambda p: f"10**{p['digits']} / 2**{p['bits']:g}")
def _rank_from_exposure(answer: Any, p: dict[str, Any]) -> tuple[bool, str]:
    d, b = p["digits"], p["bits"]
    truth = 10**d / 2**b
    value = _number(answer)
    mistakes = [
        (2**b, "that is 2^exposure; the rank is the number of candidates divided by it."),
        (10**d * 2**b, "divide by 2^exposure, don't multiply: more exposure means a better (smaller) rank."),
        (10**d / math.exp(b), "exposure is in bits: divide by 2^exposure, not e^exposure."),
    ]
    right = f"right: rank = 10^{d} / 2^{b:g} = {truth:,.1f}: the secret is among the top {truth / 10**d:.3%}."
    return _grade(value, truth, 0.01, right, mistakes,
                  f"{value:g} is not it: solve exposure = log2(10^{d}) - log2(rank) for the rank.")


register_written("8.15", points=2)

# ---- 8e fairness ----------------------------------------------------------------------------------------


def _temperature_variant(rng: random.Random) -> dict[str, Any]:
    return {"p": rng.choice((0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9)), "t": rng.choice((0.25, 0.4, 0.5, 0.7, 2.0))}


@register("8.16", answer="answer_8_16", points=1, book={"p": 0.7, "t": 0.5}, variants=_temperature_variant,
          describe=lambda p: (f"a model gives 'he' probability {p['p']} and 'she' {1 - p['p']:.2f} (treat each as one "
                              f"token); you sample at temperature {p['t']}."),
          solution=lambda p: f"{p['p']}**(1/{p['t']}) / ({p['p']}**(1/{p['t']}) + (1 - {p['p']})**(1/{p['t']}))")
def _tempered_share(answer: Any, p: dict[str, Any]) -> tuple[bool, str]:
    q, t = p["p"], p["t"]
    truth = q ** (1 / t) / (q ** (1 / t) + (1 - q) ** (1 / t))
    value = _number(answer)
    mistakes = [
        (q, "that is the share at temperature 1; dividing the logits by T changes it."),
        (q**t / (q**t + (1 - q) ** t), "you raised the probabilities to the power T; dividing logits by T raises them "
                                       "to the power 1/T."),
        (q / t, "temperature divides the logits (log-probabilities), not the probabilities."),
        (1.0, "that is greedy decoding (T -> 0); at this temperature both pronouns still occur."),
    ]
    right = f"right: p^(1/T) / (p^(1/T) + (1-p)^(1/T)) = {truth:.3f}" + (
        ": a temperature below 1 exaggerates the skew." if t < 1 else ": a temperature above 1 softens it.")
    return _grade(value, truth, 0.005, right, mistakes,
                  f"{value:g} is not it: softmax(logits / T) with logits = log p; renormalise over the two pronouns.")


def _amplification_variant(rng: random.Random) -> dict[str, Any]:
    corpus = tuple(rng.choice((0.1, 0.2, 0.3, 0.7, 0.8, 0.9)) for _ in range(3))
    model = tuple(round(min(0.99, max(0.01, c + rng.choice((-0.08, -0.05, 0.03, 0.06, 0.1)))), 2) for c in corpus)
    return {"corpus": corpus, "model": model}


def _amplification_truth(p: dict[str, Any]) -> float:
    from ..bias import amplification

    return amplification(dict(enumerate(p["corpus"])), dict(enumerate(p["model"])))


@register("8.17", answer="answer_8_17", points=1, book={"corpus": (0.8, 0.3, 0.9), "model": (0.9, 0.2, 0.85)},
          variants=_amplification_variant,
          describe=lambda p: (f"three occupations have corpus shares of 'he' {list(p['corpus'])} and model shares "
                              f"{list(p['model'])}."),
          solution=lambda p: (f"sum((m - c) * (1 if c > 0.5 else -1) for c, m in zip({p['corpus']}, {p['model']})) "
                              f"/ {len(p['corpus'])}"))
def _amplification(answer: Any, p: dict[str, Any]) -> tuple[bool, str]:
    truth = _amplification_truth(p)
    value = _number(answer)
    plain = sum(m - c for c, m in zip(p["corpus"], p["model"])) / len(p["corpus"])
    absolute = sum(abs(m - c) for c, m in zip(p["corpus"], p["model"])) / len(p["corpus"])
    mistakes = [
        (plain, "you averaged model - corpus without its direction: for an occupation skewed towards 'she' "
                "(share below 0.5), moving further below counts as amplification."),
        (absolute, "you averaged |model - corpus|: a model that softens a skew must count negative."),
    ]
    if math.isclose(value, truth, abs_tol=1e-3):
        return True, f"right: {truth:+.3f}; " + ("positive: the model exaggerates the skews on average." if truth > 0
                                                 else "negative or zero: it does not exaggerate them on average.")
    for candidate, message in mistakes:
        if math.isclose(value, candidate, abs_tol=1e-3):
            return False, message
    return False, (f"{value:g} is not it: for each occupation take model - corpus, with the sign flipped when the "
                   "corpus share is below 0.5, then average.")


register_written("8.18", points=2)

# ---- 8f interpretability --------------------------------------------------------------------------------

BOOK_SOURCES = ('x = "hi"  # say it\n', "def f(a):\n    return 'a' + a\n", 's = """two\nlines"""\nn = 3\n')


def _sources_variant(rng: random.Random) -> dict[str, Any]:
    names, strings = ("a", "b", "count", "name", "s"), ('"x y"', "'q'", '"""doc"""', "'it''s'", "b'ab'")
    extra = []
    for _ in range(3):
        n, s = rng.choice(names), rng.choice(strings)
        extra.append(f"{n} = {s}  # {rng.choice(('note', 'a # b', 'quote'))}\nif {n}:\n    print({n}, {rng.randint(0, 99)})\n")
    return {"sources": BOOK_SOURCES + tuple(extra)}


@register("8.19", kind="function", answer="in_string", points=2, book={"sources": BOOK_SOURCES},
          variants=_sources_variant)
def _in_string(answer: Any, p: dict[str, Any]) -> tuple[bool, str]:
    from ..probes import code_labels

    if not callable(answer):
        return False, "pass your function itself (in_string), not its result."
    for source in p["sources"]:
        got = answer(source)
        if got is None:
            raise Unanswered("in_string returns None: finish it so that it returns one 0 or 1 per character.")
        got = [int(v) for v in got]
        want = code_labels(source)["in_string"]
        if len(got) != len(source):
            return False, f"return one label per character: {len(source)} for {source!r}, yours gave {len(got)}."
        if got == want:
            continue
        bad = next(i for i, (a, b) in enumerate(zip(got, want)) if a != b)
        hint = ""
        if source[bad] in "\"'":
            hint = " (the quote marks belong to the string literal)"
        elif "#" in source[:bad + 1] and want[bad] == 0:
            hint = " (a comment is not a string literal, even if it contains quotes)"
        return False, f"in {source!r}, character {bad} ({source[bad]!r}) should be {want[bad]}{hint}."
    return True, "right: your labels match tokenize's STRING tokens on every source."


def _majority_variant(rng: random.Random) -> dict[str, Any]:
    counts = [rng.randint(50, 900) for _ in range(rng.randint(3, 6))]
    return {"counts": tuple(counts)}


@register("8.20", answer="answer_8_20", points=1, book={"counts": (5200, 2100, 900, 400, 150, 1250)},
          variants=_majority_variant,
          describe=lambda p: f"the test labels of a property have the class counts {list(p['counts'])}.",
          solution=lambda p: f"max({list(p['counts'])}) / sum({list(p['counts'])})")
def _majority(answer: Any, p: dict[str, Any]) -> tuple[bool, str]:
    counts = p["counts"]
    truth = max(counts) / sum(counts)
    value = _number(answer)
    mistakes = [(1 / len(counts), "that is uniform guessing; always answering the most frequent class does better."),
                (max(counts), "give the share (between 0 and 1), not the count.")]
    right = (f"right: {truth:.3f}. A probe that scores {truth:.3f} has learned nothing; what counts is how far above "
             "this it gets.")
    return _grade(value, truth, 0.005, right, mistakes,
                  f"{value:g} is not it: what accuracy does 'always answer the most frequent class' get?")


register_written("8.21", points=2)

# ---- 8g multimodality -----------------------------------------------------------------------------------


def _patch_variant(rng: random.Random) -> dict[str, Any]:
    side, patch = rng.choice(((224, 16), (224, 14), (336, 14), (384, 16), (256, 32), (448, 14)))
    return {"side": side, "patch": patch}


@register("8.22", answer="answer_8_22", points=1, book={"side": 224, "patch": 14}, variants=_patch_variant,
          describe=lambda p: f"an image of {p['side']} x {p['side']} pixels is cut into {p['patch']} x {p['patch']} patches.",
          solution=lambda p: f"({p['side']} // {p['patch']}) ** 2")
def _patch_tokens(answer: Any, p: dict[str, Any]) -> tuple[bool, str]:
    s, q = p["side"], p["patch"]
    truth = (s // q) ** 2
    value = _number(answer)
    mistakes = [(s // q, "that is the number of patches along one side; the image is a square grid of them."),
                (s * s / q, "divide the pixel count by the patch's area (p x p), not by p."),
                (q * q, "that is the number of pixels in one patch.")]
    right = f"right: ({s}/{q})^2 = {truth} patch tokens, and self-attention compares each with all {truth}."
    return _grade(value, truth, 1e-9, right, mistakes, f"{value:g} is not it: how many {q} x {q} squares tile the image?")


def _attention_variant(rng: random.Random) -> dict[str, Any]:
    return {"factor": rng.choice((2, 3, 4))}


@register("8.23", answer="answer_8_23", points=1, book={"factor": 2}, variants=_attention_variant,
          describe=lambda p: f"you make the patches {p['factor']} times smaller on each side, at the same image size.",
          solution=lambda p: f"({p['factor']} ** 2) ** 2")
def _attention_growth(answer: Any, p: dict[str, Any]) -> tuple[bool, str]:
    f = p["factor"]
    truth = float(f**4)
    value = _number(answer)
    mistakes = [(f**2, f"that is how many times more patch tokens there are; attention compares every pair of them."),
                (f, "the patches shrink on both sides: the token count grows with the square of the factor."),
                (f**3, "attention scores grow with the square of the token count, which itself grows as factor^2.")]
    right = f"right: {f}^2 = {f * f} times the tokens, and ({f * f})^2 = {f ** 4} times the attention scores."
    return _grade(value, truth, 1e-9, right, mistakes,
                  f"{value:g} is not it: first the token count's factor, then the number of token pairs.")


register_written("8.24", points=2)

# ---- 8h law and ethics ----------------------------------------------------------------------------------

AI_ACT_THRESHOLD_FLOP = 1e25  # Regulation (EU) 2024/1689, Article 51(2): presumption of systemic risk


def _compute_variant(rng: random.Random) -> dict[str, Any]:
    return {"params": rng.choice((7e9, 13e9, 34e9, 70e9, 180e9, 405e9)), "tokens": rng.choice((2e12, 4e12, 9e12, 15e12))}


@register("8.25", answer="answer_8_25", points=1, book={"params": 70e9, "tokens": 15e12}, variants=_compute_variant,
          describe=lambda p: f"a model of {p['params']:.3g} parameters is trained on {p['tokens']:.3g} tokens.",
          solution=lambda p: f"6 * {p['params']:.3g} * {p['tokens']:.3g} / 1e25")
def _ai_act_fraction(answer: Any, p: dict[str, Any]) -> tuple[bool, str]:
    n, d = p["params"], p["tokens"]
    truth = 6 * n * d / AI_ACT_THRESHOLD_FLOP
    value = _number(answer)
    mistakes = [(2 * n * d / AI_ACT_THRESHOLD_FLOP, "2ND is the forward pass only; training (forward and backward) is 6ND."),
                (n * d / AI_ACT_THRESHOLD_FLOP, "you left out the factor 6 (2 for the forward pass, 4 for the backward)."),
                (6 * n * d, "give the fraction of the threshold (divide by 10^25), not the FLOP count.")]
    right = (f"right: 6ND = {6 * n * d:.3g} FLOP, {truth:.3g} times the 10^25 FLOP threshold; "
             + ("it is presumed to have systemic risk." if truth >= 1 else "below it, no presumption of systemic risk."))
    return _grade(value, truth, 0.01, right, mistakes, f"{value:g} is not it: estimate training compute as 6ND, then divide.")


register_written("8.26", points=2)
