# The two commands of the quick start: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

.PHONY: install install-test run test lint audit typecheck docs clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# With the local filters (the `filters` extra): the example sites fall back to them.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[filters]'
	touch $@

$(TEST_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@ $(STAMP)

install: $(STAMP)  ## the venv with the package and its local filters

install-test: $(TEST_STAMP)  ## the venv with the package and its test tools

run: $(STAMP)  ## serve examples/coloringbook on http://127.0.0.1:8000
	$(BIN)/forkable serve examples/coloringbook --host 127.0.0.1 --port 8000

# Two test processes (pytest-xdist): the tests mostly wait on servers, browsers and databases,
# so two halve the run on a 2-core machine. TEST_PROCESSES=0 runs them in this one process.
TEST_PROCESSES ?= 2

test: $(TEST_STAMP)  ## the whole test suite
	$(BIN)/python -m pytest -n $(TEST_PROCESSES)

# Known vulnerabilities in the installed packages (pip-audit against OSV) fail. An audit that
# cannot reach its service fails too, unless AUDIT_ALLOW_UNREACHABLE=1 (for machines without
# the way out, such as this project's CI): then it prints one NOT AUDITED line and passes.
AUDIT := $(BIN)/python scripts/audit_dependencies.py $(if $(filter 1,$(AUDIT_ALLOW_UNREACHABLE)),--allow-unreachable)

lint: $(TEST_STAMP)  ## ruff, mypy and the dependency audit
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts
	$(BIN)/mypy
	$(AUDIT)

audit: $(TEST_STAMP)  ## pip-audit of the installed packages
	$(AUDIT)

docs: $(STAMP)  ## regenerate docs/manifest.md and the environment table of docs/operations.md
	$(BIN)/python -m forkable.manifest.docs docs/manifest.md
	$(BIN)/python -m forkable.settings.docs docs/operations.md

clean:
	rm -rf $(VENV) var build dist
