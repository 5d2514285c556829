"""scripts/compat.py runs the same lmlib tests on every Python as `make test-lib` runs here."""

import importlib.util
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _compat():
    spec = importlib.util.spec_from_file_location("compat_script", ROOT / "scripts" / "compat.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _make_test_lib_ignores() -> set[str]:
    text = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^test-lib:.*\n((?:\t.*\n)+)", text, re.M).group(1).replace("\\\n", " ")
    return {arg.replace("'", "") for arg in recipe.split() if arg.startswith("--ignore")}


def test_compat_runs_the_selection_of_make_test_lib():
    ignores = _make_test_lib_ignores()
    assert ignores, "the Makefile's test-lib recipe has no --ignore options (did its form change?)"
    assert set(_compat().LIB_TEST_SELECTION) == ignores
