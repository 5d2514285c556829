"""lmlib.bias: the skewed corpus, counterfactual augmentation, exact decoding rates, amplification."""

import math

import pytest
import torch

from conftest import tiny_gpt
from lmlib import bias, tokenizers


def test_make_corpus_deals_the_rates_and_counts_what_it_drew():
    corpus = bias.make_corpus(20, seed=0)
    assert sorted(corpus.design.values()) == sorted(bias.RATES)
    assert corpus.design["engineer"] == 0.9 and corpus.counts["engineer"] == (15, 5)  # golden (seeded)
    assert all(he + she == 20 for he, she in corpus.counts.values())
    assert bias.pronoun_rates(corpus.text) == pytest.approx(corpus.rates)
    assert corpus.text == bias.make_corpus(20, seed=0).text
    other = bias.make_corpus(20, seed=1, design=corpus.design)
    assert other.design == corpus.design and other.text != corpus.text


def test_make_corpus_errors():
    with pytest.raises(ValueError, match="one rate per occupation"):
        bias.make_corpus(occupations=("a", "b"), rates=(0.5,))
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\]"):
        bias.make_corpus(occupations=("a",), rates=(1.5,))
    with pytest.raises(ValueError, match="sentences_per_occupation must be a positive int"):
        bias.make_corpus(0)


def test_swap_and_counterfactual_augmentation_balance_every_occupation():
    line = "The nurse said that she would be late."
    assert bias.swap_pronouns(line) == "The nurse said that he would be late."
    assert bias.swap_pronouns(bias.swap_pronouns(line)) == line
    assert bias.swap_pronouns("the shed") == "the shed"  # whole words only
    corpus = bias.make_corpus(30, seed=2)
    rates = bias.pronoun_rates(bias.counterfactual_augment(corpus.text))
    assert all(r == 0.5 for r in rates.values())


def test_continuation_logprob_is_the_sum_of_tempered_token_logprobs():
    tok = tokenizers.CharTokenizer.fit("The nurse said that he she would.")
    model = tiny_gpt(tok.vocab_size, block_size=32).eval()
    prompt, cont = "The nurse said that", " he "
    ids = torch.tensor([tok.encode(prompt + cont)])
    n = len(tok.encode(prompt))
    with torch.no_grad():
        logp = (model(ids[:, :-1])[0] / 0.5).log_softmax(-1)
    manual = sum(logp[n - 1 + i, ids[0, n + i]].item() for i in range(len(cont)))
    assert bias.continuation_logprob(model, tok, prompt, cont, temperature=0.5) == pytest.approx(manual, abs=1e-5)
    with pytest.raises(ValueError, match="temperature must be > 0"):
        bias.continuation_logprob(model, tok, prompt, cont, temperature=0)


def test_decoding_rates_shapes():
    corpus = bias.make_corpus(5, seed=0)
    tok = tokenizers.CharTokenizer.fit(corpus.text)
    model = tiny_gpt(tok.vocab_size, block_size=32)
    rates = bias.decoding_rates(model, tok, occupations=("nurse", "pilot"), temperatures=(1.0, 0.5))
    assert set(rates) == {"nurse", "pilot"}
    for row in rates.values():
        assert set(row) == {"T=1", "T=0.5", "greedy"}
        assert 0 < row["T=1"] < 1 and row["greedy"] in ("he", "she", None)
        # a lower temperature moves the share away from 0.5, towards the side the model prefers
        assert abs(row["T=0.5"] - 0.5) >= abs(row["T=1"] - 0.5) - 1e-9


def test_amplification():
    corpus = {"a": 0.8, "b": 0.3, "c": 0.9}
    assert bias.amplification(corpus, {"a": 0.9, "b": 0.2, "c": 0.85}) == pytest.approx((0.1 + 0.1 - 0.05) / 3)
    assert bias.amplification(corpus, corpus) == 0
    assert bias.amplification(corpus, {k: 0.5 for k in corpus}) < 0
    with pytest.raises(ValueError, match="amplification is undefined"):
        bias.amplification({"a": 0.5}, {"a": 0.7})
