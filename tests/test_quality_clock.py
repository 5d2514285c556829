"""The 60-second benchmark's clock-driven schedule (benchmarks/quality.py, ``ClockSchedule``, ``fit_for``)
and its per-group weight decay (``make_optimizer``).

The benchmark is a script, not part of lmlib; these tests pin the part of its protocol that decides what a
candidate's minute of training means: the learning rate follows the elapsed fraction of the budget, every
parameter group keeps its ratio to the others, and training stops when the budget is spent.
"""
from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import pytest
import torch

from lmlib import models, train

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def quality():
    sys.path.insert(0, str(BENCH))  # quality.py imports its siblings _common and quality_candidates
    try:
        yield _load("quality")
    finally:
        sys.path.remove(str(BENCH))


@pytest.fixture(scope="module")
def candidates():
    return _load("quality_candidates")


def tiny_lstm() -> models.RNNLM:
    torch.manual_seed(0)
    return models.build("rnn", {"vocab_size": 11, "embedding_dim": 8, "hidden_dim": 16, "cell": "lstm"})


def muon_fc(candidates):
    return candidates.to_zero(batch=4, seq=8, lr=2e-2, muon_lr=0.03, ns_steps=3)


def test_factor_follows_the_candidates_schedule_over_the_fraction(quality, candidates):
    fc = muon_fc(candidates)  # 2 % linear warm-up, then a cosine to zero
    opt = train.make_optimizer(tiny_lstm(), quality.train_config(fc, 100))
    clock = quality.ClockSchedule(fc, opt, budget=60.0)
    assert clock.factor(0.0) == pytest.approx(1 / 200)  # the first of 200 virtual warm-up steps
    assert clock.factor(0.01) == pytest.approx(0.5, abs=0.01)
    assert clock.factor(0.02) == pytest.approx(1.0)
    # halfway through the decay (which spans fractions 0.02..1) the cosine is at half its peak
    assert clock.factor(0.02 + 0.98 / 2) == pytest.approx(0.5, abs=1e-3)
    assert clock.factor(0.9999) < 1e-6
    assert clock.factor(1.5) == clock.factor(0.9999)  # past the end: the last step's rate


def test_every_group_is_scaled_and_keeps_its_ratio(quality, candidates):
    fc = muon_fc(candidates)
    opt = train.make_optimizer(tiny_lstm(), quality.train_config(fc, 100))
    before = [g["lr_scale"] for g in opt.param_groups]
    assert before[0] == pytest.approx(0.03 / 2e-2)  # Muon's group runs 1.5 x the AdamW rate
    clock = quality.ClockSchedule(fc, opt, budget=60.0)
    clock._set(0.51)
    f = clock.factor(0.51)
    assert 0 < f < 1
    assert [g["lr_scale"] for g in opt.param_groups] == pytest.approx([b * f for b in before])


def test_fit_for_stops_at_the_budget_with_the_decay_complete(quality, candidates):
    model = tiny_lstm()
    ids = torch.randint(0, 11, (400,), generator=torch.Generator().manual_seed(0))
    fc = muon_fc(candidates)
    hist, clock = quality.fit_for(model, ids, fc, seconds=0.5, seed=0)
    assert hist.stop_reason == "stopped by callback"
    assert hist.elapsed >= 0.5
    assert len(hist.step_loss) >= 2 and all(math.isfinite(v) for v in hist.step_loss)
    assert clock.last_factor < 0.05  # the last rate set came from the end of the cosine
    assert set(hist.lr) == {fc["lr"]}  # fit's own schedule is constant: the clock scales it


def test_weight_decay_split_by_group(quality, candidates):
    fc = candidates.to_zero(batch=4, seq=8, lr=2e-2, muon_lr=0.03, ns_steps=3, wd=0.07)
    config = quality.train_config(fc, 100)
    decays = lambda f: [g["weight_decay"] for g in quality.make_optimizer(tiny_lstm(), f, config).param_groups]  # noqa: E731
    assert decays(fc) == [0.07, 0.07, 0.0]  # Muon's matrices, AdamW's embedding and head, the vectors
    assert decays({**fc, "adamw_wd": 0.0}) == [0.07, 0.0, 0.0]
    assert decays({**fc, "muon_wd": 0.0}) == [0.0, 0.07, 0.0]
    assert decays({**fc, "muon_wd": 0.1, "adamw_wd": 0.03}) == [0.1, 0.03, 0.0]
