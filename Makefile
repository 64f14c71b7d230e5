# CX Pulse — every target sets up what it needs (a local venv) first.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# The live board: board/ (npm) bundled into package data of `api`, served at /board.
BOARD  := api/board_static/index.html
NPM_STAMP := board/node_modules/.installed

.PHONY: setup board demo up test test-unit test-integration bench bench-history bench-queries soak evaluate schemas lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP) $(BOARD)

$(NPM_STAMP): board/package.json board/package-lock.json
	cd board && npm ci --no-audit --no-fund --loglevel=error
	touch $(NPM_STAMP)

$(BOARD): $(NPM_STAMP) board/build.mjs $(wildcard board/src/*)
	cd board && npm run --silent build

## Build the live board (node >= 18 and npm; no network needed at run time).
board: $(BOARD)

## Run the all-in-one stack (local Tansu broker, Faust worker, API, chDB) with simulated traffic.
demo: $(STAMP) $(BOARD)
	$(VENV)/bin/cxpulse up --demo

up: $(STAMP) $(BOARD)
	$(VENV)/bin/cxpulse up

## Unit, integration (real Tansu broker + chDB) and end-to-end tests.
test: $(STAMP) $(BOARD)
	$(PY) -m pytest -q -p no:cacheprovider

test-unit: $(STAMP)
	$(PY) -m pytest -q tests/unit

test-integration: $(STAMP)
	$(PY) -m pytest -q tests/integration tests/e2e

## End-to-end throughput and POST->visible latency of the embedded stack, history behind the watermark,
## then the board's and /v1/kpis queries over 10 M stored answers.
bench: $(STAMP)
	$(PY) -m bench.e2e
	$(PY) -m bench.history
	$(PY) -m bench.queries

## Commit rate of history ten days behind the watermark vs in-order traffic (worker commit path, chDB; ~2 min).
bench-history: $(STAMP)
	$(PY) -m bench.history

## p50/p99 of the board's and /v1/kpis queries and of ledger crossings over 10 M answers loaded by
## ClickHouse itself (bench/scale_data.py; ~45 min of loading on 2 busy cores, 1.6 GB of disk).
bench-queries: $(STAMP)
	$(PY) -m bench.queries

## RSS of every process of the embedded stack at 5k events/s offered, each minute (SOAK_MINUTES, default 60).
soak: $(STAMP)
	$(PY) -m bench.soak

## Detection quality of live gap alerts vs naive thresholds on simulated incidents (real stack; ~30 min on 2 cores).
evaluate: $(STAMP)
	$(PY) -m bench.detection

schemas: $(STAMP)
	$(PY) -m schemas.generate

## Static checks of deploy/ and docker-compose.yml: promtool, Kubernetes and compose schemas, metric names.
.PHONY: lint-deploy
lint-deploy: $(STAMP)
	CI=true $(PY) -m pytest -q -p no:cacheprovider tests/unit/test_deploy*.py

clean:
	rm -rf $(VENV) .cxpulse .pytest_cache .hypothesis board/node_modules api/board_static
