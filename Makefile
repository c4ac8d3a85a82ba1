# Two commands set everything up on a fresh machine: `make demo`, then `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

# One absolute path per setting, so Dagster, dbt (which runs from dbt/) and the CLI agree.
export CDP_LANDING_DIR ?= $(CURDIR)/data/landing
export CDP_DUCKDB_PATH ?= $(CURDIR)/data/warehouse.duckdb
export CDP_GROUND_TRUTH_DIR ?= $(CURDIR)/data/ground_truth
export CDP_ARTIFACT_DIR ?= $(CURDIR)/data/artifacts
export CDP_EXPORT_DIR ?= $(CURDIR)/data/exports
export DAGSTER_HOME ?= $(CURDIR)/dagster_home
export DBT_SEND_ANONYMOUS_USAGE_STATS := false

DEMO_PEOPLE ?= 3000
DEMO_DAYS ?= 14

.PHONY: install demo test ui check format bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	cd dbt && ../$(BIN)/dbt parse --profiles-dir . --quiet
	touch $@

demo: install
	rm -rf data/landing data/archive data/ground_truth data/exports data/artifacts $(CDP_DUCKDB_PATH) $(CDP_DUCKDB_PATH).dbt-target
	$(BIN)/cdp generate --people $(DEMO_PEOPLE) --days $(DEMO_DAYS)
	$(BIN)/cdp run
	$(BIN)/cdp summary

test: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy platform_assets resources sensors
	$(BIN)/pytest -n 2 --dist loadscope --durations=10

ui: install
	$(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

check: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy platform_assets resources sensors

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install
	$(BIN)/python bench/raw_cleaned.py

clean:
	rm -rf data bench/out .pytest_cache dbt/target dbt/logs
