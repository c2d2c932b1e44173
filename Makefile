# Entry points, each self-contained on a fresh machine (python3 with venv):
#   make demo        creates .venv, installs emkit, fits Old Faithful, writes demo-output/
#   make test        ruff and the whole test suite (the README's and CI's command)
#   make test-quick  the tests not marked `slow` (a developer's inner loop, < 1 min on 2 cores)
#   make docs        the documentation site, warnings as errors -> docs/_build/html
#   make docs-check  make docs, then open it in headless Chromium (apt-get install chromium)
#   make bench       benchmarks/run.py (speed against scikit-learn)
# One environment serves every target: .venv gets emkit with its plot, test and fast
# extras (fast = numba, so that tests and benchmarks exercise the compiled kernels;
# emkit works without it); `make docs` adds the docs extra.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.emkit-installed
DOCS_STAMP = $(VENV)/.emkit-docs-installed
# pytest-xdist workers for `make test` (0: one process)
TEST_WORKERS ?= 2
HTML    = docs/_build/html
# Tests write bytecode caches (__pycache__, gitignored) even where the environment sets
# PYTHONDONTWRITEBYTECODE: otherwise every run (and every xdist worker) recompiles emkit
# and re-rewrites the asserts of every test module.
PYTEST  = PYTHONDONTWRITEBYTECODE= $(BIN)/python -m pytest

.PHONY: demo test test-quick lint docs docs-check bench bench-import wheel clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[plot,test,fast]'
	touch $(STAMP)

$(DOCS_STAMP): $(STAMP) pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[plot,test,fast,docs]'
	touch $(DOCS_STAMP)

demo: $(STAMP)
	$(BIN)/emkit demo --out demo-output

test: $(STAMP)
	$(BIN)/ruff check src tests benchmarks docs
	$(PYTEST) -q -n $(TEST_WORKERS)

test-quick: $(STAMP)
	$(PYTEST) -q -m "not slow" -n $(TEST_WORKERS)

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks docs

# -E: a fresh environment, so every page is read again and every warning shown
docs: $(DOCS_STAMP)
	$(BIN)/python -m sphinx -W --keep-going -E -q -b html docs $(HTML)
	@echo "documentation: $(HTML)/index.html"

docs-check: docs
	$(BIN)/python docs/check_render.py $(HTML)

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

bench-import: $(STAMP)
	$(BIN)/python benchmarks/import_time.py

wheel: $(STAMP)
	$(BIN)/python -m pip wheel --quiet --no-deps --wheel-dir dist .
	$(BIN)/python -c "import sys, zipfile; [print(n) for n in zipfile.ZipFile(sys.argv[1]).namelist()]" dist/emkit-*.whl

clean:
	rm -rf $(VENV) demo-output build dist src/*.egg-info .pytest_cache .ruff_cache \
	    docs/_build docs/auto_examples docs/generated docs/sg_execution_times.rst
