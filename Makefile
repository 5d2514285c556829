# The project's two entry points (see README.md):
#   make test   set everything up, then run every test
# Each target installs what it needs first, so both work on a fresh machine.

PYTHON ?= python3
PIP := $(PYTHON) -m pip
# torch is installed first, and only where it is missing: 2.13.0 is a local CPU wheel on the project's
# machines, while an unpinned torch would pull a multi-GB CUDA build.
TORCH_SPEC ?= torch==2.13.0

.PHONY: setup test test-lib

setup:
	$(PYTHON) -c "import torch" 2>/dev/null || $(PIP) install --progress-bar off "$(TORCH_SPEC)"
	$(PIP) install --progress-bar off -e ".[test]"

test-lib:
	$(PYTHON) -m pytest tests

test: setup test-lib
