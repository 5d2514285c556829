#!/usr/bin/env python3
"""Author step: re-execute book notebooks in place and store their outputs.

The book is built with ``execute_notebooks: "off"``, so what is stored here
is exactly what gets published (and what nbval re-checks in CI).

* Widget state is saved to ``metadata.widgets`` (nbclient's
  ``store_widget_state``), so the static page can render the widgets.
* Widget model ids (random uuid4 hex in the kernel) are rewritten to ids
  derived from the notebook name and order of appearance, and per-cell
  timing metadata is not recorded, so re-running an unchanged notebook
  gives a byte-identical file (clean git diffs).
* The kernel runs with ``LMLIB_BOOK_MODE=1`` and the repository root on PYTHONPATH, as under nbval
  (``conftest.py``), so stored and re-checked outputs are made the same way.

Usage: python book/execute_notebooks.py [NOTEBOOK ...]   (default: chapters/*.ipynb)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def kernel_env() -> None:
    """Environment the kernel inherits (shared with conftest.py for nbval)."""
    parts = [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(parts))
    os.environ["LMLIB_BOOK_MODE"] = "1"  # lmlib.plotting emits the book's offline figure HTML


def _widget_ids_in_order(nb) -> list[str]:
    ids: list[str] = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            view = out.get("data", {}).get(WIDGET_VIEW)
            if view and view.get("model_id"):
                ids.append(view["model_id"])
    state = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    ids.extend(state.keys())
    return list(dict.fromkeys(ids))


def stabilise_widget_ids(nb, salt: str):
    """Replace random widget model ids by deterministic ones (same 32-hex shape)."""
    ids = _widget_ids_in_order(nb)
    if not ids:
        return nb
    text = json.dumps(nb)
    for i, old in enumerate(ids):
        new = hashlib.sha256(f"{salt}:{i}".encode()).hexdigest()[:32]
        text = text.replace(old, new)
    return nbformat.from_dict(json.loads(text))


def execute(path: Path, timeout: int, kernel_name: str | None) -> None:
    nb = nbformat.read(path, as_version=4)
    # Drop stale state: nbclient only writes metadata.widgets if widgets exist.
    nb.metadata.pop("widgets", None)
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name=kernel_name or nb.metadata.get("kernelspec", {}).get("name", "python3"),
        resources={"metadata": {"path": str(path.parent)}},
        store_widget_state=True,
        record_timing=False,
    )
    client.execute()
    nb = stabilise_widget_ids(nb, salt=path.name)
    nbformat.validate(nb)
    nbformat.write(nb, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Re-execute book notebooks in place.")
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--timeout", type=int, default=600, help="per-cell timeout (s)")
    parser.add_argument("--kernel", default=None, help="kernel name (default: from notebook)")
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted((ROOT / "chapters").glob("*.ipynb"))
    kernel_env()
    for path in paths:
        print(f"[execute] {path}", flush=True)
        execute(path.resolve(), args.timeout, args.kernel)
    return 0


if __name__ == "__main__":
    sys.exit(main())
