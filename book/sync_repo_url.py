#!/usr/bin/env python3
"""Copy the repository URL from _config.yml into every chapter's set-up cell.

The URL lives in one place, ``repository.url`` in ``_config.yml``: launch buttons, thebe and the repository
button read it there. The chapters' first cell also needs it (on Colab it installs lmlib from it), so
after changing the URL run::

    python book/sync_repo_url.py

A test (tests/test_book_structure.py) fails while any chapter disagrees with _config.yml.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PATTERN = re.compile(r'^REPOSITORY = "[^"]*"', re.MULTILINE)


def configured_url(root: Path = ROOT) -> str:
    """``repository.url`` from ``_config.yml``."""
    import yaml

    return yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8"))["repository"]["url"]


def chapter_urls(root: Path = ROOT) -> dict[Path, list[str]]:
    """The URL each chapter's set-up cell installs from."""
    import nbformat

    found = {}
    for path in sorted((root / "chapters").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        found[path] = [m.group(0).split('"')[1] for c in nb.cells if c.cell_type == "code"
                       for m in PATTERN.finditer(c.source)]
    return found


def sync(root: Path = ROOT) -> list[Path]:
    """Rewrite the chapters whose set-up cell names another URL; return them."""
    import nbformat

    url = configured_url(root)
    changed = []
    for path in sorted((root / "chapters").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        dirty = False
        for cell in nb.cells:
            if cell.cell_type == "code" and PATTERN.search(cell.source):
                new = PATTERN.sub(f'REPOSITORY = "{url}"', cell.source)
                dirty |= new != cell.source
                cell.source = new
        if dirty:
            nbformat.write(nb, path)
            changed.append(path)
    return changed


if __name__ == "__main__":
    changed = sync()
    print(f"repository URL {configured_url()}: updated {len(changed)} chapter(s)")
    sys.exit(0)
