# Relais — everyday commands. See README.md.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000
# The one public address of every printed, texted and published link (make demo PORT=8101).
SITE_URL ?= http://$(HOST):$(PORT)

.PHONY: install demo test test-fast lint format clean

$(BIN)/relais: pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 introuvable ($(PYTHON))"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

install: $(BIN)/relais

demo: install
	$(BIN)/relais migrate --noinput
	SITE_URL=$(SITE_URL) $(BIN)/relais demo_data --print-logins
	LOG_FORMAT=plain SITE_URL=$(SITE_URL) $(BIN)/relais serve_demo --addr $(HOST):$(PORT)

test: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: install
	$(BIN)/python -m pytest -m "not browser" -x -q $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) var/*.sqlite3 .pytest_cache

# Benchmarks at national scale (docs/benchmarks.md); needs PostgreSQL, wipes BENCH_DATABASE_URL
# (and the generated data in JOURNEYS_DATABASE_URL, for the journeys on a national database).
# BENCH_ARGS=--quick for a small run. Every figure is the median of 3 runs (BENCH_ARGS=--runs N).
# PEERS=1 (make bench PEERS=1) also installs django-appointment and GNU Health from PyPI into
# var/peers/ and measures their bookings side by side (relais bench --peers).
BENCH_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/relais_scale_bench
PEERS ?=
.PHONY: bench bench-journeys
bench: install bench-journeys bench-journeys-national
	$(BIN)/relais bench --database-url $(BENCH_DATABASE_URL) $(if $(PEERS),--peers) $(BENCH_ARGS)

# Each role's main flow in Chromium on a fresh demo (issue 18, item 8): actions, keys,
# keystroke-level time, server time per page -> docs/benchmarks-journeys.json and the
# journeys section of docs/benchmarks.md (kept by relais bench). Not a timed test.
JOURNEYS_VAR ?= var/journeys
JOURNEYS_PORT ?= 8199
bench-journeys: install
	rm -rf $(JOURNEYS_VAR) && mkdir -p $(JOURNEYS_VAR)
	RELAIS_VAR_DIR=$(JOURNEYS_VAR) $(BIN)/relais migrate -v0
	RELAIS_VAR_DIR=$(JOURNEYS_VAR) $(BIN)/relais demo_data
	RELAIS_VAR_DIR=$(JOURNEYS_VAR) $(BIN)/relais bench_journeys --port $(JOURNEYS_PORT)

# The same journeys on a national-size database ("Base nationale" table of the same
# section): relais generate into JOURNEYS_DATABASE_URL (PostgreSQL, wiped), the demo's
# logins and territory on top (relais demo_data), then bench_journeys --dataset national.
JOURNEYS_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/relais_journeys_bench
JOURNEYS_GENERATE_ARGS ?= --professionals 60000 --days 3 --requests 200000
# Creates the database if it does not exist (as relais bench does for its own).
define JOURNEYS_CREATE_DB
import sys, psycopg
from urllib.parse import urlsplit, urlunsplit
url = urlsplit(sys.argv[1]); name = url.path.lstrip("/")
with psycopg.connect(urlunsplit(url._replace(path="/postgres")), autocommit=True) as c:
    if not c.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
        c.execute(f'CREATE DATABASE "{name}"')
endef
export JOURNEYS_CREATE_DB
.PHONY: bench-journeys-national
bench-journeys-national: install
	mkdir -p $(JOURNEYS_VAR)-national
	$(BIN)/python -c "$$JOURNEYS_CREATE_DB" $(JOURNEYS_DATABASE_URL)
	DATABASE_URL=$(JOURNEYS_DATABASE_URL) $(BIN)/relais migrate -v0
	DATABASE_URL=$(JOURNEYS_DATABASE_URL) $(BIN)/relais generate --reset $(JOURNEYS_GENERATE_ARGS)
	DATABASE_URL=$(JOURNEYS_DATABASE_URL) $(BIN)/relais demo_data
	DATABASE_URL=$(JOURNEYS_DATABASE_URL) RELAIS_VAR_DIR=$(JOURNEYS_VAR)-national \
		$(BIN)/relais bench_journeys --port $(JOURNEYS_PORT) --dataset national

# Failure drill of the deployment (issue 20, item 6; docs/operations.md "Failure drill"):
# throwaway primary + replica (55432/55433), PgBouncer (56432), two gunicorn nodes
# (18101/18102), two workers, a booking load through the faults. Needs pgbouncer (Debian).
DRILL_ARGS ?=
.PHONY: test-deploy
test-deploy: install
	$(BIN)/python scripts/drill_deploy.py $(DRILL_ARGS)
