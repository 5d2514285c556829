"""Checks of chapter 8's exercises, part A: right answers pass, typical wrong ones get specific feedback."""

import math

import pytest
import torch

from lmlib import exercises
from lmlib.distributed import allreduce_bytes
from lmlib.exercises import exercise
from lmlib.exercises._core import Unanswered
from lmlib.scaling import fit_power_law, training_flops


def test_six_nd_check():
    n, d = 100_096, 2**20
    assert math.isclose(training_flops(n, d), 6 * n * d)
    assert exercises.check("8.1", 6 * n * d).passed
    assert exercises.check("8.1", 6.3e11).passed
    assert "forward pass only" in exercises.check("8.1", 2 * n * d).message
    assert "one token" in exercises.check("8.1", 6 * n).message
    assert not exercises.check("8.1", 1e9).passed


def test_compute_optimal_size_check():
    truth = math.sqrt(5.76e23 / 120)
    assert exercises.check("8.2", truth).passed and exercises.check("8.2", 6.9e10).passed
    assert "square root" in exercises.check("8.2", 5.76e23 / 120).message
    assert "left out the 20" in exercises.check("8.2", math.sqrt(5.76e23 / 6)).message
    assert "tokens" in exercises.check("8.2", 20 * truth).message


def test_exponent_check_agrees_with_the_library_fit():
    truth = math.log(2.0 / 1.6) / math.log(10)
    assert math.isclose(fit_power_law([10_000, 100_000], [2.0, 1.6]).exponent, truth, rel_tol=1e-9)
    assert exercises.check("8.3", truth).passed and exercises.check("8.3", 0.0969).passed
    assert "sign" in exercises.check("8.3", -truth).message
    assert "log(N2/N1)" in exercises.check("8.3", math.log(2.0 / 1.6)).message
    assert "1/alpha" in exercises.check("8.3", 1 / truth).message


def test_energy_and_mfu_checks():
    assert exercises.check("8.4", 3000).passed
    assert "time in seconds" in exercises.check("8.4", 200).message
    assert "watt-hours" in exercises.check("8.4", 3000 / 3600).message
    truth = 25_000 * 5.2e6 / 320e9
    assert exercises.check("8.5", truth).passed
    assert "fraction" in exercises.check("8.5", 100 * truth).message
    assert "upside down" in exercises.check("8.5", 1 / truth).message


def test_progress_ratio_check():
    assert exercises.check("8.6", 1000 / 440).passed
    assert "ratio of steps" in exercises.check("8.6", 2.5).message
    assert "fraction of the time" in exercises.check("8.6", 0.44).message


def test_rms_norm_function_check():
    def right(x, w, eps=1e-6):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w

    def layer_norm(x, w):
        return torch.nn.functional.layer_norm(x, (x.shape[-1],), w, None, eps=1e-6)

    assert exercise("8.7").kind == "function" and exercise("8.7").answer == "rms_norm"
    assert exercises.check("8.7", right).passed
    assert exercises.check("8.7", right, student="alice").passed  # the student's own cases
    assert "LayerNorm" in exercises.check("8.7", layer_norm).message
    assert "learned weight" in exercises.check("8.7", lambda x, w: right(x, torch.ones_like(w))).message
    assert "each vector" in exercises.check("8.7", lambda x, w: x * torch.rsqrt(x.pow(2).mean() + 1e-6) * w).message
    stub = exercises.check("8.7", lambda x, w: None)
    assert stub.status == "unanswered" and "returns None" in stub.message


def test_allreduce_check_agrees_with_the_library():
    assert allreduce_bytes(800_000, 4, 4) == 2 * 3 / 4 * 800_000 * 4
    assert exercises.check("8.8", 2 * 3 / 4 * 800_000 * 4).passed
    assert "one copy" in exercises.check("8.8", 3_200_000).message
    assert "bytes per value" in exercises.check("8.8", 1.5 * 800_000).message


def test_part_a_exercises_are_listed_in_order_with_their_kinds():
    part_a = [e for e in exercises.chapter_exercises(8) if int(e.id.split(".")[1]) <= 9]
    assert [e.id for e in part_a] == [f"8.{k}" for k in range(1, 10)]
    assert [e.kind for e in part_a] == ["number"] * 6 + ["function", "number", "written"]
    assert all(e.solution for e in part_a if e.kind == "number")
    with pytest.raises(ValueError, match="written answer"):
        exercises.check("8.9", "because")
    assert issubclass(Unanswered, Exception)
