import pytest
import torch

from conftest import tiny_gpt, tiny_rnn
from lmlib import models


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_rnn_lm_is_embedding_rnn_linear(cell):
    model = tiny_rnn(11, cell)
    assert isinstance(model.embedding, torch.nn.Embedding)
    assert isinstance(model.rnn, {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell])
    assert isinstance(model.head, torch.nn.Linear)
    idx = torch.randint(0, 11, (3, 5))
    assert model(idx).shape == (3, 5, 11)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_rnn_state_carries_over(cell):
    model = tiny_rnn(11, cell).eval()
    idx = torch.randint(0, 11, (2, 9), generator=torch.Generator().manual_seed(1))
    full = model(idx)
    a, state = model.advance(idx[:, :4], model.new_state())
    b, _ = model.advance(idx[:, 4:], state)
    torch.testing.assert_close(torch.cat([a, b], 1), full)


def test_gpt_shapes_and_weight_tying():
    model = tiny_gpt(13)
    idx = torch.randint(0, 13, (2, 16))
    assert model(idx).shape == (2, 16, 13)
    assert model.head.weight is model.tok_emb.weight
    # embeddings 13*16 + 16*16, 2 blocks of (2 LN + qkv + proj + fc + proj), final LN
    per_block = 2 * 32 + (16 * 48 + 48) + (16 * 16 + 16) + (16 * 64 + 64) + (64 * 16 + 16)
    assert models.count_parameters(model) == 13 * 16 + 16 * 16 + 2 * per_block + 32


def test_gpt_is_causal():
    model = tiny_gpt(13).eval()
    idx = torch.randint(0, 13, (1, 10), generator=torch.Generator().manual_seed(0))
    changed = idx.clone()
    changed[0, 7] = (changed[0, 7] + 1) % 13
    a, b = model(idx), model(changed)
    torch.testing.assert_close(a[:, :7], b[:, :7])
    assert not torch.allclose(a[:, 7:], b[:, 7:])


def test_gpt_kv_cache_matches_full_forward_in_pieces():
    model = tiny_gpt(13).eval()
    idx = torch.randint(0, 13, (2, 12), generator=torch.Generator().manual_seed(0))
    cache = model.new_state()
    pieces = [model.advance(idx[:, a:b], cache)[0] for a, b in [(0, 5), (5, 6), (6, 10), (10, 12)]]
    assert cache.length == 12
    torch.testing.assert_close(torch.cat(pieces, 1), model(idx), atol=1e-5, rtol=1e-5)


def test_gpt_attention_maps_are_causal_distributions():
    model = tiny_gpt(13)
    maps = model.attention_maps(torch.randint(0, 13, (1, 6)))
    assert len(maps) == 2 and maps[0].shape == (1, 2, 6, 6)
    torch.testing.assert_close(maps[0].sum(-1), torch.ones(1, 2, 6))
    assert torch.all(maps[1].triu(diagonal=1) == 0)


def test_seeded_init_gives_golden_logits():
    torch.manual_seed(0)
    gpt = models.GPT(models.GPTConfig(vocab_size=7, block_size=8, n_layer=1, n_head=1, n_embd=8))
    out = gpt(torch.tensor([[1, 2, 3]]))
    assert out[0, -1].tolist() == pytest.approx(GOLDEN_GPT_LOGITS, abs=1e-4)
    torch.manual_seed(0)
    rnn = models.RNNLM(models.RNNConfig(vocab_size=7, embedding_dim=4, hidden_dim=5, cell="rnn"))
    out = rnn(torch.tensor([[1, 2, 3]]))
    assert out[0, -1].tolist() == pytest.approx(GOLDEN_RNN_LOGITS, abs=1e-4)


# Measured once with torch.manual_seed(0); rounded to 4 decimals (stable across CPUs).
GOLDEN_GPT_LOGITS = [0.0481, -0.0023, -0.1034, 0.1242, 0.0101, -0.0082, 0.0499]
GOLDEN_RNN_LOGITS = [0.2483, 0.1369, -0.2819, -0.145, -0.2581, 0.653, 0.5731]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(n_embd=30, n_head=4), r"n_embd \(30\) must be divisible by n_head \(4\)"),
        (dict(n_layer=0), "n_layer must be a positive int, got 0"),
        (dict(block_size=-1), "block_size must be a positive int, got -1"),
        (dict(vocab_size=2.5), "vocab_size must be a positive int, got 2.5"),
        (dict(dropout=1.0), r"dropout must be a number in \[0, 1\)"),
    ],
)
def test_invalid_gpt_configs(kwargs, message):
    base = dict(vocab_size=10, block_size=8, n_layer=1, n_head=2, n_embd=8)
    with pytest.raises(ValueError, match=message):
        models.GPTConfig(**{**base, **kwargs})


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(cell="transformer"), r"cell must be one of \('rnn', 'lstm', 'gru'\), got 'transformer'"),
        (dict(hidden_dim=0), "hidden_dim must be a positive int, got 0"),
        (dict(embedding_dim=-3), "embedding_dim must be a positive int, got -3"),
    ],
)
def test_invalid_rnn_configs(kwargs, message):
    with pytest.raises(ValueError, match=message):
        models.RNNConfig(**{"vocab_size": 10, **kwargs})


@pytest.mark.parametrize("make", [lambda: tiny_gpt(10, block_size=8), lambda: tiny_rnn(10)], ids=["gpt", "rnn"])
@pytest.mark.parametrize(
    "idx, message",
    [
        (torch.tensor([[1, 2, 10]]), r"token id 10 is outside the vocabulary \(0..9\)"),
        (torch.tensor([[-1, 2]]), r"token id -1 is outside the vocabulary"),
        (torch.tensor([[1.0, 2.0]]), "idx must have dtype torch.long"),
        (torch.tensor([1, 2]), r"idx must have shape \(batch, time\), got shape \(2,\) \(rank 1\)"),
        ([[1, 2]], "idx must be a torch.LongTensor"),
    ],
)
def test_invalid_inputs(make, idx, message):
    with pytest.raises(ValueError, match=message):
        make()(idx)


def test_sequence_longer_than_block_size():
    with pytest.raises(ValueError, match="sequence length 9 exceeds the model's block_size 8"):
        tiny_gpt(10, block_size=8)(torch.zeros(1, 9, dtype=torch.long))


def test_build_from_dict_and_unknown_kind():
    model = models.build("rnn", {"vocab_size": 5, "cell": "lstm"})
    assert isinstance(model, models.RNNLM) and model.config.cell == "lstm"
    with pytest.raises(ValueError, match="model kind must be one of"):
        models.build("mamba", {})
    with pytest.raises(ValueError, match="invalid gpt config"):
        models.build("gpt", {"vocab_size": 5, "n_heads": 2})
