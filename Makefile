# CX Pulse — every target sets up what it needs (a local venv) first.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: setup demo up test test-unit test-integration bench schemas lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

## Run the all-in-one stack (local Tansu broker, Faust worker, API, chDB) with simulated traffic.
demo: $(STAMP)
	$(VENV)/bin/cxpulse up --demo

up: $(STAMP)
	$(VENV)/bin/cxpulse up

## Unit, integration (real Tansu broker + chDB) and end-to-end tests.
test: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider

test-unit: $(STAMP)
	$(PY) -m pytest -q tests/unit

test-integration: $(STAMP)
	$(PY) -m pytest -q tests/integration tests/e2e

## End-to-end throughput and POST->visible latency of the embedded stack.
bench: $(STAMP)
	$(PY) -m bench.e2e

schemas: $(STAMP)
	$(PY) -m schemas.generate

## Static checks of deploy/ and docker-compose.yml: promtool, Kubernetes and compose schemas, metric names.
.PHONY: lint-deploy
lint-deploy: $(STAMP)
	CI=true $(PY) -m pytest -q -p no:cacheprovider tests/unit/test_deploy*.py

clean:
	rm -rf $(VENV) .cxpulse .pytest_cache .hypothesis
