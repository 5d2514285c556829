"""scripts/mutation_test.py: how it names mutated functions, which tests it runs, and what its kill rate counts."""

import importlib
from collections import Counter
from pathlib import Path

from conftest import load_repo_file

ROOT = Path(__file__).resolve().parent.parent


def _script():
    return load_repo_file("scripts/mutation_test.py", "mutation_script")


def test_mutant_names_map_to_functions_and_methods():
    script = _script()
    assert script._function("lmlib.train.x_fit__mutmut_12") == "fit"
    assert script._function("lmlib.models.xǁGPTǁforward__mutmut_3") == "GPT.forward"
    assert script._function("lmlib.generate.xǁ_OneTokenStepǁ_capture__mutmut_1") == "_OneTokenStep._capture"


def test_cuda_only_mutants_are_left_out_only_without_cuda():
    script = _script()
    name = "lmlib.generate.xǁ_OneTokenStepǁ_replay__mutmut_2"
    assert script._needs_cuda("generate", name, cuda=False)
    assert not script._needs_cuda("generate", name, cuda=True)
    assert not script._needs_cuda("generate", "lmlib.generate.xǁ_OneTokenStepǁ__call____mutmut_2", cuda=False)
    assert not script._needs_cuda("models", "lmlib.models.x_build__mutmut_1", cuda=False)


def test_the_cuda_only_functions_exist():
    """A renamed function would silently stop being left out (and its mutants would count as survivors)."""
    script = _script()
    for module, functions in script.NEEDS_CUDA.items():
        for qualified in functions:
            obj = importlib.import_module(f"lmlib.{module}")
            for part in qualified.split("."):
                obj = getattr(obj, part)
            assert callable(obj), qualified


def test_kill_rate_counts_neither_unrun_nor_cuda_only_mutants():
    script = _script()
    counts = Counter({"mutants": 20, "killed": 8, "timeout": 1, "survived": 1, "needs CUDA": 6, "not run": 4})
    row = script._row("generate", counts)
    assert row.split()[0] == "generate" and row.endswith("90.0%")  # (8 + 1) / (20 - 6 - 4)


def test_every_core_module_has_a_test_selection_that_exists():
    script = _script()
    assert set(script.SELECTION) == set(script.CORE)
    for module, files in script.SELECTION.items():
        assert (ROOT / "lmlib" / f"{module}.py").exists(), module
        for name in files:
            assert (ROOT / "tests" / name).exists(), (module, name)
