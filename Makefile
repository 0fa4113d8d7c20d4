# The two commands: `make run` and `make test`. Both set everything up on a fresh clone.
SHELL := /bin/bash
PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null || echo "$(PYTHON) -m uv")
VENV := .venv
SYNCED := $(VENV)/.synced

.PHONY: run test bench setup clean-data predict quarantine upload

setup: $(SYNCED)

# Bootstraps uv from PyPI if it is missing, then builds the venv from uv.lock
# with bytecode compiled (halves Airflow's start-up on machines that never write .pyc).
$(SYNCED): pyproject.toml uv.lock
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet --user uv \
		|| $(PYTHON) -m pip install --quiet --user --break-system-packages uv
	$(UV) sync --frozen --compile-bytecode
	@touch $@

run: $(SYNCED)  ## Run the whole pipeline in the foreground; Ctrl-C stops it.
	@exec $(VENV)/bin/python scripts/airflow_stack.py

test: $(SYNCED)  ## The whole test suite, end-to-end test included.
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

bench: $(SYNCED)  ## Benchmarks: print figures (see README, Performance).
	$(VENV)/bin/python benchmarks/run_all.py

clean-data:  ## Delete everything the pipeline generated under the local data/ folder (keeps the inbox).
	find data -mindepth 1 -maxdepth 1 ! -name inbox ! -name README.md -exec rm -rf {} +

predict: $(SYNCED)  ## Score a CSV with the champion: make predict IN=file.csv [OUT=out.csv]
	@$(VENV)/bin/python -m tasks.stages.predict "$(IN)" $(OUT)

quarantine: $(SYNCED)  ## List rejected files and batches with their reasons.
	@$(VENV)/bin/python -m tasks.cli quarantine

upload: $(SYNCED)  ## Drop a file into the inbox on any backend: make upload FILE=x.csv
	@$(VENV)/bin/python -m tasks.cli upload $(FILE)
