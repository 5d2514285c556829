"""lmlib.adapt: features, linear heads, fine-tuning and batched completion on tiny seeded models."""

import pytest
import torch

from conftest import tiny_gpt, tiny_rnn
from lmlib import adapt, generate, tokenizers


@pytest.fixture
def byte_gpt():
    return tiny_gpt(256, block_size=32).eval()


def test_hidden_states_are_the_final_norm_output(byte_gpt):
    idx = torch.tensor([list(b"hello there")])
    h = adapt.hidden_states(byte_gpt, idx)
    assert h.shape == (1, 11, 16)
    assert torch.allclose(byte_gpt.head(h), byte_gpt(idx), atol=1e-6)  # the head reads exactly these
    with pytest.raises(ValueError, match="expected an lmlib GPT"):
        adapt.hidden_states(tiny_rnn(256), idx)


def test_features_pool_only_real_positions(byte_gpt):
    seqs = [list(b"abc"), list(b"abcdef")]
    mean = adapt.features(byte_gpt, seqs, pool="mean", progress=False)
    last = adapt.features(byte_gpt, seqs, pool="last", progress=False)
    h = adapt.hidden_states(byte_gpt, torch.tensor([seqs[1]]))[0]
    assert torch.allclose(mean[1], h.mean(0), atol=1e-5) and torch.allclose(last[1], h[-1], atol=1e-5)
    alone = adapt.hidden_states(byte_gpt, torch.tensor([seqs[0]]))[0]
    assert torch.allclose(mean[0], alone.mean(0), atol=1e-5)  # padding after "abc" changes nothing
    with pytest.raises(ValueError, match="pool must be 'mean' or 'last'"):
        adapt.features(byte_gpt, seqs, pool="max", progress=False)
    with pytest.raises(ValueError, match="at least one token"):
        adapt.pad_batch([[]], 4)


def test_fit_linear_learns_a_separable_problem():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(200, 5, generator=g)
    y = (x[:, 0] + 0.5 * x[:, 3] > 0).long()
    head = adapt.fit_linear(x, y.tolist(), 2, steps=200)
    with torch.no_grad():
        acc = (head(x).argmax(-1) == y).float().mean().item()
    assert acc > 0.95
    with pytest.raises(ValueError, match=r"labels must be in 0..1"):
        adapt.fit_linear(x, [2] * 200, 2)
    with pytest.raises(ValueError, match="one row per label"):
        adapt.fit_linear(x, [0] * 10, 2)


def test_finetune_classifier_leaves_the_base_model_alone(byte_gpt):
    seqs = [list(b"aaaa"), list(b"bbbb"), list(b"aaab"), list(b"bbba")] * 4
    labels = [0, 1, 0, 1] * 4
    before = [p.clone() for p in byte_gpt.parameters()]
    tuned = adapt.finetune_classifier(byte_gpt, seqs, labels, 2, steps=30, batch_size=8, lr=1e-2, progress=False)
    assert all(torch.equal(a, b) for a, b in zip(before, byte_gpt.parameters()))
    assert tuned.stop_reason == "completed" and len(tuned.losses) == 30
    assert sum(tuned.losses[-5:]) < sum(tuned.losses[:5])
    assert adapt.predict(tuned, seqs[:4]) == [0, 1, 0, 1]


def test_tagging_features_concatenate_now_and_ahead(byte_gpt):
    windows = torch.tensor([list(b"x = 1 + 2  # c")])
    f = adapt.tagging_features(byte_gpt, windows, lookahead=3, progress=False)
    h = adapt.hidden_states(byte_gpt, windows)[0]
    assert f.shape == (1, 11, 32)
    assert torch.allclose(f[0, 0, :16], h[0], atol=1e-6) and torch.allclose(f[0, 0, 16:], h[3], atol=1e-6)
    with pytest.raises(ValueError, match="W >= 1"):
        adapt.tagging_features(byte_gpt, windows, lookahead=14)


def test_finetune_lm_learns_only_where_the_mask_says():
    tok = tokenizers.ByteTokenizer()
    model = tiny_gpt(256, block_size=16)
    ids = tok.encode("q?=A!")
    example = (ids, [0, 0, 0, 1, 1])
    losses = adapt.finetune_lm(model, [example], steps=60, batch_size=4, lr=1e-2, progress=False)
    assert losses[-1] < 0.1 < losses[0]
    assert tok.decode(generate.generate_ids(model, tok.encode("q?="), 2, temperature=0)) == "A!"
    with pytest.raises(ValueError, match="the same length"):
        adapt.finetune_lm(model, [(ids, [1])], steps=1)


def test_complete_batch_equals_greedy_generation(byte_gpt):
    tok = tokenizers.ByteTokenizer()
    prompts = [tok.encode("ab"), tok.encode("xyz!")]
    out = adapt.complete_batch(byte_gpt, prompts, max_new_tokens=5, prompt_len=4, pad=10)
    for p, o in zip(prompts, out):
        padded = [10] * (4 - len(p)) + p
        assert o == list(generate.generate_ids(byte_gpt, padded, 5, temperature=0))
    with pytest.raises(ValueError, match="exceeds the block size"):
        adapt.complete_batch(byte_gpt, prompts, max_new_tokens=40)


def test_continuation_logprob_is_the_mean_log_probability(byte_gpt):
    ctx, cont = list(b"ab"), list(b"cd")
    lp = adapt.continuation_logprob(byte_gpt, [ctx], [cont])[0]
    with torch.no_grad():
        logits = byte_gpt(torch.tensor([ctx + cont])).log_softmax(-1)[0]
    want = (logits[1, cont[0]] + logits[2, cont[1]]) / 2
    assert lp == pytest.approx(float(want), abs=1e-5)
    with pytest.raises(ValueError, match="a continuation must have"):
        adapt.continuation_logprob(byte_gpt, [ctx], [[]])
