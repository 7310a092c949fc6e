# Quick start targets: `make run` and `make test` each set everything up first.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
CONFIG ?= config/monitor.yaml

.PHONY: setup run test lint typecheck unit bench clean

$(BIN)/monitor: pyproject.toml
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

typecheck: setup
	$(BIN)/mypy

unit: setup
	$(BIN)/pytest -q

test: lint typecheck unit

bench: setup
	$(BIN)/python bench/match.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
