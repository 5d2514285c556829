"""The results and small models chapter 8's scripts ship (lmlib/assets/ch8*): present, small, verified, and
consistent with each other (the notebooks re-check one number of each live under nbval)."""

import json
import warnings
from importlib.resources import files

import pytest

from lmlib import checkpoint, compress

ASSETS = files("lmlib").joinpath("assets")
CHECKPOINTS = ["ch8-gpt", "ch8-student-distilled", "ch8-canary-gpt", "ch8-bias-gpt"]
RESULTS = ["ch8_compression", "ch8_privacy", "ch8_probes", "ch8_fairness", "ch8_multimodal"]


@pytest.mark.parametrize("name", CHECKPOINTS)
def test_checkpoints_are_small_and_verified(name):
    path = ASSETS.joinpath(f"{name}.lmlib")
    assert path.stat().st_size < 1_000_000, f"{name} is {path.stat().st_size:,} bytes; assets stay under 1 MB"
    with warnings.catch_warnings():
        warnings.simplefilter("error", checkpoint.UnverifiedCheckpointWarning)
        checkpoint.load(path)
    assert len(checkpoint.read_metadata(path)["sha256"]) == 64


@pytest.mark.parametrize("name", RESULTS)
def test_results_parse_and_stay_small(name):
    path = ASSETS.joinpath(f"{name}.json")
    assert path.stat().st_size < 200_000
    assert isinstance(json.loads(path.read_text()), dict)


def test_compression_table_describes_the_shipped_teacher(tmp_path):
    results = json.loads(ASSETS.joinpath("ch8_compression.json").read_text())
    rows = {r["variant"]: r for r in results["rows"]}
    teacher, _ = checkpoint.load(ASSETS.joinpath("ch8-gpt.lmlib"))
    student, _ = checkpoint.load(ASSETS.joinpath("ch8-student-distilled.lmlib"))
    assert compress.file_size(compress.save_float(tmp_path / "t.safetensors", teacher)) == rows["teacher (float32)"]["bytes"]
    assert compress.file_size(compress.save_float(tmp_path / "s.safetensors", student)) == \
        rows["student (float32), distilled"]["bytes"]
    assert [r["n_layer"] for r in (teacher.config_dict(), student.config_dict())] == \
        [results["recipe"]["teacher"][0], results["recipe"]["student"][0]]


def test_privacy_results_hold_both_runs_and_the_shipped_models_canaries():
    results = json.loads(ASSETS.joinpath("ch8_privacy.json").read_text())
    assert sorted(r["dedup"] for r in results["runs"]) == [False, True]
    plain = next(r for r in results["runs"] if not r["dedup"])
    extra = checkpoint.read_metadata(ASSETS.joinpath("ch8-canary-gpt.lmlib"))["extra"]
    assert extra["canaries"] == plain["canaries"]
    for run in results["runs"]:
        assert [e["step"] for e in run["evals"]][-1] == results["recipe"]["steps"]


def test_probe_results_cover_every_model_and_property():
    results = json.loads(ASSETS.joinpath("ch8_probes.json").read_text())
    models = {r["model"] for r in results["rows"]}
    assert {"GPT (base)", "GPT base, untrained", "GPT (ch8-gpt)", "GRU (first-taste)"} <= models
    for row in results["rows"]:
        for prop in ("in_string", "depth", "token_class"):
            assert 0.0 <= row[prop] <= 1.0
