"""Checks of chapter 3's exercises: the truth is computed from lmlib, and typical mistakes get specific feedback."""

import torch

from lmlib import exercises, models, tokenizers


def _right_probs(logits, temperature, k):
    scaled = logits / temperature
    kth = torch.topk(scaled, k).values[-1]
    return scaled.masked_fill(scaled < kth, float("-inf")).softmax(-1)


def test_3_1_bpe_tokens_by_hand():
    tok = tokenizers.BPETokenizer.fit(exercises.EX_3_1_TEXT, vocab_size=300)
    truth = len(tok.encode(exercises.EX_3_1_TEXT))
    assert truth == 5 and len(tok.merges) == 3  # aa, ab, then (aa)(ab): the classic example
    assert exercises.check("3.1", truth).passed
    assert "bytes before any merge" in exercises.check("3.1", 11).message
    assert "number of merges" in exercises.check("3.1", 3).message
    assert "after 1 merge" in exercises.check("3.1", 9).message
    assert "stops early" in exercises.check("3.1", 44).message
    assert not exercises.check("3.1", 6).passed


def test_3_2_temperature_and_top_k():
    assert exercises.check("3.2", _right_probs).passed
    assert "multiplied" in exercises.check("3.2", lambda l, t, k: _right_probs(l * t * t, t, k)).message
    assert "no effect" in exercises.check("3.2", lambda l, t, k: _right_probs(l, 1.0, k)).message
    assert "-inf" in exercises.check("3.2", lambda l, t, k: (l / t).softmax(-1)).message
    assert "off by one" in exercises.check("3.2", lambda l, t, k: _right_probs(l, t, k + 1)).message

    def not_renormalised(l, t, k):
        p = (l / t).softmax(-1)
        return p.masked_fill(p < torch.topk(p, k).values[-1], 0.0)

    assert "renormalise" in exercises.check("3.2", not_renormalised).message
    none = exercises.check("3.2", lambda l, t, k: None)
    assert none.status == "unanswered" and "returns None" in none.message
    assert "function itself" in exercises.check("3.2", 0.5).message


def test_3_3_gpt_parameters():
    config = models.GPTConfig(**exercises.EX_3_3_CONFIG)
    truth = models.count_parameters(models.GPT(config))
    assert exercises.check("3.3", truth).passed
    assert "weight tying" in exercises.check("3.3", truth + config.vocab_size * config.n_embd).message
    assert "position embeddings" in exercises.check("3.3", truth - config.block_size * config.n_embd).message
    assert "LayerNorms" in exercises.check("3.3", truth - 3 * 2 * config.n_embd).message
    assert "feed-forward" in exercises.check("3.3", truth - 8 * 32 * 32 - 5 * 32).message
    assert "is not it" in exercises.check("3.3", 12345).message  # no "off by N": that would give the value
