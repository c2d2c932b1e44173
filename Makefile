# Two entry points, both self-contained on a fresh machine (python3 with venv):
#   make demo   creates .venv, installs emkit with its plot extra, runs the demo
#   make test   creates .venv, installs emkit with its test extra, runs ruff and pytest
# Both install the fast extra too (numba: compiled E-step kernels), so that the
# tests and the benchmark exercise them; emkit works without it (NumPy kernels).
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.emkit-installed

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[plot,test,fast]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/emkit demo --out demo-output

test: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) demo-output build src/*.egg-info .pytest_cache .ruff_cache
