# Every target creates ./.venv and installs what it needs itself, so each works on a fresh clone.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.numpynet-test-installed
CORE   := $(VENV)/.numpynet-core-installed

.PHONY: help venv demo test lint bench notebooks notebooks-full mutate clean

help:
	@echo "make demo       train and compare regularizers (digits, or Fashion-MNIST when installed)"
	@echo "make test       install .[test] into ./.venv and run the whole test suite (TensorFlow parity included)"
	@echo "make bench      side-by-side timing against PyTorch / Keras / scikit-learn"
	@echo "make notebooks  execute the notebooks in fast mode"
	@echo "make notebooks-full  sync them with their .py (jupytext), execute at full size, keep the outputs (~30 min)"
	@echo "make lint       ruff"
	@echo "make mutate     mutation testing of the core modules with mutmut (slow, not in CI; MODULES=\"spec io\" for some)"

$(CORE): setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e ".[plot]"
	touch $@

$(STAMP): setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e ".[test]"
	touch $(CORE) $@

venv: $(STAMP)

demo: $(CORE)
	$(PY) -m numpynet compare --data auto --preset regularizers --out results/demo

test: $(STAMP)
	$(PY) -m ruff check numpynet tests benchmarks
	$(PY) -m pytest -q -n 2 --dist loadfile tests
	if ls notebooks/*.ipynb >/dev/null 2>&1; then NUMPYNET_FAST=1 $(PY) -m pytest -q --nbmake notebooks; fi

lint: $(STAMP)
	$(PY) -m ruff check numpynet tests benchmarks

bench: $(STAMP)
	$(PIP) install -q torch==2.13.0
	$(PY) -m benchmarks.run --out bench-results/latest.json

notebooks: $(STAMP)
	if ls notebooks/*.ipynb >/dev/null 2>&1; then NUMPYNET_FAST=1 $(PY) -m pytest -q --nbmake notebooks; fi

notebooks-full: $(STAMP)
	$(PY) -m jupytext --sync notebooks/*.ipynb
	$(PY) notebooks/run_full.py

MUTATE := $(VENV)/.numpynet-mutate-installed
$(MUTATE): setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e ".[plot,mutate]"
	touch $@

mutate: $(MUTATE)
	PY=$(PY) tools/mutate.sh $(MODULES)

clean:
	rm -rf $(VENV) results bench-results *.egg-info mutants
