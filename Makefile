# Every target that needs packages builds its own virtual environment first,
# so `make test` and `make demo` work on a machine with only Python installed.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Only the folders that exist: git does not keep empty ones.
LINT_PATHS := $(wildcard bridge tests examples benchmarks fuzz)

.PHONY: help venv test test-fast test-eager lint type check demo bench soak tox docs docs-serve clean

help:
	@echo "make demo   - Flask on uvicorn and Starlette on a WSGI server, through the bridge"
	@echo "make test   - create .venv, install, run the whole test suite"
	@echo "make test-eager - the AsgiToWsgi tests on Python 3.12+ (eager task start)"
	@echo "make lint   - ruff;  make type - mypy --strict;  make check - all three"
	@echo "make bench  - the whole benchmark comparison (python -m benchmarks; BENCH_ARGS=--quick)"
	@echo "make soak   - 20,000 requests with faults through both bridges on real servers"
	@echo "make tox    - tests on python3.10 ... 3.13 (pyenv), lint, type and docs"
	@echo "make docs   - the documentation site into site/ (mkdocs build --strict, offline)"

# mod_wsgi compiles only against Apache's headers (`apxs`, Debian's apache2-dev): its
# extra is installed where apxs is found, and the mod_wsgi matrix cells skip elsewhere,
# naming apache2-dev. .ci/run installs apache2-dev on CI.
comma := ,
EXTRAS := dev,bench,docs$(if $(shell command -v apxs 2>/dev/null),$(comma)modwsgi)

$(STAMP): pyproject.toml setup.cfg
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[$(EXTRAS)]'
	touch $(STAMP)

venv: $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

# AsgiToWsgi starts each request's task eagerly on Python 3.12+, a branch the
# 3.11 suite never runs: its tests (and the channel's) on the newest 3.12+ found.
EAGER_PYTHON := $(shell for v in 3.13 3.12; do p=$$(ls -d $$(pyenv root 2>/dev/null)/versions/$$v.*/bin/python$$v 2>/dev/null | tail -1); [ -n "$$p" ] || p=$$(command -v python$$v 2>/dev/null); if [ -n "$$p" ]; then echo $$p; break; fi; done)
EAGER_VENV := .venv-eager
EAGER_TESTS := tests/test_asgi_to_wsgi.py tests/test_asgi_to_wsgi_guarantees.py tests/test_channel.py \
	tests/property/test_p2_asgi_to_wsgi.py tests/property/test_p6_streaming.py

$(EAGER_VENV)/.installed: pyproject.toml setup.cfg
	$(EAGER_PYTHON) -m venv $(EAGER_VENV)
	$(EAGER_VENV)/bin/python -m pip install -q --upgrade pip
	$(EAGER_VENV)/bin/python -m pip install -q -e '.[test]'
	touch $@

ifeq ($(EAGER_PYTHON),)
test-eager:
	@echo "test-eager: no Python 3.12 or 3.13 found (PATH or pyenv); skipped"
else
test-eager: $(EAGER_VENV)/.installed
	$(EAGER_VENV)/bin/python -m pytest -q $(EAGER_TESTS)
endif

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

# tox looks for python3.10 ... python3.13 on PATH: put every installed pyenv
# 3.10-3.13 interpreter's own bin folder there (the shims alone do not answer).
PYENV_BINS := $(shell root=$$(pyenv root 2>/dev/null) && for v in $$(pyenv versions --bare 2>/dev/null | grep -E '^3\.1[0-3]\.[0-9]+$$'); do printf '%s:' "$$root/versions/$$v/bin"; done)

tox: $(STAMP)
	PATH="$(PYENV_BINS)$$PATH" $(BIN)/tox $(TOX_ARGS)

# Offline and warning-free: --strict turns every warning into a failure. The banner
# mkdocs-material prints about MkDocs 2.0 is not a build warning: silence it.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

docs-serve: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve --strict

bench: $(STAMP)
	$(BIN)/python -m benchmarks $(BENCH_ARGS)

# The full soak (the small one runs in `make test`); it prints a SOAK line with its figures.
SOAK_REQUESTS ?= 20000
soak: $(STAMP)
	SOAK_REQUESTS=$(SOAK_REQUESTS) $(BIN)/python -m pytest -q -s -m soak $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) $(EAGER_VENV) build dist site *.egg-info .pytest_cache .mypy_cache .ruff_cache .tox
