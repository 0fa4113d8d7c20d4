# The two commands: `make run` and `make test`. Both set everything up on a fresh clone.
# Every other target is one line calling the `pipeline` command line (`pipeline --help`).
SHELL := /bin/bash
PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null || echo "$(PYTHON) -m uv")
VENV := .venv
SYNCED := $(VENV)/.synced
PIPELINE := $(VENV)/bin/pipeline

.PHONY: run cluster test lint bench setup system-packages clean-data dataset predict score quarantine upload retract release retrain status

setup: $(SYNCED)

# Bootstraps uv from PyPI if it is missing, then builds the venv from uv.lock
# with bytecode compiled (halves Airflow's start-up on machines that never write .pyc).
# Quiet: one line before and after (errors still show); the package list is in uv.lock.
$(SYNCED): pyproject.toml uv.lock
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet --user uv \
		|| $(PYTHON) -m pip install --quiet --user --break-system-packages uv
	@echo "Installing the Python dependencies into $(VENV) (uv sync; about a minute the first time)..."
	@$(UV) sync --frozen --compile-bytecode --quiet
	@echo "Dependencies installed: $$($(UV) pip list --python $(VENV) 2>/dev/null | tail -n +3 | wc -l) packages, pinned by uv.lock."
	@touch $@

run: $(SYNCED)  ## Run the whole pipeline in the foreground; Ctrl-C stops it.
	@exec $(PIPELINE) run

cluster: $(SYNCED) system-packages  ## The same DAGs on Celery + PostgreSQL + Redis + S3, in the foreground; Ctrl-C stops it.
	@exec $(PIPELINE) run --cluster

system-packages:  ## PostgreSQL, Redis and Chromium from Debian's packages (installed when run as root).
	@scripts/system_packages.sh

lint: $(SYNCED)  ## ruff (lint and format check), then the import contracts in pyproject.toml (lint-imports).
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check . && $(VENV)/bin/lint-imports --no-cache

# Parallel workers for the tests: each end-to-end module (or stack) runs whole on one worker
# (tests/conftest.py: work_unit, SLOWEST_FIRST); most of an end-to-end test is waiting for Airflow.
TEST_WORKERS ?= 3

test: lint system-packages  ## ruff, then the whole test suite, end-to-end tests (local, S3, cluster, browser) included.
	$(VENV)/bin/python -m pytest -n $(TEST_WORKERS) --dist loadscope --no-loadscope-reorder $(PYTEST_ARGS)

bench: $(SYNCED) system-packages  ## Benchmarks: print every figure (see benchmarks/README.md); about 45 min.
	$(VENV)/bin/python benchmarks/run_all.py

clean-data:  ## Delete everything the pipeline generated under the local data/ folder (keeps the inbox).
	find data -mindepth 1 -maxdepth 1 ! -name inbox ! -name README.md -exec rm -rf {} +

dataset: $(SYNCED)  ## Start your own data set from a labelled sample: make dataset FROM=sample.csv TARGET=<column> OUT=<folder>
	@$(PIPELINE) dataset "$(FROM)" --target "$(TARGET)" --out "$(OUT)"

predict: $(SYNCED)  ## Score a CSV with the champion: make predict IN=file.csv [OUT=out.csv]
	@$(PIPELINE) predict "$(IN)" $(OUT)

score: $(SYNCED)  ## Drop a file into the scoring inbox: the live champion scores it: make score FILE=x.csv
	@$(PIPELINE) score $(FILE)

quarantine: $(SYNCED)  ## List rejected files and batches with their reasons.
	@$(PIPELINE) quarantine

upload: $(SYNCED)  ## Drop a file into the inbox on any backend (a running cluster's too): make upload FILE=x.csv
	@$(PIPELINE) upload $(FILE)

retract: $(SYNCED)  ## Take a batch out of the training and held-out data: make retract BATCH=b-... WHY="..."
	@$(PIPELINE) retract "$(BATCH)" --why "$(WHY)"

release: $(SYNCED)  ## Let a batch the gate quarantined into the data: make release ID=<quarantine id> WHY="..."
	@$(PIPELINE) release "$(ID)" --why "$(WHY)"

retrain: $(SYNCED)  ## Train a new version now, even on unchanged data and settings; evaluate follows: make retrain [WHY="..."]
	@$(PIPELINE) retrain --why "$(WHY)"

status: $(SYNCED)  ## The pipeline at a glance: champion, last runs, inbox/claimed/quarantine counts, next daily run.
	@$(PIPELINE) status
