"""lmlib.growth: exponential fits, Amdahl's law, and the throughput measurement (chapter 2)."""

import math

import pytest
import torch

from lmlib import growth, models, train


def test_exponential_fit_recovers_a_known_doubling_time():
    years = [2000, 2002, 2004, 2010]
    counts = [1000 * 2 ** ((y - 2000) / 2) for y in years]  # doubles every 2 years
    fit = growth.fit_exponential(years, counts)
    assert fit.doubling_time == pytest.approx(2.0)
    assert fit.r2 == pytest.approx(1.0)
    assert fit.predict(2006) == pytest.approx(8000)
    assert growth.doubling_time([1978, 1993], [29_000, 3_100_000]) == pytest.approx(15 / math.log2(3_100_000 / 29_000))


def test_exponential_fit_is_least_squares():
    years, counts = [0, 1, 2, 3], [1, 4, 2, 16]
    slope, intercept = torch.linalg.lstsq(
        torch.tensor([[1.0, y] for y in years], dtype=torch.float64),
        torch.tensor([[math.log2(c)] for c in counts], dtype=torch.float64),
    ).solution.flatten().tolist()[::-1]
    fit = growth.fit_exponential(years, counts)
    assert fit.slope == pytest.approx(slope) and fit.intercept == pytest.approx(intercept)
    assert 0 < fit.r2 < 1


def test_shrinking_series_has_no_doubling_time():
    assert growth.fit_exponential([0, 1], [4, 2]).doubling_time == math.inf


@pytest.mark.parametrize("years, counts", [([1], [1]), ([1, 2], [1]), ([1, 2], [1, 0]), ([3, 3], [1, 2]),
                                           ([1, 2], [1, float("nan")])])
def test_exponential_fit_rejects_bad_input(years, counts):
    with pytest.raises(ValueError):
        growth.fit_exponential(years, counts)


def test_amdahl():
    assert growth.amdahl_speedup(0.0, 8) == 8
    assert growth.amdahl_speedup(1.0, 8) == 1
    assert growth.amdahl_speedup(0.1, 8) == pytest.approx(1 / (0.1 + 0.9 / 8))
    for bad in [(-0.1, 2), (1.1, 2), (0.5, 0.5)]:
        with pytest.raises(ValueError):
            growth.amdahl_speedup(*bad)


def test_serial_fraction_fit_recovers_amdahl_and_clips():
    ns = [1, 2, 4, 8]
    assert growth.fit_serial_fraction(ns, [growth.amdahl_speedup(0.2, n) for n in ns]) == pytest.approx(0.2)
    assert growth.fit_serial_fraction([2], [2.5]) == 0.0  # faster than ideal: clipped
    assert growth.fit_serial_fraction([2], [0.5]) == 1.0  # slower with more threads: clipped
    with pytest.raises(ValueError, match="more than one thread"):
        growth.fit_serial_fraction([1], [1.0])
    with pytest.raises(ValueError):
        growth.fit_serial_fraction([2, 4], [1.5])


def test_thread_counts():
    assert growth.thread_counts(1) == [1]
    assert growth.thread_counts(2) == [1, 2]
    assert growth.thread_counts(6) == [1, 2, 4, 6]
    assert growth.thread_counts(8) == [1, 2, 4, 8]
    assert growth.thread_counts()[-1] == growth.available_threads()
    with pytest.raises(ValueError):
        growth.thread_counts(0)


def test_threads_context_restores_the_count():
    before = torch.get_num_threads()
    with growth.threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError):
        with growth.threads(1):
            raise RuntimeError("boom")
    assert torch.get_num_threads() == before
    with pytest.raises(ValueError):
        with growth.threads(0):
            pass


def test_measure_throughput_counts_tokens_and_restores_threads():
    before = torch.get_num_threads()
    ids = list(range(256)) * 8

    def make():
        torch.manual_seed(0)
        return models.RNNLM(models.RNNConfig(vocab_size=256, embedding_dim=8, hidden_dim=16))

    runs = growth.measure_throughput(make, ids, [1], train.TrainConfig(steps=3, batch_size=2, seq_len=8), repeats=2)
    assert torch.get_num_threads() == before
    assert [r.threads for r in runs] == [1]
    assert runs[0].steps == 3 and runs[0].tokens == 3 * 2 * 8 and runs[0].tokens_per_second > 0


def test_measure_throughput_stops_at_the_time_cap():
    def make():
        return models.RNNLM(models.RNNConfig(vocab_size=256, embedding_dim=8, hidden_dim=16))

    runs = growth.measure_throughput(make, list(range(256)) * 8, [1], train.TrainConfig(steps=10_000, batch_size=2, seq_len=8),
                                     max_seconds=0.05, warmup_steps=0)
    assert 1 <= runs[0].steps < 10_000


def test_measure_throughput_rejects_bad_arguments():
    make = lambda: models.RNNLM(models.RNNConfig(vocab_size=4))
    config = train.TrainConfig(steps=1, batch_size=1, seq_len=2)
    with pytest.raises(ValueError):
        growth.measure_throughput(make, [0, 1, 2, 3], [1], {"steps": 1})
    with pytest.raises(ValueError):
        growth.measure_throughput(make, [0, 1, 2, 3], [], config)
    with pytest.raises(ValueError):
        growth.measure_throughput(make, [0, 1, 2, 3], [1], config, repeats=0)
    with pytest.raises(ValueError):
        growth.measure_throughput(make, [0, 1, 2, 3], [1], config, max_seconds=0)
