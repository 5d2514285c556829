"""The edges of ``generate``: what the sampler never picks, the top-k/top-p filters inside generation, the
captured one-token step's protocol (stood in for on the CPU), and exact messages.

Written for the survivors of a mutation run over lmlib/generate.py (scripts/mutation_test.py): each test
pins a behaviour that a small change to the code would alter and no other test noticed.
"""

import types

import pytest
import torch

from conftest import tiny_gpt
from lmlib import generate, models


class _NoAdvance(torch.nn.Module):
    config = types.SimpleNamespace(vocab_size=13)


class _NoConfig(torch.nn.Module):
    def advance(self, ids, state):
        raise AssertionError("never called")


@pytest.mark.parametrize("model, kind", [(_NoAdvance(), "_NoAdvance"), (_NoConfig(), "_NoConfig"),
                                         (types.SimpleNamespace(config=_NoAdvance.config, advance=print),
                                          "SimpleNamespace")])
def test_generation_refuses_what_is_not_an_lmlib_model(model, kind):
    with pytest.raises(ValueError) as err:
        list(generate.generate_ids(model, [1], 2))
    assert str(err.value) == f"model must be an lmlib model (RNNLM or GPT), got {kind}"


@pytest.mark.parametrize("kwargs, message", [
    (dict(top_k=0), "top_k must be a positive int or None, got 0"),
    (dict(top_k=torch.tensor(2)), "top_k must be a positive int or None, got tensor(2)"),
    (dict(top_p=1.5), "top_p must be in (0, 1] or None, got 1.5"),
    (dict(top_p=torch.tensor(0.5)), "top_p must be in (0, 1] or None, got tensor(0.5000)"),
])
def test_sample_checks_its_filters_before_using_them(kwargs, message):
    with pytest.raises(ValueError) as err:
        generate.sample(torch.randn(5), 1.0, **kwargs)
    assert str(err.value) == message


@pytest.mark.parametrize("draw", [0.0, 0.5, 1.0 - 2.0**-53])  # the uniform number at its edges and between
def test_sample_never_picks_a_token_of_probability_zero(monkeypatch, draw):
    real = torch.rand
    monkeypatch.setattr(torch, "rand", lambda *a, **k: torch.full_like(real(*a, **k), draw))
    logits = torch.tensor([[-float("inf"), 0.0, -float("inf"), 0.0, -float("inf")]])  # tokens 1 and 3, even odds
    token = int(generate.sample(logits, 1.0))
    assert token == (1 if draw < 0.5 else 3)


def test_the_top_of_the_draw_picks_the_last_possible_token_when_probabilities_sum_below_one(monkeypatch):
    real = torch.rand
    monkeypatch.setattr(torch, "rand", lambda *a, **k: torch.full_like(real(*a, **k), 1.0 - 2.0**-53))
    logits = torch.zeros(1, 26)
    logits[0, 25] = -float("inf")  # 25 equal tokens, 0.04 each, and one impossible one
    total = generate.next_token_probs(logits, 1.0, None, None).double().sum().item()
    assert total < 1.0  # float32's 0.04 is 0.0399999991: the uniform draw is scaled to this total, not past it
    assert int(generate.sample(logits, 1.0)) == 24


def test_top_k_and_top_p_filter_inside_generation():
    model = tiny_gpt(13, block_size=16)
    greedy = list(generate.generate_ids(model, [1, 2, 3], 12, temperature=0))
    assert list(generate.generate_ids(model, [1, 2, 3], 12, temperature=1.5, top_k=1, seed=0)) == greedy
    assert list(generate.generate_ids(model, [1, 2, 3], 12, temperature=1.5, top_p=1e-6, seed=0)) == greedy
    assert list(generate.generate_ids(model, [1, 2, 3], 12, temperature=1.5, seed=0)) != greedy  # it does sample


def test_a_captured_step_is_made_once_and_fed_each_new_token(monkeypatch):
    """On a GPU, generate_ids captures the GPT's one-token step after the prompt and replays it for each new
    token. Here a stand-in step (the model's own advance on the cache) checks the protocol on the CPU."""
    model = tiny_gpt(13, block_size=32)
    expected = list(generate.generate_ids(model, [1, 2, 3], 6, seed=0))
    calls = []

    def one_token_step(m, state, capture):
        assert m is model and isinstance(state, models.KVCache) and capture is generate.CUDA_GRAPHS
        assert state.length == 3  # made once the prompt is in the cache, before the first single token
        calls.append("made")

        def step(token):
            calls.append(token)
            logits, kept = model.advance(torch.tensor([[token]]), state)
            assert kept is state  # the cache is written in place, as the captured step writes it
            return logits

        return step

    monkeypatch.setattr(generate, "_one_token_step", one_token_step)
    got = list(generate.generate_ids(model, [1, 2, 3], 6, seed=0))
    assert got == expected
    assert calls == ["made"] + got[:-1]  # each new token but the last is fed through the step, one at a time
    calls.clear()
    assert list(generate.generate_ids(model, [1, 2, 3], 6, seed=0, use_cache=False)) == expected
    assert calls == []  # no cache, no captured step
