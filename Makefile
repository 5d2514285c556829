# The project's two commands (README.md). Each sets up what it needs first, so both work on a fresh machine.
#   make book   build the HTML book into _build/html (the main job)
#   make test   run every test: lmlib's tests, nbval on every chapter, the book build, the browser test
# Author commands:
#   make execute   re-execute every chapter and store its outputs (after editing a chapter)

PYTHON ?= python3
PIP := $(PYTHON) -m pip
# torch is installed first, and only where it is missing: 2.13.0 is a local CPU wheel on the project's
# machines, while an unpinned torch would pull a multi-GB CUDA build.
TORCH_SPEC ?= torch==2.13.0
JB_BUILD := jupyter-book build . -W -n --keep-going

.PHONY: setup setup-lib setup-book setup-browser setup-sandbox assets book test test-lib test-notebooks test-browser execute clean compat

setup-lib:
	$(PYTHON) -c "import torch" 2>/dev/null || $(PIP) install --progress-bar off "$(TORCH_SPEC)"
	$(PIP) install --progress-bar off -e ".[test]"

setup-book: setup-lib
	$(PIP) install --progress-bar off -r book/requirements.txt

# Debian's Chromium for the browser test (Playwright drives it; no browser is downloaded).
setup-browser:
	command -v chromium >/dev/null 2>&1 || { apt-get update && apt-get install -y --no-install-recommends chromium; }

# Debian's bubblewrap: each graded submission runs in its own sandbox (lmlib.exercises grade; its tests).
setup-sandbox:
	command -v bwrap >/dev/null 2>&1 || { apt-get update && apt-get install -y --no-install-recommends bubblewrap; }

assets: setup-book
	$(PYTHON) book/fetch_assets.py

book: assets
	$(JB_BUILD) --all

test-lib: setup-lib setup-sandbox
	$(PYTHON) -m pytest tests --ignore=tests/test_book_browser.py

test-notebooks: setup-book
	$(PYTHON) -m pytest --nbval --nbval-sanitize-with nbval_sanitize.cfg chapters/ --durations=0

test-browser: book setup-browser
	CI=$${CI:-1} $(PYTHON) -m pytest tests/test_book_browser.py

test: test-lib test-notebooks test-browser

execute: setup-book
	$(PYTHON) book/execute_notebooks.py

# Not part of `make test`: lmlib's tests and the chapters on every Python 3.10-3.13 found (pyenv), each in a
# fresh venv; prints a table. COMPAT_ARGS=--download-torch fetches PyPI's torch where no local wheel fits.
compat:
	$(PYTHON) scripts/compat.py $(COMPAT_ARGS)

clean:
	rm -rf _build
