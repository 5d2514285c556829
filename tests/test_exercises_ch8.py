"""Checks of chapter 8's exercises: right answers pass, typical wrong ones get specific feedback."""

import math

import torch

from lmlib import exercises


def test_six_nd_check():
    n, d = 100_096, 2**20
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


def test_exponent_check():
    truth = math.log(2.0 / 1.6) / math.log(10)
    assert exercises.check("8.3", truth).passed and exercises.check("8.3", 0.0969).passed
    assert "sign" in exercises.check("8.3", -truth).message
    assert "log(N2/N1)" in exercises.check("8.3", math.log(2.0 / 1.6)).message
    assert "1/alpha" in exercises.check("8.3", 1 / truth).message


def test_progress_ratio_check():
    assert exercises.check("8.4", 1000 / 440).passed
    assert "ratio of steps" in exercises.check("8.4", 2.5).message
    assert "fraction of the time" in exercises.check("8.4", 0.44).message


def test_rms_norm_code_check():
    def right(x, w, eps=1e-6):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w

    def layer_norm(x, w):
        return torch.nn.functional.layer_norm(x, (x.shape[-1],), w, None, eps=1e-6)

    assert exercises.check("8.5", right).passed
    assert "LayerNorm" in exercises.check("8.5", layer_norm).message
    assert "learned weight" in exercises.check("8.5", lambda x, w: right(x, torch.ones_like(w))).message
    assert "each vector" in exercises.check("8.5", lambda x, w: x * torch.rsqrt(x.pow(2).mean() + 1e-6) * w).message
    assert "returned None" in exercises.check("8.5", lambda x, w: None).message


def test_energy_mfu_and_allreduce_checks():
    assert exercises.check("8.7", 3000).passed
    assert "time in seconds" in exercises.check("8.7", 200).message
    assert "watt-hours" in exercises.check("8.7", 3000 / 3600).message
    truth = 25_000 * 5.2e6 / 320e9
    assert exercises.check("8.8", truth).passed
    assert "fraction" in exercises.check("8.8", 100 * truth).message
    assert "upside down" in exercises.check("8.8", 1 / truth).message
    assert exercises.check("8.9", 2 * 3 / 4 * 800_000 * 4).passed
    assert "one copy" in exercises.check("8.9", 3_200_000).message
    assert "4 bytes" in exercises.check("8.9", 1.5 * 800_000).message
