"""The modern recipe's options of lmlib's GPT (lmlib.layers) and the Muon optimiser (lmlib.optim)."""

import dataclasses
import itertools
import math

import pytest
import torch

from lmlib import checkpoint, layers, models, optim, tokenizers, train

MODERN = dict(pos="rope", norm="rmsnorm", mlp="swiglu", qk_norm=True, bias=False)


def tiny(**kw):
    torch.manual_seed(0)
    return models.GPT(models.GPTConfig(vocab_size=40, block_size=16, n_layer=2, n_head=2, n_embd=16, **kw))


def test_defaults_are_the_2019_recipe():
    cfg = models.GPTConfig(vocab_size=10)
    assert (cfg.pos, cfg.norm, cfg.mlp, cfg.qk_norm, cfg.bias) == ("learned", "layernorm", "gelu", False, True)
    names = [n for n, _ in tiny().named_parameters()]
    assert "pos_emb.weight" in names and "blocks.0.ln1.bias" in names and "blocks.0.mlp.fc.bias" in names
    assert not any("norm" in n for n in names)  # no q_norm/k_norm


def test_default_state_dict_is_unchanged_by_the_options():
    # the parameter names and shapes of a default GPT are those of checkpoints written before the options
    shapes = {n: tuple(p.shape) for n, p in tiny().state_dict().items()}
    assert shapes["pos_emb.weight"] == (16, 16) and shapes["blocks.1.mlp.fc.weight"] == (64, 16)
    assert len(shapes) == 2 + 2 * 12 + 2 + 1  # tok/pos emb, 12 tensors per block, ln_f, tied head


def test_rmsnorm_matches_its_formula_and_gradient():
    torch.manual_seed(0)
    norm = layers.RMSNorm(6)
    with torch.no_grad():
        norm.weight.copy_(torch.linspace(0.5, 2.0, 6))
    x = torch.randn(3, 4, 6, dtype=torch.float64, requires_grad=True)
    norm = norm.double()
    want = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + norm.eps) * norm.weight
    assert torch.allclose(norm(x), want, atol=1e-12)
    assert torch.autograd.gradcheck(norm, (x,))
    unit = layers.RMSNorm(6)(torch.randn(5, 6) * 30)
    assert torch.allclose(unit.pow(2).mean(-1), torch.ones(5), atol=1e-4)


def test_rotary_scores_depend_on_relative_position_only():
    torch.manual_seed(0)
    rot = layers.Rotary(head_dim=8, max_len=32)
    q, k = torch.randn(8), torch.randn(8)

    def score(m, n):  # query at position m, key at position n
        qs = rot(q.expand(1, 1, 32, 8).clone())[0, 0, m]
        ks = rot(k.expand(1, 1, 32, 8).clone())[0, 0, n]
        return float(qs @ ks)

    assert score(5, 2) == pytest.approx(score(20, 17), abs=1e-5)
    assert score(5, 2) != pytest.approx(score(5, 4), abs=1e-3)
    x = torch.randn(2, 3, 10, 8)
    assert torch.allclose(rot(x).norm(dim=-1), x.norm(dim=-1), atol=1e-5)  # a rotation keeps lengths
    assert torch.allclose(rot(x[:, :, 4:], start=4), rot(x)[:, :, 4:], atol=1e-6)
    assert torch.equal(rot(x)[:, :, 0], x[:, :, 0])  # position 0: angle 0


def test_rotary_needs_an_even_head_size():
    with pytest.raises(ValueError, match="even head size"):
        models.GPTConfig(vocab_size=10, n_embd=12, n_head=4, pos="rope")


def test_gated_and_squared_relu_mlps():
    assert layers.gated_hidden_size(128) == 344 and layers.gated_hidden_size(48) == 128
    torch.manual_seed(0)
    x = torch.randn(2, 3, 48)
    gated = layers.GatedMLP(48, bias=False, dropout=0.0)
    gate, up = gated.fc.weight.split(128)
    assert torch.allclose(gated(x), (torch.nn.functional.silu(x @ gate.T) * (x @ up.T)) @ gated.proj.weight.T, atol=1e-5)
    relu2 = layers.SquaredReLUMLP(48, bias=True, dropout=0.0)
    h = torch.relu(relu2.fc(x)) ** 2
    assert torch.allclose(relu2(x), relu2.proj(h), atol=1e-6)
    swiglu_params = models.count_parameters(layers.GatedMLP(128, bias=False, dropout=0.0))
    assert swiglu_params == 3 * 128 * 344 and abs(swiglu_params / (8 * 128 * 128) - 1) < 0.01  # as 4x GELU


def test_qk_norm_gives_unit_rms_queries_and_keys():
    model = tiny(qk_norm=True)
    q, k, _ = model.blocks[0].attn.split_heads(torch.randn(2, 5, 16))
    for t in (q, k):
        assert torch.allclose(t.pow(2).mean(-1), torch.ones(2, 2, 5), atol=1e-3)  # up to eps


def test_no_bias_means_no_bias():
    names = [n for n, _ in tiny(bias=False).named_parameters()]
    assert not any(n.endswith("bias") for n in names)
    assert [n for n, _ in tiny(**MODERN).named_parameters() if "pos_emb" in n or "bias" in n] == []


@pytest.mark.parametrize("options", [dict(pos="rope"), dict(norm="rmsnorm"), dict(mlp="swiglu"), dict(mlp="relu2"),
                                     dict(qk_norm=True), MODERN], ids=str)
def test_each_option_keeps_the_model_causal_and_the_cache_exact(options):
    model = tiny(**options).eval()
    idx = torch.randint(0, 40, (2, 12), generator=torch.Generator().manual_seed(1))
    full = model(idx)
    changed = idx.clone()
    changed[:, 7:] = (changed[:, 7:] + 1) % 40
    assert torch.allclose(model(changed)[:, :7], full[:, :7], atol=1e-6)  # the future does not leak
    cache = model.new_state()
    pieces = [model(idx[:, :5], cache), model(idx[:, 5:6], cache), model(idx[:, 6:], cache)]
    assert torch.allclose(torch.cat(pieces, dim=1), full, atol=1e-5)
    maps = model.attention_maps(idx)
    assert torch.allclose(maps[0].sum(-1), torch.ones(2, 2, 12), atol=1e-5)


def test_invalid_option_values_say_what_is_allowed():
    for field, bad, allowed in [("pos", "alibi", "learned"), ("norm", "batchnorm", "rmsnorm"), ("mlp", "glu", "swiglu")]:
        with pytest.raises(ValueError, match=f"{field} must be one of .*{allowed}"):
            models.GPTConfig(vocab_size=10, **{field: bad})
    with pytest.raises(ValueError, match="qk_norm must be True or False"):
        models.GPTConfig(vocab_size=10, qk_norm="yes")


def test_modern_gpt_checkpoint_round_trip(tmp_path):
    tok = tokenizers.ByteTokenizer()
    model = models.GPT(models.GPTConfig(vocab_size=256, block_size=16, n_layer=1, n_head=2, n_embd=16, **MODERN)).eval()
    path = checkpoint.save(tmp_path / "modern.lmlib", model, tok)
    loaded, _ = checkpoint.load(path)
    idx = torch.tensor([tok.encode("def f(x):")])
    assert loaded.config == model.config and torch.equal(loaded(idx), model(idx))


# ---- Muon -----------------------------------------------------------------------------------------------

def test_newton_schulz_equalises_singular_values():
    g = torch.randn(48, 16, generator=torch.Generator().manual_seed(0)) * torch.logspace(-2, 0, 16)
    before, after = torch.linalg.svdvals(g), torch.linalg.svdvals(optim.newton_schulz(g))
    assert float(before.max() / before.min()) > 100  # singular values spread over more than 100x ...
    assert float(after.min()) > 0.6 and float(after.max()) < 1.25  # ... end near 1
    assert optim.newton_schulz(g).shape == g.shape == optim.newton_schulz(g.T).T.shape
    with pytest.raises(ValueError, match="matrix"):
        optim.newton_schulz(torch.randn(3, 4, 5))


@pytest.mark.skipif(not hasattr(torch.optim, "Muon"), reason="torch.optim.Muon needs torch >= 2.9")
def test_muon_takes_torch_muons_steps_in_bfloat16():
    torch.manual_seed(0)
    w1 = torch.nn.Parameter(torch.randn(24, 8))
    w2 = torch.nn.Parameter(w1.detach().clone())
    ours = optim.Muon([w1], lr=0.02, weight_decay=0.1, ns_dtype=torch.bfloat16)
    theirs = torch.optim.Muon([w2], lr=0.02, weight_decay=0.1)
    for _ in range(3):
        g = torch.randn(24, 8)
        w1.grad, w2.grad = g.clone(), g.clone()
        ours.step()
        theirs.step()
    assert torch.equal(w1, w2)


def test_muon_parameters_split_hidden_matrices_from_the_rest():
    gpt = tiny(**MODERN)
    hidden, other = optim.muon_parameters(gpt)
    by_id = {id(p): n for n, p in gpt.named_parameters()}
    assert {by_id[id(p)] for p in other} == {"tok_emb.weight", "ln_f.weight"} | {
        f"blocks.{i}.{m}.weight" for i in range(2) for m in ("ln1", "ln2", "attn.q_norm", "attn.k_norm")}
    assert all(p.dim() == 2 for p in hidden) and len(hidden) == 2 * 4  # qkv, proj, fc, proj per block
    rnn = models.RNNLM(models.RNNConfig(vocab_size=30, embedding_dim=8, hidden_dim=16, cell="lstm"))
    hidden, other = optim.muon_parameters(rnn)
    assert sorted(p.shape for p in hidden) == [torch.Size([64, 8]), torch.Size([64, 16])]
    assert models.count_parameters(rnn) == sum(p.numel() for p in hidden + other)


def test_muon_rejects_vectors():
    with pytest.raises(ValueError, match="matrices only"):
        optim.Muon([torch.nn.Parameter(torch.zeros(3))])


def test_fit_with_muon_learns_and_follows_the_schedule():
    model = tiny(**MODERN)
    ids = torch.arange(400) % 7  # a periodic sequence: easy to learn
    cfg = train.TrainConfig(steps=30, batch_size=4, seq_len=16, lr=3e-3, optimizer="muon", muon_lr=0.03,
                            schedule="cosine", warmup_steps=3, progress=False, eval_interval=30)
    opt = train.make_optimizer(model, cfg)
    assert isinstance(opt, optim.Muon) and [g["muon"] for g in opt.param_groups] == [True, False, False]
    history = train.fit(model, ids, ids, cfg, optimizer=opt, device="cpu")
    assert history.completed and history.val_loss[-1] < history.step_loss[0] - 0.5
    muon_group, adam_group = opt.param_groups[0], opt.param_groups[1]
    assert muon_group["lr"] == pytest.approx(train.learning_rate(29, cfg) * 0.03 / 3e-3)
    assert adam_group["lr"] == pytest.approx(train.learning_rate(29, cfg))


@pytest.mark.parametrize("ns_steps", [5, 3, 1])
def test_muon_ns_steps_reaches_the_muon_group_and_changes_the_update(ns_steps):
    ids = torch.arange(400) % 7
    cfg = train.TrainConfig(steps=2, batch_size=4, seq_len=16, optimizer="muon", muon_ns_steps=ns_steps,
                            progress=False)
    model = tiny(**MODERN)
    opt = train.make_optimizer(model, cfg)
    assert opt.param_groups[0]["muon"] and opt.param_groups[0]["ns_steps"] == ns_steps
    train.fit(model, ids, None, cfg, optimizer=opt, device="cpu")
    # the same two steps with the default config's Muon, its group set to that many iterations by hand
    twin = tiny(**MODERN)
    five = dataclasses.replace(cfg, muon_ns_steps=5)
    hand = train.make_optimizer(twin, five)
    hand.param_groups[0]["ns_steps"] = ns_steps
    train.fit(twin, ids, None, five, optimizer=hand, device="cpu")
    for a, b in zip(model.parameters(), twin.parameters()):
        assert torch.equal(a, b)
    default = tiny(**MODERN)
    train.fit(default, ids, None, five, device="cpu")
    hidden, _ = optim.muon_parameters(model)
    differs = [not torch.equal(a, b) for a, b in zip(hidden, optim.muon_parameters(default)[0])]
    assert all(differs) if ns_steps != 5 else not any(differs)


def test_default_optimizer_is_still_adamw():
    cfg = train.TrainConfig()
    assert cfg.optimizer == "adamw" and type(train.make_optimizer(tiny(), cfg)) is torch.optim.AdamW
    with pytest.raises(ValueError, match="optimizer must be one of"):
        train.TrainConfig(optimizer="lion")
    with pytest.raises(ValueError, match="muon_lr must be"):
        train.TrainConfig(optimizer="muon", muon_lr=0)


def test_every_combination_trains_one_step():
    ids = torch.arange(200) % 11
    for pos, norm, mlp, qk in itertools.product(layers.POSITIONS, layers.NORMS, layers.MLPS, (False, True)):
        model = tiny(pos=pos, norm=norm, mlp=mlp, qk_norm=qk)
        h = train.fit(model, ids, None, train.TrainConfig(steps=1, batch_size=2, seq_len=8, progress=False), device="cpu")
        assert h.completed and math.isfinite(h.step_loss[0])


def test_rotary_positions_in_the_fixed_shape_cache_step():
    """The one-token step with a device-side position (what CUDA graphs replay) gives the plain step's logits."""
    from lmlib.generate import _OneTokenStep

    torch.manual_seed(0)
    model = models.GPT(models.GPTConfig(vocab_size=11, block_size=12, n_layer=2, n_head=2, n_embd=16,
                                        pos="rope", qk_norm=True)).eval()
    ids = torch.tensor([[1, 2, 3, 4]])
    with torch.no_grad():
        plain, fixed = model.new_state(), model.new_state()
        model(ids, plain), model(ids, fixed)
        step = _OneTokenStep(model, fixed, capture=False)
        for token in (5, 6, 7):
            want = model(torch.tensor([[token]]), plain)
            got = step(token)
            torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    assert fixed.length == plain.length == 7
