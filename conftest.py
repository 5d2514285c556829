"""pytest configuration for the whole repository (lmlib tests, nbval on the chapters, the browser test).

nbval starts each notebook's kernel as a subprocess that inherits this environment, so the chapters are
re-executed exactly as ``book/execute_notebooks.py`` stored them (keep the two in sync):

* ``LMLIB_BOOK_MODE=1``: ``lmlib.plotting.show`` emits the book's deterministic, offline figure HTML;
* the repository root on PYTHONPATH, so the kernel imports this checkout's lmlib.
"""

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent

_parts = [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(_parts))
os.environ["LMLIB_BOOK_MODE"] = "1"
