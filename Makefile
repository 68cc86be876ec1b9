# Millstream — the two commands of the README's Quick start are `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The browser tests drive Debian's chromium (scripts/bootstrap-system.sh); Playwright must not fetch its own.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1

.PHONY: test test-fast demo install infra-up infra-down lint typecheck check bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## make test: create .venv, install, start Kafka + PostgreSQL unless configured, run pytest, stop them.
test: install
	scripts/with-infra.sh $(BIN)/python -m pytest $(PYTEST_ARGS)

## make test-fast: the tests that need no service, no OPC-UA server, no browser, no other process and are not
## slow (markers in pyproject.toml; docs/development.md), with Kafka and PostgreSQL deliberately unset.
FAST_MARKERS := not (kafka or postgres or opcua or browser or subprocess or slow)
test-fast: install
	env -u MILLSTREAM_KAFKA__BOOTSTRAP_SERVERS -u MILLSTREAM_DATABASE__URL \
		$(BIN)/python -m pytest -p no:cacheprovider -m "$(FAST_MARKERS)" $(PYTEST_ARGS)

## make demo: run the whole system (`millstream up`, embedded broker and database); Ctrl-C stops it.
## Options: make demo DEMO_ARGS="--speed 10 --admin-key KEY".
demo: install
	scripts/demo.sh

infra-up: install
	scripts/infra.sh up

infra-down:
	scripts/infra.sh down

## make lint: ruff, and the layer contracts of pyproject.toml's [tool.importlinter] (docs/architecture.md).
lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports

## make typecheck: mypy over every installed package ([tool.setuptools.packages.find] in pyproject.toml).
typecheck: install
	$(BIN)/mypy millstream models connectors streams api cli simulators

## make check: lint + typecheck, no services needed (CI runs it before make test).
check: lint typecheck

bench: install
	scripts/with-infra.sh $(BIN)/python -m bench

clean: infra-down
	rm -rf .cache/postgres-* .cache/kafka/data-* .cache/run-* .pytest_cache
