"""The book's repository setting (book/bookext/repository.py): checked, every link derived from it, and the
chapters' set-up cell doing the right thing with and without it."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "book"))

from bookext.repository import (  # noqa: E402
    ENV_BRANCH,
    ENV_URL,
    Repository,
    is_placeholder,
    parse_repository,
    resolve,
    setup_cell_repository,
    setup_cell_source,
)


@pytest.mark.parametrize("url, owner, name", [
    ("https://github.com/ada-lovelace/llm-book", "ada-lovelace", "llm-book"),
    ("https://github.com/ada-lovelace/llm-book/", "ada-lovelace", "llm-book"),
    ("https://github.com/ada-lovelace/llm-book.git", "ada-lovelace", "llm-book"),
    ("  https://github.com/A_b.c/d-e.f  ", "A_b.c", "d-e.f"),
])
def test_github_urls_parse(url, owner, name):
    assert parse_repository(url) == Repository(owner, name, "main")


@pytest.mark.parametrize("url, message", [
    ("https://github.com/example-org/llm-cpu-path", "placeholder"),
    ("https://example.org/llm-cpu-path", "placeholder"),
    ("https://github.com/your-org/book", "placeholder"),
    ("https://gitlab.com/ada/book", "not supported"),
    ("http://github.com/ada/book", "not supported"),
    ("https://github.com/ada", "exactly an owner and a repository"),
    ("https://github.com/ada/book/tree/main", "exactly an owner and a repository"),
    ("https://github.com/ada/book?tab=readme", "query or fragment"),
    ("https://github.com/ada/bo ok", "characters"),
])
def test_bad_urls_are_refused_with_the_reason(url, message):
    with pytest.raises(ValueError, match=message):
        parse_repository(url)


def test_empty_means_unset_and_placeholders_are_recognised():
    assert parse_repository("") is None and parse_repository("   ") is None
    assert is_placeholder("https://github.com/example-org/x") and is_placeholder("https://docs.example/x")
    assert not is_placeholder("https://github.com/executablebooks/jupyter-book")


def test_links_are_formed_from_owner_name_and_branch():
    repo = Repository("ada-lovelace", "llm-book", "dev/1")
    assert repo.url == "https://github.com/ada-lovelace/llm-book"
    assert repo.colab_url("chapters/02_core_concepts.ipynb") == (
        "https://colab.research.google.com/github/ada-lovelace/llm-book/blob/dev/1/chapters/02_core_concepts.ipynb")
    assert repo.binder_url("chapters/02_core_concepts.ipynb") == (
        "https://mybinder.org/v2/gh/ada-lovelace/llm-book/dev/1?urlpath=lab/tree/chapters/02_core_concepts.ipynb")


def test_the_environment_variable_wins_over_the_config():
    env = {ENV_URL: "https://github.com/grace/fork", ENV_BRANCH: "pages"}
    assert resolve("https://github.com/ada/book", "main", env) == Repository("grace", "fork", "pages")
    assert resolve("https://github.com/ada/book", "stable", {}) == Repository("ada", "book", "stable")
    assert resolve("", "", {}) is None
    with pytest.raises(ValueError, match="placeholder"):
        resolve("", "", {ENV_URL: "https://github.com/example-org/x"})


def test_the_setup_cell_names_the_repository():
    assert setup_cell_repository(setup_cell_source(None)) == ""
    assert setup_cell_repository(setup_cell_source(Repository("ada", "book"))) == "https://github.com/ada/book"


def _run_setup_cell(tmp_path, source: str, colab: bool) -> subprocess.CompletedProcess:
    """Run a set-up cell where lmlib is not importable, with a fake Colab and a pip that only records."""
    prelude = (
        "import sys, types, subprocess, importlib.util\n"
        "real_find_spec = importlib.util.find_spec\n"
        "importlib.util.find_spec = lambda name, *a: None if name == 'lmlib' else real_find_spec(name, *a)\n"
        + ("sys.modules['google.colab'] = types.ModuleType('google.colab')\n" if colab else "")
        + "def fake_run(cmd, check=False):\n"
        "    print('PIP', ' '.join(cmd[1:]))\n"
        "    raise SystemExit(0)\n"
        "subprocess.run = fake_run\n"
    )
    script = tmp_path / "cell.py"
    script.write_text(prelude + source, encoding="utf-8")
    return subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True)


def test_setup_cell_without_a_repository_says_what_to_do(tmp_path):
    result = _run_setup_cell(tmp_path, setup_cell_source(None), colab=True)
    assert result.returncode != 0 and "PIP" not in result.stdout
    assert "ModuleNotFoundError: lmlib, the book's library, is not installed. On Colab: set REPOSITORY" in result.stderr
    assert "upload the repository's lmlib folder" in result.stderr


def test_setup_cell_with_a_repository_installs_on_colab(tmp_path):
    result = _run_setup_cell(tmp_path, setup_cell_source(Repository("ada", "book")), colab=True)
    assert result.stdout.strip() == "PIP -m pip install -q git+https://github.com/ada/book", result.stderr
    outside = _run_setup_cell(tmp_path, setup_cell_source(Repository("ada", "book")), colab=False)
    assert "PIP" not in outside.stdout and "Elsewhere: pip install" in outside.stderr
