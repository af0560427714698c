# streamlake: the front door. `make help` lists every target.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV ?= .venv
PY := $(VENV)/bin/python
# Spark's Python workers must run the project's interpreter, or they cannot import it.
export PYSPARK_PYTHON := $(abspath $(PY))
export PYSPARK_DRIVER_PYTHON := $(abspath $(PY))
PYTEST_ARGS ?=

.PHONY: help setup check-java check-node test test-unit test-spark test-integration run bench lint contracts deps-check package fmt clean stack produce schema-check

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2}'

check-java: ## Check that Java 17+ is installed (Spark 4 needs it); installs it with apt when run as root
	@if ! command -v java >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Java not found: installing openjdk-17-jre-headless with apt-get"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless >/dev/null; \
	  else \
	    echo "ERROR: Java 17 or newer is required by Spark 4 and was not found."; \
	    echo "  Debian/Ubuntu: sudo apt-get install openjdk-17-jre-headless"; \
	    echo "  macOS:         brew install openjdk@17"; \
	    echo "  or set JAVA_HOME to a Java 17+ installation"; exit 1; \
	  fi; \
	fi
	@v=$$(java -version 2>&1 | awk -F'"' '/version/ {print $$2}' | cut -d. -f1); \
	if [ "$$v" -lt 17 ] 2>/dev/null; then echo "ERROR: Java $$v found; Spark 4 needs Java 17+ (set JAVA_HOME)"; exit 1; fi; \
	echo "java $$v: ok"

check-node: ## Check that Node.js 18+ and npm are installed (the Kinesis emulator runs on Node)
	@if ! command -v npm >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "npm not found: installing nodejs and npm with apt-get"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; \
	  else \
	    echo "ERROR: Node.js 18+ with npm is required for the local Kinesis emulator (kinesalite)."; \
	    echo "  Debian/Ubuntu: sudo apt-get install nodejs npm"; exit 1; \
	  fi; \
	fi
	@echo "node $$(node --version): ok"

setup: check-java check-node ## Create .venv and install everything (runtime, local stack, bench, dev tools, the Kinesis emulator)
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[quality,warehouse,local,bench,dev]'
	npm ci --prefix local --no-audit --no-fund --loglevel=error
	@$(PY) -c "import pyspark, great_expectations, awswrangler, duckdb, moto; print('python deps: ok (pyspark', pyspark.__version__ + ')')"
	@echo "setup done: try 'make test' and 'make run'"

test: contracts ## Run every test (import contracts, unit, Spark, integration: kinesalite, moto server)
	$(PY) -m pytest -q --timeout=900 $(PYTEST_ARGS)

test-unit: ## Run the pure unit tests only (no JVM, no server; under a minute)
	$(PY) -m pytest -q tests/unit $(PYTEST_ARGS)

test-spark: ## Run the tests that need Spark but no server
	$(PY) -m pytest -q --timeout=900 tests/spark $(PYTEST_ARGS)

test-integration: ## Run the integration tests only (emulator, moto server, kill tests)
	$(PY) -m pytest -q --timeout=900 tests/integration $(PYTEST_ARGS)

run: ## The main job end to end on embedded defaults (emulator, local lake, DuckDB); no AWS account
	$(PY) -m local.run $(ARGS)

bench: ## Benchmark the framework against bare Spark and DuckDB; prints a table, writes BENCHMARKS.md
	$(PY) -m bench $(ARGS)

stack: ## Run the local stack (kinesalite + moto server) in the foreground until Ctrl-C
	$(PY) -m local.stack up

produce: ## Send seeded shop events to a running stack (ARGS="--count 1000 ...")
	$(PY) -m local.producer $(ARGS)

schema-check: ## Check every schema against its committed version (compatible changes only)
	$(PY) -m schemas.compat --git-ref HEAD

lint: contracts deps-check ## ruff, mypy, the import contracts and the runtime dependency check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

contracts: ## Check that imports flow one way (import-linter contracts in .importlinter)
	$(VENV)/bin/lint-imports --no-cache

deps-check: ## Check that runtime dependencies are exactly what the shipped packages import (deptry)
	$(VENV)/bin/deptry jobs schemas quality glue emr streamlake

package: ## Build the wheel that ships to clusters into dist/ (runtime packages only)
	rm -rf build dist
	$(PY) -m pip wheel -q --no-deps --no-build-isolation -w dist .
	@ls dist

fmt: ## Format the code with ruff
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean: ## Remove local state (var/), caches and build output; keeps .venv and local/node_modules
	rm -rf var .pytest_cache .mypy_cache .ruff_cache build dist *.egg-info spark-warehouse metastore_db derby.log
