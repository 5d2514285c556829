"""With a repository configured, every launch link is formed for it; a placeholder refuses to build.

A small book (the intro and chapter 4, with the real configuration, extension and assets) is built with
``BOOK_REPOSITORY_URL`` and ``BOOK_REPOSITORY_BRANCH`` set, as ``make book BOOK_REPOSITORY_URL=...`` does.
Its Colab, Binder and repository links must be exactly the ones for that repository and branch; the
notebook a reader downloads must install lmlib from it; "Live code" must load thebe from the book's own
assets and say that Binder cannot be reached (the test browser reaches nothing but the local server).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bookbrowser import ROOT, Visit, serve

REPO = "https://github.com/ada-lovelace/llm-book"
BRANCH = "stable"
CHAPTER = "chapters/04_mathematical_model"
COLAB = f"https://colab.research.google.com/github/ada-lovelace/llm-book/blob/{BRANCH}/{CHAPTER}.ipynb"
BINDER = f"https://mybinder.org/v2/gh/ada-lovelace/llm-book/{BRANCH}?urlpath=lab/tree/{CHAPTER}.ipynb"


def _small_book(where: Path) -> Path:
    where.mkdir(parents=True, exist_ok=True)
    for name in ("_config.yml", "intro.md", "references.bib"):
        shutil.copy(ROOT / name, where / name)
    (where / "_toc.yml").write_text(f"format: jb-book\nroot: intro\nchapters:\n  - file: {CHAPTER}\n")
    (where / "chapters").mkdir(exist_ok=True)
    shutil.copy(ROOT / f"{CHAPTER}.ipynb", where / f"{CHAPTER}.ipynb")
    if not (where / "book").exists():
        (where / "book").symlink_to(ROOT / "book", target_is_directory=True)
    return where


def _build(where: Path, url: str, branch: str = "") -> subprocess.CompletedProcess:
    if not (ROOT / "book" / "static_vendor" / "vendored" / "thebe" / "index.js").exists():
        subprocess.run([sys.executable, str(ROOT / "book" / "fetch_assets.py")], check=True, cwd=ROOT)
    env = {**os.environ, "BOOK_REPOSITORY_URL": url, "BOOK_REPOSITORY_BRANCH": branch}
    jb = shutil.which("jupyter-book") or "jupyter-book"
    # (no -W: chapter 4 links to the glossary and chapters left out of this small book)
    return subprocess.run([jb, "build", ".", "--keep-going", "--all"], cwd=where, env=env,
                          capture_output=True, text=True)


@pytest.fixture(scope="module")
def book_with_repository(tmp_path_factory) -> Path:
    where = _small_book(tmp_path_factory.mktemp("launch") / "book")
    result = _build(where, REPO, BRANCH)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return where / "_build" / "html"


def test_launch_links_name_the_repository_and_branch(book_with_repository):
    html = (book_with_repository / f"{CHAPTER}.html").read_text(encoding="utf-8")
    assert f'href="{COLAB}"' in html
    assert f'href="{BINDER}"' in html
    assert f'href="{REPO}"' in html  # the repository button
    assert 'class="btn btn-sm btn-launch-thebe dropdown-item"' in html  # live code, loaded only when clicked
    assert "_static/book_live.js" in html and '"repo": "ada-lovelace/llm-book", "ref": "stable"' in html
    assert "unpkg.com" not in html and "THEBE_JS_URL" not in html and "sphinx-thebe.js" not in html
    # the stored widget's note offers the same places to run it
    note = html[html.index('class="book-widget-note"'):]
    note = note[:note.index("</p>")]
    assert f'href="{COLAB}"' in note and f'href="{BINDER}"' in note and "_sources/" in note
    intro = (book_with_repository / "intro.html").read_text(encoding="utf-8")
    assert f'href="{REPO}"' in intro


def test_downloaded_notebook_installs_from_the_repository(book_with_repository):
    import nbformat

    nb = nbformat.read(book_with_repository / "_sources" / f"{CHAPTER}.ipynb", as_version=4)
    setup = next(c for c in nb.cells if c.cell_type == "code")
    assert f'REPOSITORY = "{REPO}"' in setup.source


def test_live_code_loads_thebe_locally_and_says_binder_is_unreachable(browser, book_with_repository):
    server, url = serve(book_with_repository)
    # the probe of mybinder.org is aborted by the test (no network), which the browser logs as an error
    visit = Visit(browser, f"{url}/{CHAPTER}.html", allow_errors=("Failed to load resource",))
    try:
        visit.page.click(".dropdown-launch-buttons > button")
        visit.page.click(".btn-launch-thebe")
        visit.page.wait_for_selector(".book-live-error", timeout=60_000)
        message = visit.page.inner_text(".book-live-status")
        loaded = visit.page.evaluate("() => performance.getEntriesByType('resource').map(e => e.name)")
    finally:
        visit.close()
        server.shutdown()
        server.server_close()
    assert "Binder (https://mybinder.org) cannot be reached" in message and "open this chapter on Colab" in message
    assert any(u.startswith(url) and u.split("?")[0].endswith("/_static/vendored/thebe/index.js") for u in loaded)
    assert visit.problems["external"] == ["https://mybinder.org/"], visit.problems["external"]
    assert not visit.problems["console"] and not visit.problems["http"]


def test_a_placeholder_repository_fails_the_build(tmp_path):
    where = _small_book(tmp_path / "book")
    result = _build(where, "https://github.com/example-org/llm-cpu-path")
    assert result.returncode != 0
    assert "is a placeholder" in result.stdout + result.stderr
