# The two commands of the quick start: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

.PHONY: install install-test run test lint typecheck docs clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(TEST_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@ $(STAMP)

install: $(STAMP)  ## the venv with the package

install-test: $(TEST_STAMP)  ## the venv with the package and its test tools

run: $(STAMP)  ## serve examples/coloringbook on http://127.0.0.1:8000
	$(BIN)/forkable serve examples/coloringbook --host 127.0.0.1 --port 8000

test: $(TEST_STAMP)  ## the whole test suite
	$(BIN)/python -m pytest

lint: $(TEST_STAMP)
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts
	$(BIN)/mypy

docs: $(STAMP)  ## regenerate docs/manifest.md from the schema
	$(BIN)/python -m forkable.manifest.docs docs/manifest.md

clean:
	rm -rf $(VENV) var build dist
