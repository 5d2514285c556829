"""Checks of chapter 2's exercises: right answers pass, typical wrong ones get specific feedback."""

import math

from lmlib import exercises, growth


def test_doubling_time_check():
    truth = 15 / math.log2(3_100_000 / 29_000)
    assert exercises.check("2.1", truth).passed
    assert exercises.check("2.1", round(truth, 2)).passed
    assert "natural logarithm" in exercises.check("2.1", 15 / math.log(3_100_000 / 29_000)).message
    assert "log10" in exercises.check("2.1", 15 / math.log10(3_100_000 / 29_000)).message
    assert "number of doublings" in exercises.check("2.1", math.log2(3_100_000 / 29_000)).message
    assert "inverse" in exercises.check("2.1", 1 / truth).message
    assert not exercises.check("2.1", 5).passed


def test_amdahl_check():
    assert exercises.check("2.2", 1 / (0.1 + 0.9 / 8)).passed
    assert exercises.check("2.2", 4.71).passed
    assert "ideal" in exercises.check("2.2", 8).message
    assert "limit" in exercises.check("2.2", 10).message
    assert "Gustafson" in exercises.check("2.2", 0.1 + 0.9 * 8).message
    assert "swapped" in exercises.check("2.2", growth.amdahl_speedup(0.9, 8)).message
    assert not exercises.check("2.2", "four").passed  # not a number: reported, not raised


def test_serial_fraction_check():
    truth = (1 / 3.2 - 1 / 4) / (1 - 1 / 4)
    assert exercises.check("2.3", truth).passed
    assert exercises.check("2.3", 0.083).passed
    assert "efficiency" in exercises.check("2.3", 1 - 3.2 / 4).message
    assert "parallel fraction" in exercises.check("2.3", 1 - truth).message
    assert "divide" in exercises.check("2.3", 1 / 3.2 - 1 / 4).message
    assert "between 0 and 1" in exercises.check("2.3", 3).message
