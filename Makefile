# Two commands: `make run` (a running page from a fresh machine) and `make test` (the whole suite).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
ARGS ?=

# DEBUG stays off even for `make run`, so the app needs a real secret: one is made once per checkout.
ifeq ($(origin SECRET_KEY)$(origin SECRET_KEY_FILE),undefinedundefined)
export SECRET_KEY_FILE := $(CURDIR)/.data/secret_key
endif

# Links in the demo's feeds and JSON point where make run serves it.
export SITE_URL ?= http://127.0.0.1:$(PORT)

.DEFAULT_GOAL := help
.PHONY: help install run test lint format migrate demo screenshot bench-fanout bench-dependencies clean

help:
	@echo "make run         start the demo page with web, worker and beat (http://127.0.0.1:$(PORT)/)"
	@echo "make test        run the whole test suite (ARGS='-k name' to choose)"
	@echo "make lint        ruff check and format check"
	@echo "make demo        load the demo page (once)"
	@echo "make screenshot  refresh docs/img/ from the project's browser script"
	@echo "make bench-fanout  notification fan-out benchmark (PostgreSQL + Redis; N=100000)"
	@echo "make bench-dependencies  blast radius, proposals and the dependency page (SQLite; 2,000/10,000)"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall when the declared dependencies change.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade "pip>=25.1"
	$(BIN)/python -m pip install --quiet -e . --group dev
	@touch $@

install: $(VENV)/.installed

.data/secret_key:
	@mkdir -p .data
	@umask 077 && $(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(50))' > $@

migrate: install .data/secret_key
	$(BIN)/python manage.py migrate --noinput

demo: migrate
	$(BIN)/python manage.py demo

run: demo
	$(BIN)/python manage.py collectstatic --noinput -v0
	$(BIN)/python manage.py ensure_login
	$(BIN)/python manage.py launch --port $(PORT)

test: install .data/secret_key
	$(BIN)/python -m pytest $(ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

screenshot: migrate
	$(BIN)/python bench/screenshot.py

# Needs PostgreSQL and Redis; makes and drops its own database. docs/benchmarks.md has the results.
BENCH_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/postgres
BENCH_REDIS_URL ?= redis://127.0.0.1:6379/12
N ?= 100000
bench-fanout: install .data/secret_key
	DATABASE_URL=$(BENCH_DATABASE_URL) REDIS_URL=$(BENCH_REDIS_URL) $(BIN)/python -W ignore bench/fanout.py --subscribers $(N)

# SQLite in a fresh temporary data directory (never DATABASE_URL); results in docs/benchmarks.md.
bench-dependencies: install
	$(BIN)/python -W ignore bench/dependencies.py --components 2000 --edges 10000

clean:
	rm -rf $(VENV) .data *.egg-info
