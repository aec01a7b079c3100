# Tradepost — `make run` serves the app with everything it needs; `make test` runs the suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export FLASK_APP := app
export PYTHONPATH := $(CURDIR)

.PHONY: run test test-browser lint db-check install install-dev migrate seed clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt $(VENV)/.installed
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

migrate: install
	$(BIN)/flask db upgrade heads

seed: migrate
	$(BIN)/flask seed-demo

# Ports: PORT (web, 5000), SANDBOX_PORT (5055), REDIS_PORT (embedded Redis, 6380), from the
# environment or .env, e.g. `PORT=5100 SANDBOX_PORT=5155 REDIS_PORT=6390 make run`.
# app/devrun.py resolves them (and the URLs built from them) once for every process.
run: seed
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m app.devrun

# Two processes (pytest-xdist) by default, on SQLite or, with TEST_DATABASE_URL, on PostgreSQL
# (a database per worker, tests/database.py worker_database); PYTEST_ARGS="-n 0" runs serially.
# --dist worksteal: an idle worker takes queued tests from the other, so a few long tests
# (subprocess entry points, the bench smoke run) do not leave one worker running alone at the end.
# PYTHONDONTWRITEBYTECODE= : bytecode is cached (__pycache__, git-ignored) even where the
# environment turns it off: without it every xdist worker compiles and assertion-rewrites the
# whole suite again (~8 s of CPU each), and every process a test starts compiles the app.
PYTEST_ARGS ?= -n 2 --dist worksteal
test: install-dev
	PYTHONDONTWRITEBYTECODE= $(BIN)/pytest $(PYTEST_ARGS)

# Lint and types, before the tests in CI: ruff (lint rules, then formatting), mypy (the packages
# in pyproject.toml), then db-check.
lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	@$(MAKE) --no-print-directory db-check

# Models and migrations agree (`flask db check`) on a fresh database migrated to head: a
# throwaway SQLite file, or DB_CHECK_URL=postgresql://… (an empty database) for another engine.
db-check: install
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	export DATABASE_URL="$${DB_CHECK_URL:-sqlite:///$$tmp/check.db}"; \
	echo "flask db upgrade heads && flask db check"; \
	$(BIN)/flask db upgrade heads 2>"$$tmp/upgrade.log" || { cat "$$tmp/upgrade.log"; exit 1; }; \
	$(BIN)/flask db check

# Browser journeys: Playwright driving Debian's /usr/bin/chromium (apt-get install -y chromium;
# never `playwright install`) against the real stack on free ports. PostgreSQL when
# TEST_DATABASE_URL is set. Screenshots and logs: test-artifacts/browser/. One journey at a
# time (each starts its own stack on one database): BROWSER_ARGS, not PYTEST_ARGS' -n 2.
BROWSER_ARGS ?=
test-browser: install-dev
	ROUTE_COVERAGE=off $(BIN)/pytest tests/browser $(BROWSER_ARGS)

clean:
	rm -rf $(VENV) instance .pytest_cache
