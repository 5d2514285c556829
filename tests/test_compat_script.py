"""scripts/compat.py runs the same lmlib tests on every Python as `make test-lib` runs here."""

import re
from pathlib import Path

from conftest import load_repo_file

ROOT = Path(__file__).resolve().parent.parent


def _compat():
    return load_repo_file("scripts/compat.py", "compat_script")


def _make_test_lib_ignores() -> set[str]:
    text = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^test-lib:.*\n((?:\t.*\n)+)", text, re.M).group(1).replace("\\\n", " ")
    return {arg.replace("'", "") for arg in recipe.split() if arg.startswith("--ignore")}


def test_compat_runs_the_selection_of_make_test_lib():
    ignores = _make_test_lib_ignores()
    assert ignores, "the Makefile's test-lib recipe has no --ignore options (did its form change?)"
    assert set(_compat().LIB_TEST_SELECTION) == ignores
