import math
import re

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


# ---------------------------------------------------------------- behaviours found untested by mutation testing
# (scripts/mutation_test.py --modules models)

@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_rnn_forward_continues_from_the_state_it_is_given(cell):
    model = tiny_rnn(11, cell).eval()
    idx = torch.randint(0, 11, (2, 9), generator=torch.Generator().manual_seed(2))
    _, state = model.advance(idx[:, :4])
    torch.testing.assert_close(model(idx[:, 4:], state), model(idx)[:, 4:])
    assert not torch.allclose(model(idx[:, 4:]), model(idx)[:, 4:])  # (without the state it starts afresh)


def test_a_cache_without_capacity_grows_by_doubling_and_keeps_what_it_holds():
    model = tiny_gpt(13).eval()
    idx = torch.randint(0, 13, (2, 16), generator=torch.Generator().manual_seed(3))
    cache = models.KVCache()  # no capacity: the buffers grow as tokens arrive
    pieces, sizes = [], []
    for a, b in [(0, 3), (3, 4), (4, 6), (6, 13), (13, 16)]:
        pieces.append(model(idx[:, a:b], cache))
        sizes.append([(k.shape, v.shape) for k, v in zip(cache.keys, cache.values)])
    # 3 fits the first write; 4 doubles it to 6; 6 fits exactly; 13 is more than twice 6; 16 doubles 13
    assert [s[0][0][2] for s in sizes] == [3, 6, 6, 13, 26]
    assert all(k == v == (2, 2, s[0][0][2], 8) for s in sizes for k, v in s)  # every layer, keys and values
    torch.testing.assert_close(torch.cat(pieces, 1), model(idx), atol=1e-5, rtol=1e-5)


def test_attention_weights_are_the_scaled_causal_softmax():
    torch.manual_seed(0)
    attn = models.GPT(models.GPTConfig(vocab_size=5, block_size=8, n_layer=1, n_head=2, n_embd=16)).blocks[0].attn
    x = torch.randn(1, 5, 16)
    q, k, _ = attn.split_heads(x)  # head size 8, 2 heads, 5 positions: no two sizes alike
    scores = q @ k.transpose(2, 3) / math.sqrt(8)
    future = torch.ones(5, 5, dtype=torch.bool).triu(diagonal=1)
    torch.testing.assert_close(attn.attention_weights(x), scores.masked_fill(future, -math.inf).softmax(dim=3))


def test_the_mlp_is_widen_tanh_gelu_project():
    torch.manual_seed(0)
    mlp = models.MLP(models.GPTConfig(vocab_size=5, block_size=4, n_layer=1, n_head=1, n_embd=8)).eval()
    x = 3 * torch.randn(2, 3, 8)
    assert torch.equal(mlp(x), mlp.proj(torch.nn.functional.gelu(mlp.fc(x), approximate="tanh")))
    assert not torch.allclose(mlp(x), mlp.proj(torch.nn.functional.gelu(mlp.fc(x))), atol=1e-6, rtol=0)


def _cached_passes(model, idx):
    """Every path through attention: no cache; a prompt, one token and three tokens after it; the fixed-shape
    one-token step (a device-side position, as generate's CUDA graph replays it)."""
    model(idx)
    cache = model.new_state()
    model(idx[:, :5], cache), model(idx[:, 5:6], cache), model(idx[:, 6:9], cache)
    cache.index = torch.full((1,), cache.length, dtype=torch.long, device=idx.device)
    model(idx[:, 9:10], cache)


@pytest.mark.parametrize("training", [True, False])
def test_attention_dropout_applies_in_training_only_on_every_path(monkeypatch, training):
    rates, sdpa = [], torch.nn.functional.scaled_dot_product_attention

    def spy(*args, **kwargs):
        rates.append(kwargs.get("dropout_p", 0.0))
        return sdpa(*args, **kwargs)
    monkeypatch.setattr(models.F, "scaled_dot_product_attention", spy)
    torch.manual_seed(0)
    model = models.GPT(models.GPTConfig(vocab_size=13, block_size=16, n_layer=1, n_head=2, n_embd=16, dropout=0.25))
    model.train(training)
    _cached_passes(model, torch.randint(0, 13, (1, 12), generator=torch.Generator().manual_seed(0)))
    assert rates == [0.25 if training else 0.0] * 5


@pytest.mark.parametrize("options", [{}, {"pos": "rope", "qk_norm": True}], ids=["learned", "rope"])
def test_every_tensor_a_gpt_makes_is_on_its_inputs_device(options):
    """The meta device stands in for a GPU: a mask or position made on the CPU next to it is an error."""
    torch.manual_seed(0)
    model = models.GPT(models.GPTConfig(vocab_size=13, block_size=16, n_layer=2, n_head=2, n_embd=16, **options))
    model = model.eval().to("meta")
    idx = torch.zeros(1, 12, dtype=torch.long, device="meta")
    with model.ids_checked():  # (the ids of a meta tensor cannot be read)
        _cached_passes(model, idx)
        maps = model.attention_maps(idx)
    assert [m.device.type for m in maps] == ["meta", "meta"] and maps[0].shape == (1, 2, 12, 12)


def test_the_memory_check_counts_real_tensors_of_the_model(monkeypatch):
    """Before allocating, each model estimates its size from its config; the estimate is the size of named
    tensors of the model it builds (so it never refuses a model that fits): for a GPT the embeddings and the
    attention matrices, for an RNN the embedding, the head and one hidden-by-hidden matrix per layer."""
    asked = []
    monkeypatch.setattr(models, "_require_memory", lambda what, n: asked.append((what, n)))
    torch.manual_seed(0)
    gpt = models.GPT(models.GPTConfig(vocab_size=50, block_size=16, n_layer=3, n_head=2, n_embd=32))
    attention = sum(b.attn.qkv.weight.numel() + b.attn.proj.weight.numel() for b in gpt.blocks)
    assert asked[-1] == ("GPT", gpt.tok_emb.weight.numel() + gpt.pos_emb.weight.numel() + attention)
    rnn = models.RNNLM(models.RNNConfig(vocab_size=50, embedding_dim=8, hidden_dim=24, num_layers=2, cell="lstm"))
    assert asked[-1] == ("RNN", rnn.embedding.weight.numel() + rnn.head.weight.numel() + 2 * 24 * 24)
    assert all(n <= models.count_parameters(m) for m, (_, n) in zip((gpt, rnn), asked))


def test_the_memory_check_names_the_model_and_its_size(monkeypatch):
    monkeypatch.setattr(models.os, "sysconf", lambda name: {"SC_PHYS_PAGES": 10, "SC_PAGE_SIZE": 4096}[name])
    with pytest.raises(ValueError) as err:
        models.GPT(models.GPTConfig(vocab_size=50, block_size=16, n_layer=3, n_head=2, n_embd=32))
    assert str(err.value) == ("this GPT config needs at least 14,400 parameters (0.0 GiB as float32), more than this "
                              "machine's 0.0 GiB of memory; choose smaller sizes")


def test_a_gpt_needs_a_gpt_config_and_a_kv_cache():
    with pytest.raises(ValueError) as err:
        models.GPT({"vocab_size": 5})
    assert str(err.value) == "GPT needs a GPTConfig, got dict"
    with pytest.raises(ValueError) as err:
        tiny_gpt(5)(torch.zeros(1, 2, dtype=torch.long), "cache")
    assert str(err.value) == "cache must be None or a KVCache (from new_state()), got str"


def test_advance_without_a_state_starts_a_cache():
    model = tiny_gpt(13).eval()
    idx = torch.randint(0, 13, (1, 5), generator=torch.Generator().manual_seed(0))
    logits, state = model.advance(idx)
    assert isinstance(state, models.KVCache) and state.length == 5 and state.capacity == 16
    torch.testing.assert_close(logits, model(idx))


@pytest.mark.parametrize("options", [{}, {"pos": "rope", "qk_norm": True, "norm": "rmsnorm"}], ids=["learned", "rope"])
def test_attention_maps_are_what_each_layer_computes(options):
    torch.manual_seed(0)
    model = models.GPT(models.GPTConfig(vocab_size=13, block_size=8, n_layer=2, n_head=2, n_embd=16, **options)).eval()
    idx = torch.randint(0, 13, (1, 8), generator=torch.Generator().manual_seed(0))
    x = model.tok_emb(idx) + (model.pos_emb.weight if model.pos_emb is not None else 0)
    expected = []
    for block in model.blocks:
        expected.append(block.attn.attention_weights(block.ln1(x)))
        x = block(x)
    for got, want in zip(model.attention_maps(idx), expected, strict=True):
        torch.testing.assert_close(got, want)
    with pytest.raises(ValueError, match="sequence length 9 exceeds the model's block_size 8"):
        model.attention_maps(torch.zeros(1, 9, dtype=torch.long))


def test_projections_into_the_residual_stream_start_smaller_and_centred():
    torch.manual_seed(0)
    model = models.GPT(models.GPTConfig(vocab_size=64, block_size=64, n_layer=8, n_head=4, n_embd=128))
    proj = torch.cat([p.detach().flatten() for n, p in model.named_parameters() if n.endswith("proj.weight")])
    other = torch.cat([p.detach().flatten() for n, p in model.named_parameters()
                       if p.dim() == 2 and not n.endswith("proj.weight")])
    assert abs(proj.mean()) < 1e-4 and abs(other.mean()) < 1e-3
    assert proj.std().item() == pytest.approx(0.02 / math.sqrt(16), rel=0.02)
    assert other.std().item() == pytest.approx(0.02, rel=0.02)


def test_a_bad_recurrent_state_is_described_for_its_cell():
    ids = torch.zeros(2, 3, dtype=torch.long)
    lstm, gru = tiny_rnn(11, "lstm"), tiny_rnn(11, "gru")
    h = torch.zeros(1, 2, 16)
    for model, state, want in [
        (lstm, h, "a pair of tensors (h, c), each of shape (1, 2, 16)"),
        (lstm, [h, h], "a pair of tensors (h, c), each of shape (1, 2, 16)"),  # a list is not what advance gives
        (gru, (h, h), "a tensor of shape (1, 2, 16)"),
        (gru, torch.zeros(1, 3, 16), "a tensor of shape (1, 2, 16)"),
    ]:
        with pytest.raises(ValueError) as err:
            model(ids, state)
        assert str(err.value) == f"state must be None or what advance() returned for this batch: {want}"


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_a_two_layer_rnn_has_two_layers_dropout_between_them_and_carries_its_state(cell):
    torch.manual_seed(0)
    two = models.RNNLM(models.RNNConfig(vocab_size=11, embedding_dim=8, hidden_dim=16, num_layers=2, cell=cell,
                                        dropout=0.3))
    assert two.rnn.num_layers == 2 and two.rnn.dropout == 0.3 and hasattr(two.rnn, "weight_hh_l1")
    one = models.RNNLM(models.RNNConfig(vocab_size=11, embedding_dim=8, hidden_dim=16, cell=cell, dropout=0.3))
    assert one.rnn.num_layers == 1 and one.rnn.dropout == 0.0  # torch applies it only between layers
    two.eval()
    idx = torch.randint(0, 11, (2, 9), generator=torch.Generator().manual_seed(1))
    a, state = two.advance(idx[:, :4])
    b, _ = two.advance(idx[:, 4:], state)
    torch.testing.assert_close(torch.cat([a, b], 1), two(idx))


def test_model_constructors_need_their_own_config():
    with pytest.raises(ValueError) as err:
        models.RNNLM({"vocab_size": 5})
    assert str(err.value) == "RNNLM needs an RNNConfig, got dict"


def test_dropout_false_is_not_a_rate():
    for value in (False, True):
        with pytest.raises(ValueError, match=re.escape(f"dropout must be a number in [0, 1), got {value!r}")):
            models.GPTConfig(vocab_size=5, dropout=value)


def test_config_errors_name_what_is_allowed_exactly():
    for kwargs, message in [
        # (36 has nine divisors: eight are suggested)
        (dict(n_embd=36, n_head=5), "n_embd (36) must be divisible by n_head (5); e.g. n_head in [1, 2, 3, 4, 6, 9, 12, "
                                    "18]"),
        # divisors are suggested up to 4096 (4097 = 17 x 241)
        (dict(n_embd=4097, n_head=2), "n_embd (4097) must be divisible by n_head (2); e.g. n_head in [1, 17, 241]"),
        (dict(n_embd=12, n_head=4, pos="rope"), "rotary positions need an even head size, got n_embd / n_head = 3"),
        (dict(qk_norm=1), "qk_norm must be True or False, got 1"),
    ]:
        with pytest.raises(ValueError) as err:
            models.GPTConfig(vocab_size=5, **kwargs)
        assert str(err.value) == message
    assert models.GPTConfig(vocab_size=5, n_embd=9, n_head=3).n_embd == 9  # an odd head size is fine without rope


def test_input_errors_are_exact(tmp_path):
    gpt = tiny_gpt(10, block_size=8)
    for idx, message in [
        ([[1, 2]], "idx must be a torch.LongTensor of shape (batch, time), got list"),
        (torch.zeros(1, 0, dtype=torch.long), "idx must hold at least one token per row, got time dimension 0"),
        (torch.zeros(0, 3, dtype=torch.long), "idx must hold at least one row, got batch dimension 0"),
        (torch.tensor([[0, 10]]), "token id 10 is outside the vocabulary (0..9)"),  # (the lowest id, 0, is fine)
        (torch.tensor([[-1, 10]]), "token id -1 is outside the vocabulary (0..9)"),
    ]:
        with pytest.raises(ValueError) as err:
            gpt(idx)
        assert str(err.value) == message
    cache = gpt.new_state()
    gpt(torch.tensor([[1]]), cache)
    with pytest.raises(ValueError) as err:
        gpt(torch.zeros(1, 8, dtype=torch.long), cache)
    assert str(err.value) == ("the cache already holds 1 of the model's block_size 8 positions; 8 more tokens do not "
                              "fit (at most 7); start a new cache with new_state()")
    with pytest.raises(ValueError) as err:
        gpt.to("meta")(torch.tensor([[1]]))
    assert str(err.value) == ("idx must be on the model's device: idx is on cpu but the model is on meta; "
                              "create the ids there (torch.tensor(..., "
                              "device=model.device)) or move them with idx.to(model.device)")


def test_a_model_built_on_the_meta_device_skips_the_memory_check(monkeypatch):
    monkeypatch.setattr(models.os, "sysconf", lambda name: {"SC_PHYS_PAGES": 10, "SC_PAGE_SIZE": 4096}[name])
    config = models.GPTConfig(vocab_size=50, block_size=16, n_layer=3, n_head=2, n_embd=32)
    with torch.device("meta"):  # nothing is allocated there, so nothing is refused
        assert models.GPT(config).tok_emb.weight.device.type == "meta"
    with pytest.raises(ValueError, match="more than this machine's"):
        models.GPT(config)


def test_the_memory_check_refuses_only_what_does_not_fit_and_says_how_much(monkeypatch):
    config = models.GPTConfig(vocab_size=50, block_size=16, n_layer=3, n_head=2, n_embd=32)  # 14,400 counted
    monkeypatch.setattr(models.os, "sysconf", lambda name: {"SC_PHYS_PAGES": 14_400, "SC_PAGE_SIZE": 4}[name])
    models.GPT(config)  # exactly 4 bytes per counted parameter: fits
    big = models.GPTConfig(vocab_size=50, block_size=16, n_layer=16, n_head=2, n_embd=4096)
    monkeypatch.setattr(models.os, "sysconf", lambda name: {"SC_PHYS_PAGES": 2**19, "SC_PAGE_SIZE": 4096}[name])
    with pytest.raises(ValueError) as err:
        models.GPT(big)  # refused before anything is allocated
    assert str(err.value) == ("this GPT config needs at least 1,074,012,160 parameters (4.0 GiB as float32), more than "
                              "this machine's 2.0 GiB of memory; choose smaller sizes")


def test_a_rope_model_knows_the_order_of_earlier_tokens():
    """Without positions a causal Transformer's last output depends only on the set of earlier tokens."""
    idx = torch.tensor([[1, 2, 3, 4, 5, 6]])
    swapped = torch.tensor([[2, 1, 3, 4, 5, 6]])
    for pos in ("learned", "rope"):
        torch.manual_seed(0)
        model = models.GPT(models.GPTConfig(vocab_size=13, block_size=8, n_layer=1, n_head=2, n_embd=16, pos=pos))
        model.eval()
        assert (model.blocks[0].attn.rotary is not None) == (pos == "rope")
        assert not torch.allclose(model(idx)[0, -1], model(swapped)[0, -1], atol=1e-6, rtol=0)
    model.pos_emb = None
    model.blocks[0].attn.rotary = None  # no positions at all: the order of tokens 1 and 2 is invisible
    torch.testing.assert_close(model(idx)[0, -1], model(swapped)[0, -1])


@pytest.mark.parametrize("mlp, kind", [("gelu", "MLP"), ("swiglu", "GatedMLP"), ("relu2", "SquaredReLUMLP")])
@pytest.mark.parametrize("bias", [True, False])
def test_each_block_has_the_mlp_and_biases_asked_for(mlp, kind, bias):
    model = models.GPT(models.GPTConfig(vocab_size=13, block_size=8, n_layer=2, n_head=2, n_embd=16, mlp=mlp,
                                        bias=bias))
    for block in model.blocks:
        assert type(block.mlp).__name__ == kind
        assert any(name.endswith("bias") for name, _ in block.mlp.named_parameters()) == bias
