"""The book's structure: every chapter is in the table of contents and vice versa, stored with outputs,
starts with the shared set-up cell, and ends with a summary and exercises."""

import re
from pathlib import Path

import nbformat
import pytest

from booktoc import toc_files
from conftest import load_repo_file

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))


def _load_sync():
    return load_repo_file("book/sync_repo_url.py", "sync_repo_url")


def test_there_are_chapters():
    assert CHAPTERS, "no notebooks in chapters/"


# Pages in chapters/ that are not notebooks: appendix C, the lmlib reference, generated from lmlib's source
# when the book is built (book/bookext/apiref.py; tests/test_api_reference.py).
MARKDOWN_PAGES = {"chapters/appendix_c_lmlib_reference"}


def test_every_notebook_is_in_the_toc_and_back():
    in_toc = {f for f in toc_files() if f.startswith("chapters/")}
    on_disk = {f"chapters/{p.stem}" for p in CHAPTERS}
    assert on_disk - in_toc == set(), f"notebooks missing from _toc.yml: {sorted(on_disk - in_toc)}"
    assert in_toc - on_disk == MARKDOWN_PAGES, f"_toc.yml entries without a notebook: {sorted(in_toc - on_disk - MARKDOWN_PAGES)}"
    for page in MARKDOWN_PAGES:
        assert (ROOT / f"{page}.md").is_file(), f"{page}.md is listed in _toc.yml but missing"


def test_the_reference_is_the_last_appendix():
    assert toc_files()[-1] == "chapters/appendix_c_lmlib_reference"
    assert toc_files()[-2] == "chapters/appendix_b_further_reading"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_notebook_is_committed_with_outputs(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    unexecuted = [i for i, c in enumerate(code) if c.execution_count is None]
    assert not unexecuted, f"{path.name}: code cells {unexecuted} were never executed; run `make execute`"
    assert sum(bool(c.outputs) for c in code) >= len(code) // 2, f"{path.name}: most cells have no output"
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    assert not errors, f"{path.name}: stored outputs contain errors: {[e.ename for e in errors]}"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_shape(path):
    nb = nbformat.read(path, as_version=4)
    first_code = next(c for c in nb.cells if c.cell_type == "code")
    assert "from lmlib import envreport, runtime" in first_code.source
    assert "runtime.seed_everything(0)" in first_code.source
    title = nb.cells[0].source
    assert re.search(r"^# \d+ .*\(.*[\u4e00-\u9fff].*\)", title, re.M), "title needs number and Chinese heading"
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    for heading in ("## Summary", "## Exercises", "## Where this goes next"):
        assert heading in text, f"{path.name} lacks '{heading}'"
    assert "```{exercise}" in text and "{solution}" in text
    assert ":class: dropdown" in text, "solutions must be hidden until opened"


def test_chapters_install_from_the_configured_repository():
    sync = _load_sync()
    url = sync.configured_url(ROOT)
    for path, urls in sync.chapter_urls(ROOT).items():
        assert urls == [url], f"{path.name} installs from {urls}, the book's repository is {url!r}; run book/sync_repo_url.py"
    assert sync.stale_setup_cells(ROOT) == [], "set-up cells differ from the template; run book/sync_repo_url.py"


def test_sync_repo_url_rewrites_the_setup_cells(tmp_path, monkeypatch):
    monkeypatch.delenv("BOOK_REPOSITORY_URL", raising=False)
    sync = _load_sync()
    (tmp_path / "chapters").mkdir()
    (tmp_path / "_config.yml").write_text("repository:\n  url: https://github.com/ada-lovelace/llm-book\n")
    old = sync.setup_cell_source(sync.Repository("old-owner", "repo"))
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# 9 A chapter (章)"), nbformat.v4.new_code_cell(old),
                nbformat.v4.new_code_cell('REPOSITORY = "https://github.com/old-owner/repo"  # not the set-up cell')]
    nbformat.write(nb, tmp_path / "chapters" / "x.ipynb")
    assert sync.sync(tmp_path) == [tmp_path / "chapters" / "x.ipynb"]
    assert sync.chapter_urls(tmp_path)[tmp_path / "chapters" / "x.ipynb"] == ["https://github.com/ada-lovelace/llm-book"]
    cells = nbformat.read(tmp_path / "chapters" / "x.ipynb", as_version=4).cells
    assert cells[2].source.startswith('REPOSITORY = "https://github.com/old-owner/repo"')  # only the set-up cell
    assert sync.sync(tmp_path) == []
    monkeypatch.setenv("BOOK_REPOSITORY_URL", "https://github.com/grace-hopper/fork")  # the variable wins
    assert sync.sync(tmp_path) == [tmp_path / "chapters" / "x.ipynb"]
    assert sync.chapter_urls(tmp_path)[tmp_path / "chapters" / "x.ipynb"] == ["https://github.com/grace-hopper/fork"]


def test_ignored_output_cells_say_why():
    """A cell whose output nbval does not compare says why: in a first line ``# nbval-ignore-output: why``,
    or, to keep the visible code about its subject, in the cell's metadata ``"nbval-ignore-output": "why"``."""
    for path in CHAPTERS:
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if "nbval-ignore-output" in cell.metadata.get("tags", []):
                reason = cell.metadata.get("nbval-ignore-output")
                assert (isinstance(reason, str) and reason.strip()) or "# nbval-ignore-output:" in cell.source, (
                    f"{path.name}: a cell skips output comparison without saying why:\n{cell.source[:200]}"
                )


def test_cells_that_say_their_output_is_ignored_are_tagged_so_for_nbval():
    # nbval reads the cell tag, not the comment: a comment alone would compare machine-dependent output
    for path in CHAPTERS:
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "code" and cell.source.lstrip().startswith("# nbval-ignore-output"):
                assert "nbval-ignore-output" in cell.metadata.get("tags", []), (
                    f"{path.name}: the cell says its output is ignored but has no nbval-ignore-output tag:\n"
                    f"{cell.source[:200]}")


def test_the_article_is_named_by_its_own_title():
    # the article's real title and its translation, wherever the book names the article
    title = "LLM生态系统：仿效CPU发展模式的可能性"
    translation = "The LLM ecosystem: the possibility of following the CPU's model of development"
    chapter_1 = "\n".join(c.source for c in nbformat.read(CHAPTERS[0], as_version=4).cells)
    for name, text in [("README.md", (ROOT / "README.md").read_text(encoding="utf-8")),
                       ("intro.md", (ROOT / "intro.md").read_text(encoding="utf-8")),
                       (CHAPTERS[0].name, chapter_1)]:
        flat = " ".join(text.split())
        assert title in flat and translation in flat, f"{name} does not quote the article's title and its translation"


def test_binder_renders_myst():
    """Binder's JupyterLab renders the chapters' MyST markup (exercises, {ref}, {term}) instead of raw text."""
    import yaml

    env = yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))
    names = [d.split(">")[0].split("=")[0].strip() for d in env["dependencies"] if isinstance(d, str)]
    assert "jupyterlab-myst" in names and "jupyterlab" in names
