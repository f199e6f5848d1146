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
.PHONY: help install run test lint format migrate demo screenshot bench-fanout bench-dependencies bench-public-load clean

help:
	@echo "make run         start the demo page with web, worker and beat (http://127.0.0.1:$(PORT)/)"
	@echo "make test        run the whole test suite (ARGS='-k name' to choose)"
	@echo "make lint        ruff check and format check"
	@echo "make demo        load the demo page (once)"
	@echo "make screenshot  refresh docs/img/ from the project's browser script"
	@echo "make bench-fanout  notification fan-out benchmark (PostgreSQL + Redis; N=100000)"
	@echo "make bench-dependencies  blast radius, proposals and the dependency page (SQLite; 2,000/10,000)"
	@echo "make bench-scale  the public page and summary.json, 500 components, 1,000 and 100,000 incidents (SQLite)"
	@echo "make outage-drill  stop PostgreSQL and Redis under a running install (throwaway servers)"
	@echo "make bench-public-load  public page and summary.json under wrk, against nginx (needs wrk, nginx)"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall when the declared dependencies or the lock change. The lock constrains every version it names,
# so a fresh machine installs exactly what was tested and audited, not whatever PyPI published since
# (a newer release made CI's lock check fail on a fresh clone). To upgrade: install the newer versions into
# .venv with pip, run the suite, then `make lock`.
$(VENV)/.installed: pyproject.toml requirements.lock | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade "pip>=25.1"
	$(BIN)/python -m pip install --quiet -e . --group dev -c requirements.lock
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
# wrk against the public page and summary.json (compose shape and make run shape) and nginx serving the
# same bytes; then writes under read load. Needs wrk and nginx (apt-get install -y wrk nginx-light),
# PostgreSQL and Redis. ARGS='--append-docs' adds the results to docs/benchmarks.md.
PUBLIC_LOAD_REDIS_URL ?= redis://127.0.0.1:6379/13
bench-public-load: install
	DATABASE_URL=$(BENCH_DATABASE_URL) REDIS_URL=$(PUBLIC_LOAD_REDIS_URL) $(BIN)/python -W ignore bench/public_load.py $(ARGS)

bench-dependencies: install
	$(BIN)/python -W ignore bench/dependencies.py --components 2000 --edges 10000

# SQLite in a fresh temporary data directory (never DATABASE_URL unless ARGS=--use-database-url); results in
# docs/benchmarks.md.
.PHONY: bench-scale
bench-scale: install
	$(BIN)/python -W ignore bench/scale.py --components 500 --groups 40 --history 1000,100000 $(ARGS)

# requirements.lock: the exact versions of the runtime and test dependencies, audited by `make audit` (CI).
.PHONY: lock audit
lock: install
	$(BIN)/python .ci/audit.py lock

# Fails on a known vulnerability with a fixed version (and when PyPI cannot be asked); .ci/audit.py says why.
audit: install
	$(BIN)/python .ci/audit.py check

# Stops PostgreSQL, Redis and both under a running installation, on its own throwaway servers (never the
# machine's), and checks the page stays up and everything catches up. ARGS='--keep' keeps its logs.
.PHONY: outage-drill
outage-drill: install
	$(BIN)/python -W ignore bench/outage_drill.py $(ARGS)

clean:
	rm -rf $(VENV) .data *.egg-info
