# Every target that needs packages builds its own virtual environment first,
# so `make test` and `make demo` work on a machine with only Python installed.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Only the folders that exist: git does not keep empty ones.
LINT_PATHS := $(wildcard bridge tests examples benchmarks)

.PHONY: help venv test test-fast lint type check demo bench clean

help:
	@echo "make demo   - Flask on uvicorn and Starlette on a WSGI server, through the bridge"
	@echo "make test   - create .venv, install, run the whole test suite"
	@echo "make lint   - ruff;  make type - mypy --strict;  make check - all three"
	@echo "make bench  - benchmarks against the peer bridges"

$(STAMP): pyproject.toml setup.cfg
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev,bench]'
	touch $(STAMP)

venv: $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not e2e" $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check bridge

type: $(STAMP)
	$(BIN)/mypy

check: lint type test

demo: $(STAMP)
	$(BIN)/python examples/demo.py

bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache .tox
