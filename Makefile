# Quick start targets: `make run` and `make test` each set everything up first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
CONFIG ?= config/monitor.yaml

.PHONY: setup run test test-fast lint layers typecheck unit bench clean

$(BIN)/monitor: pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "news-monitor needs Python 3.11+"'
	@# Debian ships venv's pip bootstrap separately (python3.X-venv); install it when we can.
	@$(PYTHON) -c 'import ensurepip' 2>/dev/null || { \
	  pkg=python3.$$($(PYTHON) -c 'import sys; print(sys.version_info[1])')-venv; \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && apt-get install -y -qq $$pkg; \
	  else echo "error: Python's venv module is missing: run 'sudo apt-get install $$pkg'" >&2; exit 1; fi; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(BIN)/monitor

setup: $(BIN)/monitor

run: setup
	$(BIN)/monitor run -c $(CONFIG)

lint: setup
	$(BIN)/ruff check monitor tests bench
	$(BIN)/ruff format --check monitor tests bench

# The layer contract in pyproject.toml ([tool.importlinter]): no import runs back up the pipeline.
layers: setup
	$(BIN)/lint-imports

typecheck: setup
	$(BIN)/mypy

unit: setup
	$(BIN)/pytest -q

test: lint layers typecheck unit

# The inner loop: everything but the end-to-end and slow tests, in well under a minute.
test-fast: setup
	$(BIN)/pytest -q -m 'not e2e and not slow'

bench: setup
	$(BIN)/python bench/match.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
