# factorymesh — run `make help` for the list of targets.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
.PHONY: bench-inference bench-ingest demo-assets train helm-install helm-check help sync proto proto-check proto-lint proto-breaking lint format typecheck \
        docs test test-unit test-integration up down status logs bench bench-serde clean

UV ?= $(shell command -v uv 2>/dev/null || echo "$(HOME)/.local/bin/uv")
RUN := $(UV) run --frozen
PYTEST := $(RUN) pytest
UNIT_TESTS := $(wildcard libs/*/tests/unit services/*/tests/unit tests/unit)
INTEGRATION_TESTS := $(wildcard tests/integration libs/*/tests/integration services/*/tests/integration tests/e2e)
PY_SOURCES := $(wildcard libs services tests bench scripts conftest.py)

help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(UV):
	@command -v uv >/dev/null 2>&1 || python3 -m pip install --user --quiet "uv>=0.5"

sync: $(UV) ## Install Python dependencies into .venv (uv, from uv.lock)
	@$(UV) sync --frozen --all-packages

proto: sync ## Regenerate Python code from protos/ into libs/api
	@scripts/proto.sh gen

proto-check: sync ## Fail if generated code is stale; buf lint and buf breaking
	@scripts/proto.sh check
	@scripts/proto.sh lint
	@scripts/proto.sh breaking

proto-lint: sync ## buf lint
	@scripts/proto.sh lint

proto-breaking: sync ## buf breaking against the previous commit
	@scripts/proto.sh breaking

lint: sync ## ruff check + ruff format --check + buf lint
	@$(RUN) ruff check $(PY_SOURCES)
	@$(RUN) ruff format --check $(PY_SOURCES)
	@scripts/proto.sh lint

format: sync ## Apply ruff fixes and formatting
	@$(RUN) ruff check --fix $(PY_SOURCES)
	@$(RUN) ruff format $(PY_SOURCES)

typecheck: sync ## mypy over libs and services
	@$(RUN) mypy

test-unit: sync ## Unit tests (no broker needed)
	@$(PYTEST) $(UNIT_TESTS)

test-integration: sync ## Integration tests against a real Kafka and Triton (starts its own unless FM_KAFKA_BOOTSTRAP is set)
	@scripts/with-test-stack.sh $(PYTEST) -m "integration" $(INTEGRATION_TESTS)

test: sync ## Every test: unit, then integration against a real Kafka and Triton
	@scripts/with-test-stack.sh $(PYTEST) $(UNIT_TESTS) $(INTEGRATION_TESTS)

up: sync ## Start Kafka, Triton and every service; wait until all are ready
	@scripts/stack.sh up

down: ## Stop everything `make up` started
	@scripts/stack.sh down

status: ## Show what the local stack is running
	@scripts/stack.sh status

bench: bench-serde bench-ingest bench-inference ## Run every benchmark (results in bench/results/)

bench-serde: sync ## Columnar batch vs per-reading protobuf decode (bench/results/serde.json)
	@$(RUN) python -m bench.serde

helm-install: ## Build helm and fm-kubecheck into .tools/bin (Go >= 1.26; ~2 min the first time)
	@scripts/helm.sh install

helm-check: sync helm-install ## Helm chart: lint --strict, template + kubecheck every ci/*-values.yaml, chart tests
	@scripts/helm.sh check

docs: sync ## Regenerate the doc tables computed from code (topics, settings)
	@$(RUN) python scripts/gen_docs.py

TRAIN_DATA ?= .local/training/v1
train: sync ## Train the model family on simulator data ($(TRAIN_DATA)), promote versions that are not worse
	@test -f $(TRAIN_DATA)/readings.csv || $(RUN) python -m factorymesh.line_simulator dataset --seed 1 --rate-hz 2 \
		--duration-s 21600 --scenario services/inference/src/factorymesh/inference/train/scenarios/training-v1.json \
		--out $(TRAIN_DATA)/readings.csv --labels $(TRAIN_DATA)/labels.csv
	@$(RUN) python -m factorymesh.inference.train --task all --dataset $(TRAIN_DATA)

demo-assets: sync ## Regenerate deploy/local/assets-demo.yaml (the demo's tag registry) from the simulator's plant
	@$(RUN) python scripts/gen_demo_assets.py

bench-ingest: sync ## Ingest throughput vs a bare passthrough, batches, feature windows, latency (bench/results/ingest.json)
	@scripts/with-test-stack.sh $(RUN) python -m bench.ingest

bench-inference: sync ## Triton direct (perf_analyzer) vs the inference service end to end (bench/results/inference.json)
	@scripts/with-test-stack.sh $(RUN) python -m bench.inference

clean: down ## Stop the stack and delete local data, logs and caches
	rm -rf .local .pytest_cache .mypy_cache .ruff_cache
