#!/usr/bin/env python3
"""Write the book's repository into every chapter's set-up cell.

The repository is set in one place (``$BOOK_REPOSITORY_URL``, else ``repository.url`` in ``_config.yml``;
unset by default, see book/bookext/repository.py). The chapters' first code cell needs it too: on Colab it
installs lmlib from there, and with none named it tells the reader what to do instead. After changing
the setting run::

    python book/sync_repo_url.py

It rewrites only the set-up cell's source (the cell that starts with "# Set-up (the same in every
chapter)"), to the one template in book/bookext/repository.py; outputs and every other cell stay as they
are. A test (tests/test_book_structure.py) fails while any chapter disagrees.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from bookext.repository import (  # noqa: E402  (after the path set-up above)
    Repository,
    is_setup_cell,
    read_config,
    resolve,
    setup_cell_repository,
    setup_cell_source,
)


def configured(root: Path = ROOT) -> Repository | None:
    """The repository the book is configured with (None when unset)."""
    return resolve(*read_config(root))


def configured_url(root: Path = ROOT) -> str:
    """Its URL ("" when unset)."""
    repo = configured(root)
    return repo.url if repo else ""


def _setup_cells(nb) -> list:
    return [c for c in nb.cells if c.cell_type == "code" and is_setup_cell(c.source)]


def chapter_urls(root: Path = ROOT) -> dict[Path, list[str]]:
    """The URL each chapter's set-up cell installs from ("" where it names none)."""
    import nbformat

    found = {}
    for path in sorted((root / "chapters").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        found[path] = [setup_cell_repository(c.source) for c in _setup_cells(nb)]
    return found


def stale_setup_cells(root: Path = ROOT) -> list[Path]:
    """Chapters whose set-up cell differs from the template for the configured repository."""
    import nbformat

    want = setup_cell_source(configured(root))
    return [path for path in sorted((root / "chapters").glob("*.ipynb"))
            if [c.source for c in _setup_cells(nbformat.read(path, as_version=4))] != [want]]


def sync_notebook(path: Path, repository: Repository | None) -> bool:
    """Rewrite the set-up cell of the notebook at ``path``; True if it changed."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    want = setup_cell_source(repository)
    dirty = False
    for cell in _setup_cells(nb):
        if cell.source != want:
            cell.source = want
            dirty = True
    if dirty:
        nbformat.write(nb, path)
    return dirty


def sync(root: Path = ROOT) -> list[Path]:
    """Rewrite the chapters whose set-up cell is not the template for the configured repository."""
    repository = configured(root)
    return [path for path in sorted((root / "chapters").glob("*.ipynb")) if sync_notebook(path, repository)]


if __name__ == "__main__":
    try:
        changed = sync()
    except ValueError as err:
        sys.exit(f"sync_repo_url: {err}")
    print(f"repository {configured_url() or '(none named)'}: updated {len(changed)} chapter(s)")
