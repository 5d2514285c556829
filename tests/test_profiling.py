"""lmlib.profiling: the profiled training step trains like fit, and the summaries add up."""

import math

import pytest
import torch

from conftest import TINY_TEXT, tiny_gpt
from lmlib import profiling, tokenizers, train


def _step(fused=False):
    tok = tokenizers.CharTokenizer.fit(TINY_TEXT)
    model = tiny_gpt(tok.vocab_size)
    config = train.TrainConfig(batch_size=4, seq_len=8, lr=3e-3, seed=0)
    optimizer = profiling.fused_adamw(model, config) if fused else None
    return profiling.TrainingStep(model, tok.encode(TINY_TEXT), config, optimizer)


def test_training_step_matches_fit():
    tok = tokenizers.CharTokenizer.fit(TINY_TEXT)
    config = train.TrainConfig(steps=5, batch_size=4, seq_len=8, lr=3e-3, seed=0, progress=False)
    history = train.fit(tiny_gpt(tok.vocab_size), tok.encode(TINY_TEXT), None, config, device="cpu")
    step = profiling.TrainingStep(tiny_gpt(tok.vocab_size), tok.encode(TINY_TEXT), config)
    assert [step() for _ in range(5)] == pytest.approx(history.step_loss, rel=1e-5)


def test_fused_adamw_makes_the_same_update():
    plain, fused = _step(), _step(fused=True)
    losses = [(plain(), fused()) for _ in range(4)]
    for a, b in losses:
        assert a == pytest.approx(b, rel=1e-4)
    for p, q in zip(plain.model.parameters(), fused.model.parameters()):
        assert torch.allclose(p, q, atol=1e-5)
    assert fused.optimizer.defaults["fused"] is True
    assert [g["weight_decay"] for g in fused.optimizer.param_groups] == [0.0, 0.0]


def test_profile_rows_phases_and_shares():
    step = _step()
    prof = profiling.profile_steps(step, steps=2, warmup=1)
    rows = profiling.operator_rows(prof, top=None)
    assert sum(r.share for r in rows) == pytest.approx(1.0)
    assert rows == sorted(rows, key=lambda r: r.self_ms, reverse=True)
    assert any(r.name == "aten::mm" or r.name == "aten::addmm" for r in rows)
    assert 0.0 < profiling.matmul_share(rows) < 1.0
    phases = profiling.phase_times(prof, steps=2)
    assert set(phases) == set(profiling.PHASES)
    assert all(v >= 0 for v in phases.values())
    assert len(profiling.operator_rows(prof, top=3)) == 3


def test_matmul_share_counts_only_the_multiplying_operators():
    rows = [("aten::linear", 5.0), ("aten::mm", 30.0), ("aten::addmm", 10.0), ("aten::gelu", 55.0)]
    assert profiling.matmul_share(rows) == pytest.approx(0.4)
    with pytest.raises(ValueError, match="add up to zero"):
        profiling.matmul_share([("aten::mm", 0.0)])


def test_time_steps_interleaves_and_counts():
    calls = []
    times = profiling.time_steps({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, n=2, repeats=3)
    assert calls == ["a", "a", "b", "b"] * 3
    assert set(times) == {"a", "b"} and all(len(v) == 3 and all(math.isfinite(x) for x in v) for v in times.values())
    with pytest.raises(ValueError):
        profiling.time_steps({"a": lambda: None}, n=0)
