# Set-up on a fresh machine needs only Python 3.10+: each target creates .venv and installs itself.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch is pinned: 2.13.0 is the CPU wheel; an unpinned torch pulls a multi-GB CUDA build.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[patchmatch,web,test]'
	touch $@

demo: $(STAMP)  ## run the default method on the bundled photo -> demo_out/
	$(BIN)/inpaintkit demo -o demo_out --overwrite

test: $(STAMP)  ## the whole test suite
	$(BIN)/python -m pytest

lint: $(STAMP)  ## formatting and lint rules (ruff, configured in pyproject.toml)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

bench: $(STAMP)  ## inference benchmark -> docs/PERFORMANCE.md
	$(BIN)/python benchmarks/inference.py

clean:
	rm -rf $(VENV) demo_out .pytest_cache
