"""lmlib.compress: int8 quantisation, magnitude pruning, the files they make, distillation, timing."""

import itertools

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from conftest import TINY_TEXT, tiny_gpt, tiny_rnn, quick
from lmlib import compress, tokenizers, train


@pytest.fixture
def tok():
    return tokenizers.CharTokenizer.fit(TINY_TEXT)


@pytest.fixture
def gpt(tok):
    return tiny_gpt(tok.vocab_size).eval()


def test_int8_copy_quantises_every_untied_linear_and_keeps_the_original(gpt, tok):
    before = {k: v.clone() for k, v in gpt.state_dict().items()}
    q = compress.quantize_int8(gpt)
    assert all(torch.equal(before[k], v) for k, v in gpt.state_dict().items())
    quantised = [name for name, m in q.named_modules() if compress.is_quantized(m)]
    assert len(quantised) == 4 * len(gpt.blocks)  # qkv, proj, fc, proj per block
    assert not compress.is_quantized(q.head)  # tied to the token embedding: stays float
    x = torch.tensor([tok.encode("The quick brown")])
    assert (q(x) - gpt(x)).abs().max() < 0.05
    ids = tok.encode(TINY_TEXT)
    assert train.evaluate(q, ids, seq_len=8) == pytest.approx(train.evaluate(gpt, ids, seq_len=8), abs=0.01)


def test_int8_without_skipping_tied_quantises_the_head(gpt):
    q = compress.quantize_int8(gpt, skip_tied=False)
    assert compress.is_quantized(q.head)


def test_int8_rejects_non_modules():
    with pytest.raises(ValueError, match="torch.nn.Module"):
        compress.quantize_int8("model")


def test_int8_works_for_the_rnn_head(tok):
    q = compress.quantize_int8(tiny_rnn(tok.vocab_size))
    assert compress.is_quantized(q.head)


@pytest.mark.parametrize("scope", ["global", "layer"])
@pytest.mark.parametrize("amount", [0.25, 0.5, 0.9])
def test_pruning_removes_exactly_the_smallest_weights(gpt, scope, amount):
    pruned = compress.magnitude_prune(gpt, amount, scope=scope)
    assert compress.sparsity(gpt) == 0.0
    assert compress.sparsity(pruned) == pytest.approx(amount, abs=0.01)
    weights = compress.prunable_weights(pruned)
    originals = compress.prunable_weights(gpt)
    groups = [list(weights)] if scope == "global" else [[k] for k in weights]
    for group in groups:
        kept = torch.cat([originals[k][weights[k] != 0].abs().flatten() for k in group])
        removed = torch.cat([originals[k][weights[k] == 0].abs().flatten() for k in group])
        assert kept.min() >= removed.max()
        for k in group:  # surviving weights are unchanged
            assert torch.equal(weights[k][weights[k] != 0], originals[k][weights[k] != 0])
    assert torch.equal(pruned.tok_emb.weight, gpt.tok_emb.weight)  # embeddings (and the tied head) kept
    assert torch.equal(pruned.blocks[0].ln1.weight, gpt.blocks[0].ln1.weight)


def test_pruning_nothing_is_a_copy(gpt):
    pruned = compress.magnitude_prune(gpt, 0.0)
    assert pruned is not gpt and compress.sparsity(pruned) == 0.0


@pytest.mark.parametrize("amount", [1.0, -0.1, True, "half"])
def test_pruning_rejects_bad_amounts(gpt, amount):
    with pytest.raises(ValueError, match="amount must be a fraction in"):
        compress.magnitude_prune(gpt, amount)


def test_pruning_rejects_unknown_scope(gpt):
    with pytest.raises(ValueError, match="scope must be 'global' or 'layer'"):
        compress.magnitude_prune(gpt, 0.5, scope="row")


def _unpack(mask: torch.Tensor, n: int) -> torch.Tensor:
    bits = ((mask[:, None] >> torch.arange(7, -1, -1, dtype=torch.uint8)) & 1).flatten()
    return bits[:n].bool()


def test_files_are_smaller_and_the_sparse_one_decodes(gpt, tmp_path):
    dense = compress.file_size(compress.save_float(tmp_path / "f.safetensors", gpt))
    half = compress.file_size(compress.save_float(tmp_path / "h.safetensors", gpt, dtype=torch.float16))
    int8 = compress.file_size(compress.save_int8(tmp_path / "q.safetensors", compress.quantize_int8(gpt)))
    pruned = compress.magnitude_prune(gpt, 0.9)
    sparse_path = compress.save_sparse(tmp_path / "s.safetensors", pruned)
    assert half < dense and int8 < dense and compress.file_size(sparse_path) < dense
    stored = load_file(str(sparse_path))
    for name, w in compress.prunable_weights(pruned).items():
        mask = _unpack(stored[f"{name}.mask"], w.numel())
        rebuilt = torch.zeros(w.numel())
        rebuilt[mask] = stored[f"{name}.values"]
        assert torch.equal(rebuilt.view(*stored[f"{name}.shape"].tolist()), w.detach())


def test_int8_file_holds_the_int8_weights(gpt, tmp_path):
    q = compress.quantize_int8(gpt)
    stored = load_file(str(compress.save_int8(tmp_path / "q.safetensors", q)))
    w = q.blocks[0].attn.qkv.weight()
    assert stored["blocks.0.attn.qkv.weight_int8"].dtype == torch.int8
    assert torch.equal(stored["blocks.0.attn.qkv.weight_int8"], w.int_repr())
    assert stored["blocks.0.attn.qkv.weight_scale"].item() == pytest.approx(w.q_scale())


def test_saving_a_float_model_as_int8_is_refused(gpt, tmp_path):
    with pytest.raises(ValueError, match="no int8 layers"):
        compress.save_int8(tmp_path / "x.safetensors", gpt)


def test_save_float_rejects_other_dtypes(gpt, tmp_path):
    with pytest.raises(ValueError, match="dtype must be"):
        compress.save_float(tmp_path / "x", gpt, dtype=torch.int8)


def test_distillation_loss_limits():
    torch.manual_seed(0)
    s, t = torch.randn(2, 3, 5), torch.randn(2, 3, 5)
    y = torch.randint(0, 5, (2, 3))
    ce = F.cross_entropy(s.reshape(-1, 5), y.reshape(-1))
    assert compress.distillation_loss(s, t, y, alpha=0.0) == pytest.approx(ce.item())
    assert compress.distillation_loss(s, s, y, alpha=1.0).item() == pytest.approx(0.0, abs=1e-6)
    kl = F.kl_div(F.log_softmax(s.reshape(-1, 5) / 3, -1), F.log_softmax(t.reshape(-1, 5) / 3, -1),
                  log_target=True, reduction="batchmean")
    assert compress.distillation_loss(s, t, y, temperature=3.0, alpha=1.0).item() == pytest.approx(9 * kl.item())


def test_distillation_loss_errors():
    s = torch.zeros(1, 2, 4)
    y = torch.zeros(1, 2, dtype=torch.long)
    with pytest.raises(ValueError, match="same vocabulary"):
        compress.distillation_loss(s, torch.zeros(1, 2, 5), y)
    with pytest.raises(ValueError, match="temperature must be > 0"):
        compress.distillation_loss(s, s, y, temperature=0)
    with pytest.raises(ValueError, match="alpha must be in"):
        compress.distillation_loss(s, s, y, alpha=1.5)


def test_distill_golden_history(tok):
    ids = tok.encode(TINY_TEXT)
    teacher, student = tiny_gpt(tok.vocab_size, seed=1), tiny_gpt(tok.vocab_size, seed=0)
    frozen = {k: v.clone() for k, v in teacher.state_dict().items()}
    history = compress.distill(student, teacher, ids, ids, quick())
    assert history.completed and history.steps == [3, 6] and history.tokens_seen == 6 * 4 * 8
    assert [round(x, 4) for x in history.step_loss] == pytest.approx(GOLDEN_DISTILL, abs=2e-4)
    assert [round(x, 4) for x in history.val_loss] == pytest.approx(GOLDEN_DISTILL_VAL, abs=2e-4)
    assert all(torch.equal(frozen[k], v) for k, v in teacher.state_dict().items())


# Measured once (torch 2.13 CPU, one thread); 4 decimals are stable across CPUs.
GOLDEN_DISTILL = [1.731, 1.7202, 1.6762, 1.7038, 1.6672, 1.6775]
GOLDEN_DISTILL_VAL = [3.3598, 3.3167]


def test_distill_checks_its_inputs(tok):
    ids = tok.encode(TINY_TEXT)
    with pytest.raises(ValueError, match="same tokenizer"):
        compress.distill(tiny_gpt(tok.vocab_size), tiny_gpt(tok.vocab_size + 1), ids, None, quick())
    with pytest.raises(ValueError, match="exceeds the teacher's block_size"):
        compress.distill(tiny_gpt(tok.vocab_size, block_size=32), tiny_gpt(tok.vocab_size, block_size=16), ids, None,
                         quick(seq_len=20))
    with pytest.raises(ValueError, match="must be a TrainConfig"):
        compress.distill(tiny_gpt(tok.vocab_size), tiny_gpt(tok.vocab_size), ids, None, {"steps": 3})
    with pytest.raises(ValueError, match="lmlib model"):
        compress.distill(torch.nn.Linear(2, 2), tiny_gpt(tok.vocab_size), ids, None, quick())


def test_generation_speeds_are_timed_round_robin(gpt, tok):
    ticks = itertools.count()

    def clock():
        return float(next(ticks))

    speeds = compress.generation_speeds({"a": gpt, "b": gpt}, tok.encode("The "), new_tokens=4, rounds=3, clock=clock)
    assert speeds == {"a": 4.0, "b": 4.0}  # each timing spans one clock tick


def test_generation_speeds_errors(gpt):
    with pytest.raises(ValueError, match="at least one model"):
        compress.generation_speeds({}, [1])
    with pytest.raises(ValueError, match="rounds must be a positive int"):
        compress.generation_speeds({"a": gpt}, [1], rounds=0)
    with pytest.raises(ValueError, match="new_tokens must be a positive int"):
        compress.generation_speeds({"a": gpt}, [1], new_tokens=0)
