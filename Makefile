# Two commands on a fresh machine:  make bench  (the backend benchmark)  and  make test.
# Each creates the local virtual environment .venv on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: install test lint format bench bench-full clean

$(VENV)/.installed: pyproject.toml $(wildcard setup.py) $(wildcard kernels/*.pyx) $(wildcard kernels/*.pxd) $(wildcard kernels/*.pxi) $(wildcard kernels/*.h)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip setuptools wheel
	$(PY) -m pip install -q -e ".[test,bench,train,lint]"
	touch $@

install: $(VENV)/.installed

test: $(VENV)/.installed
	$(PY) -m pytest -q

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	PATH="$(abspath $(VENV))/bin:$$PATH" cython-lint kernels/

format: $(VENV)/.installed
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: $(VENV)/.installed
	$(PY) -m fastrnn bench

bench-full: $(VENV)/.installed
	$(PY) -m fastrnn bench --full

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .benchmarks
