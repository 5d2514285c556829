# The project's two commands (README.md). Each sets up what it needs first, so both work on a fresh machine.
#   make book   build the HTML book into _build/html (the main job)
#   make test   run every test: lmlib's tests, nbval on every chapter, the book build, the browser test
# Author commands:
#   make execute   re-execute every chapter and store its outputs (after editing a chapter)
#   make sync-repo write the book's repository into the chapters' set-up cells (after changing it)
# The book's repository (launch buttons, live code, the set-up cells' install) is unset by default; set it
# for a build with `make book BOOK_REPOSITORY_URL=https://github.com/OWNER/NAME` (book/bookext/repository.py).

PYTHON ?= python3
PIP := $(PYTHON) -m pip
# torch is installed first, and only where it is missing: 2.13.0 is a local CPU wheel on the project's
# machines, while an unpinned torch would pull a multi-GB CUDA build.
TORCH_SPEC ?= torch==2.13.0
JB_BUILD := jupyter-book build . -W -n --keep-going
export BOOK_REPOSITORY_URL BOOK_REPOSITORY_BRANCH
# Each long test step has a wall-clock limit (GNU timeout), several times what it takes on CI's 2 cores, so a
# hang fails that step with pytest's summary (SIGINT) instead of using up CI's 90 minutes. Override with e.g.
# `make test LIMIT=` (no limits).
LIMIT ?= timeout --signal=INT --kill-after=120
BROWSER_TESTS := tests/test_book_ext.py tests/test_book_browser.py tests/test_book_browser_layout.py tests/test_book_browser_speed.py \
	tests/test_book_browser_launch.py

.PHONY: setup setup-lib setup-book setup-browser setup-sandbox assets book test test-lib test-notebooks test-browser \
	execute sync-repo clean compat

setup-lib:
	$(PYTHON) -c "import torch" 2>/dev/null || $(PIP) install --progress-bar off "$(TORCH_SPEC)"
	$(PIP) install --progress-bar off -e ".[test]"

setup-book: setup-lib
	$(PIP) install --progress-bar off -r book/requirements.txt

# Debian's Chromium for the browser test (Playwright drives it; no browser is downloaded), and a Chinese
# font so the test's screenshots show the book's Chinese headings instead of empty boxes.
setup-browser:
	command -v chromium >/dev/null 2>&1 || { apt-get update && apt-get install -y --no-install-recommends chromium; }
	fc-list 2>/dev/null | grep -qi "wenquanyi\|noto sans cjk" || apt-get install -y --no-install-recommends fonts-wqy-microhei \
		|| { apt-get update && apt-get install -y --no-install-recommends fonts-wqy-microhei; }

# Debian's bubblewrap: each graded submission runs in its own sandbox (lmlib.exercises grade; its tests).
setup-sandbox:
	command -v bwrap >/dev/null 2>&1 || { apt-get update && apt-get install -y --no-install-recommends bubblewrap; }

assets: setup-book
	$(PYTHON) book/fetch_assets.py

book: assets
	$(JB_BUILD) --all

test-lib: setup-lib setup-sandbox
	$(PYTHON) -m pytest tests --ignore-glob='tests/test_book_browser*.py' --ignore=tests/test_chapter_controls.py \
		--ignore=tests/test_book_ext.py

# nbval compares every chapter's stored outputs; then every widget control is driven in a kernel after Run All.
test-notebooks: setup-book
	$(LIMIT) $(if $(LIMIT),2400) $(PYTHON) -m pytest --nbval --nbval-sanitize-with nbval_sanitize.cfg chapters/ --durations=0
	$(LIMIT) $(if $(LIMIT),1500) $(PYTHON) -m pytest tests/test_chapter_controls.py -rxX --durations=0

# Screenshots and page-speed figures land in _build/browser-test/.
test-browser: book setup-browser
	CI=$${CI:-1} $(LIMIT) $(if $(LIMIT),2400) $(PYTHON) -m pytest $(BROWSER_TESTS) -rxX --durations=10

test: test-lib test-notebooks test-browser

execute: setup-book
	$(PYTHON) book/execute_notebooks.py

sync-repo:
	$(PYTHON) book/sync_repo_url.py

# Not part of `make test`: lmlib's tests and the chapters on every Python 3.10-3.13 found (pyenv), each in a
# fresh venv; prints a table. COMPAT_ARGS=--download-torch fetches PyPI's torch where no local wheel fits.
compat:
	$(PYTHON) scripts/compat.py $(COMPAT_ARGS)

clean:
	rm -rf _build
