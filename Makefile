# The two commands a newcomer needs (README): `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000

.PHONY: run setup test lint soak

# Set everything up and run the service on embedded defaults: SQLite and
# local files under var/ (VAR_DIR), no Redis, PostgreSQL or S3 needed; the demo
# data and a webhook receiver beside it (scripts/dev-run.sh).
run: setup
	PORT=$(PORT) bash scripts/dev-run.sh

setup: $(VENV)/.installed
	mkdir -p "$${VAR_DIR:-var}"
	DEBUG=1 $(BIN)/python manage.py migrate --noinput

# Run the tests against the machine's PostgreSQL and Redis (127.0.0.1).
test: $(VENV)/.installed-dev
	bash scripts/check-services.sh
	$(BIN)/ruff check .
	$(BIN)/pytest

# On demand, not in CI: 10 minutes of mixed traffic (~20 with the drain) against the whole
# deployment with a fault every minute (tests/system/test_soak.py).
# SOAK_SECONDS and SOAK_FAULT_EVERY shorten or lengthen it.
soak: $(VENV)/.installed-dev
	bash scripts/check-services.sh
	$(BIN)/pytest -m soak -s tests/system/test_soak.py

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

$(VENV)/.installed: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	bash scripts/install-system-packages.sh
	touch $(VENV)/.installed $@
