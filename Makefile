# Evergreen — run `make help` for the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
UV_VERSION := 0.13.8
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help venv demo up test test-fast bench bench-cardinality bench-scale bench-refit-memory bench-automl clean

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

$(STAMP): requirements/dev.lock pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check uv==$(UV_VERSION)
	VIRTUAL_ENV=$(VENV) $(VENV)/bin/uv pip sync -q requirements/dev.lock
	VIRTUAL_ENV=$(VENV) $(VENV)/bin/uv pip install -q --no-deps -e .
	@touch $@

venv: $(STAMP) ## Create .venv with the pinned dependencies (requirements/dev.lock)

demo: $(STAMP) ## Run the whole loop locally on moto and tell the story (DATA=path.csv TARGET=column for your own data)
	$(PY) -m evergreen_cli.local demo $(if $(DATA),--data "$(DATA)") $(if $(TARGET),--target "$(TARGET)") $(if $(MODEL),--model "$(MODEL)")

up: $(STAMP) ## Start the local stack: moto on :4566 for the aws CLI, the inference API on :8080 for curl (PORT=, API_PORT= to move them)
	$(PY) -m evergreen_cli.local up $(if $(PORT),--port $(PORT)) $(if $(API_PORT),--api-port $(API_PORT))

test: $(STAMP) ## Run the test suite
	$(PY) -m pytest -q

test-fast: $(STAMP) ## Unit tests only
	$(PY) -m pytest -q tests/unit

bench: $(STAMP) ## Benchmarks; results go to BENCHMARKS.md by hand, with the command
	$(PY) benchmarks/bench_inference.py

bench-cardinality: $(STAMP) ## Capped vs uncapped one-hot on a 200/2,000/20,000-value column: fit s, peak RSS, accuracy (~12 min)
	$(PY) benchmarks/bench_cardinality.py

bench-scale: $(STAMP) ## Ingest parsing vs pandas.read_csv at 100k/1M/5M rows; the local pipeline vs a plain loop at 30k/1M rows (ARGS=...)
	$(PY) benchmarks/bench_scale.py $(ARGS)

.PHONY: bench-batch
bench-batch: $(STAMP) ## Batch scoring of 1M rows on the local stack beside bare session.run on the same rows (ARGS="--rows N")
	$(PY) benchmarks/bench_batch.py $(ARGS)

bench-refit-memory: $(STAMP) ## Peak memory per model cell of one fit per family (sets evergreen.sagemaker_refit.BYTES_PER_CELL)
	$(PY) benchmarks/bench_refit_memory.py $(ARGS)

bench-loop: $(STAMP) ## The closed loop on concept-drift, covariate-shift and stationary streams vs river's ADWIN (ARGS="--stationary-samples 50000" for the long run)
	VIRTUAL_ENV=$(VENV) $(VENV)/bin/uv pip install -q -r requirements/bench-loop.txt
	$(PY) benchmarks/bench_loop.py $(ARGS)

bench-automl: $(STAMP) ## The AutoML default search vs HistGB defaults and RandomizedSearchCV on the same splits (ARGS="--datasets wine,rare --trials N --rows N")
	$(PY) benchmarks/bench_automl.py $(ARGS)

clean: ## Remove the build output and caches (keeps .venv)
	rm -rf .aws-sam build .pytest_cache

UV := $(VENV)/bin/uv
include make/build.mk

# (recipes in make/build.mk; the prerequisites and help lines live here)
build: $(STAMP) ## sam build for Lambda (no docker), then the size budget table
size: $(STAMP) ## The size budget of the last build
lint: $(STAMP) ## cfn-lint + serverless rules, sam validate, ASL check, checkov on the transformed template
scan-tools: $(STAMP)
$(CHECKOV): $(STAMP)
layer-locks: $(STAMP) ## Re-lock layers/*/requirements.lock after editing a layer's requirements.txt
