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
# The demo's seeded days start on the first partition (CDP_START_DATE, else 2026-11-01): the data
# they hold is checked against fixed expectations (segments, identity accuracy). `make demo`
# records its settings in $(DEMO_ENV); `make ui` reads them.
DEMO_START ?= 2026-11-01
DEMO_ENV := data/demo.env
# The demo's salt for hashed identifiers: set CDP_PII_SALT to your own secret for real data.
DEMO_SALT := demo-salt-not-for-real-data

# The browser the UI tests drive (Playwright cannot download its own here): Debian's package.
CHROMIUM := /usr/bin/chromium-headless-shell
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install bytecode browser bench-tools demo test ui check format bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	# uv resolves and installs the same pinned set as pip, from the same registry, in about
	# 20 s instead of 58 (it downloads and compiles in parallel): the install is part of every
	# CI run. Compiled at install like pip does: where PYTHONDONTWRITEBYTECODE is set, nothing
	# else would, and every process (each daemon run, each test's) would compile its imports
	# again, 3.5 s more each.
	$(BIN)/pip install --quiet "uv>=0.13,<0.14"
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -e ".[dev]"
	cd dbt && ../$(BIN)/dbt parse --profiles-dir . --quiet
	touch $@

demo: install bytecode
	rm -rf data/landing data/archive data/ground_truth data/exports data/artifacts $(CDP_DUCKDB_PATH) $(CDP_DUCKDB_PATH).dbt-target
	# The instance's run history describes the warehouse just removed: it goes with it.
	find $(DAGSTER_HOME) -mindepth 1 -maxdepth 1 ! -name dagster.yaml -exec rm -rf {} +
	# Your own CDP_PII_SALT stays in your environment; only the demo's salt is written down.
	# The partitions end on the demo's last day: days after it would show as never materialized.
	mkdir -p data && { echo "CDP_START_DATE=$(DEMO_START)"; \
		echo "CDP_END_DATE=$$(date -d "$(DEMO_START) + $$(($(DEMO_DAYS) - 1)) days" +%F)"; \
		[ -n "$$CDP_PII_SALT" ] || echo "CDP_PII_SALT=$(DEMO_SALT)"; } > $(DEMO_ENV)
	@[ -n "$$CDP_PII_SALT" ] || echo "warning: CDP_PII_SALT is not set; the demo hashes with '$(DEMO_SALT)', which is not for real data"
	set -a; . ./$(DEMO_ENV); set +a; $(BIN)/cdp generate --people $(DEMO_PEOPLE) --days $(DEMO_DAYS)
	set -a; . ./$(DEMO_ENV); set +a; $(BIN)/cdp run
	set -a; . ./$(DEMO_ENV); set +a; $(BIN)/cdp summary

# The platform's own modules, compiled before they run: where PYTHONDONTWRITEBYTECODE is set,
# nothing else writes them, and every process (each run's worker, each `cdp`, each test's)
# would compile them again, about 0.25 s each. compileall skips what is already current.
bytecode: install
	$(BIN)/python -m compileall -q -j 0 platform_assets resources sensors tests

browser: $(CHROMIUM)

$(CHROMIUM):
	$(SUDO) apt-get install -y -q chromium-headless-shell \
		|| { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q chromium-headless-shell; }

# Load generators for the HTTP benchmarks (bench/profile_api.py): a C program in its own
# process, so a benchmark measures the server rather than a Python client.
bench-tools: /usr/bin/wrk

/usr/bin/wrk:
	$(SUDO) apt-get install -y -q wrk || { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q wrk; }

# Three workers on 2 cores: the daemon, webserver and browser tests spend most of their time
# waiting on processes they started, and a third worker fills that time (5:52 instead of 8:17);
# a fourth only adds contention (pytest 7:15 instead of 6:15 on the same clone).
# --dist loadscope keeps each module's fixtures in one worker; --no-loadscope-reorder hands the
# modules out in the order tests/conftest.py gives them, the slowest first.
test: install bytecode browser
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	# mypy (about 40 s of a core from a clean clone) checks beside the tests, which leave a core
	# idle while they wait on the processes they start. Both must pass; mypy's report follows.
	$(BIN)/mypy platform_assets resources sensors > $(VENV)/mypy.log 2>&1 & types=$$!; \
	$(BIN)/pytest -n 3 --dist loadscope --no-loadscope-reorder --durations=10; tests=$$?; \
	wait $$types; typed=$$?; cat $(VENV)/mypy.log; [ $$tests = 0 ] && [ $$typed = 0 ]

ui: install
	set -a; [ ! -f $(DEMO_ENV) ] || . ./$(DEMO_ENV); set +a; $(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

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
