# Reflexio Admin: developer and CI entry points.  `make` alone prints the targets.
#
#   make install   create .venv (Python 3.12) and sync it to requirements.lock
#   make run       migrate, seed demo data, serve on http://127.0.0.1:8000 (SQLite,
#                  embedded queue, offline LLM; DEBUG=1 unless DEBUG is set)
#   make test      start PostgreSQL + Redis if needed, ensure Chromium, run pytest
#                  (select tests with PYTEST_ARGS="tests/test_x.py -k name")
#   make lint      ruff format --check + ruff check
#   make fmt       ruff format + ruff check --fix
#   make worker    rq worker on the "default" queue (needs REDIS_URL)
#   make bench     seed PostgreSQL, run the benchmarks, print the table and write
#                  bench-results/latest.json (BENCH_ARGS="--size small" for a
#                  quick run); see docs/performance.md
#   make clean     remove .venv and caches (keeps var/, the local SQLite data)

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
UV_VERSION ?= 0.13.9

# Test environment (target-specific, so `make run` keeps its own DEBUG and
# `make worker` its own REDIS_URL): each value can be overridden from the
# environment or the command line. tests/settings.py holds the defaults for
# everything else (plain http, inline operations).
test: DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/reflexio
test: REDIS_URL ?= redis://127.0.0.1:6379/15
test: SECRET_KEY ?= test-secret-not-for-production
test: DEBUG ?= 0
test: ALLOWED_HOSTS ?= 127.0.0.1,localhost,testserver
test: CHROMIUM_PATH ?= /usr/bin/chromium
PYTEST_ARGS ?=

.PHONY: help install run test lint fmt worker bench clean

help:
	@echo "Reflexio Admin make targets:"
	@echo "  make install   create .venv (Python 3.12) and sync it to requirements.lock"
	@echo "  make run       migrate, seed demo data, serve on http://127.0.0.1:8000 (DEBUG=1 unless set)"
	@echo "  make test      start PostgreSQL/Redis if needed, ensure Chromium, run pytest"
	@echo "                 (PYTEST_ARGS='tests/test_x.py -k name' selects tests)"
	@echo "  make lint      ruff format --check + ruff check"
	@echo "  make fmt       ruff format + ruff check --fix"
	@echo "  make worker    rq worker on the 'default' queue (needs REDIS_URL)"
	@echo "  make bench     run the benchmarks (BENCH_ARGS='--size small' for a quick run)"
	@echo "  make clean     remove .venv and caches (keeps var/)"

# --- environment -------------------------------------------------------------

install: $(STAMP)

# The interpreter: python3.12 on PATH (checked by running it, since a pyenv shim
# can exist without a usable version behind it), else a pyenv 3.12 build.
$(PY):
	@py=""; \
	for cand in "$$(command -v python3.12 || true)" /root/.pyenv/versions/3.12.*/bin/python3.12; do \
	    [ -n "$$cand" ] && [ -x "$$cand" ] || continue; \
	    if real=$$("$$cand" -c 'import sys; assert sys.version_info[:2] == (3, 12); print(sys.executable)' 2>/dev/null); then \
	        py="$$real"; break; \
	    fi; \
	done; \
	if [ -z "$$py" ]; then \
	    echo "ERROR: Python 3.12 not found (tried python3.12 on PATH and /root/.pyenv/versions/3.12.*/bin/python3.12)." >&2; \
	    echo "       Install Python 3.12 (e.g. 'pyenv install 3.12') and run 'make install' again." >&2; \
	    exit 1; \
	fi; \
	echo "Creating $(VENV) with $$py"; \
	rm -rf $(VENV); \
	"$$py" -m venv $(VENV)

$(STAMP): requirements.lock | $(PY)
	@$(PY) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' || \
	    { echo "ERROR: $(VENV) is not Python 3.12; remove it (make clean) and run make install." >&2; exit 1; }
	@if [ "$$($(VENV)/bin/uv --version 2>/dev/null | cut -d' ' -f2)" != "$(UV_VERSION)" ]; then \
	    echo "Installing uv $(UV_VERSION) into $(VENV)"; \
	    $(PY) -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"; \
	fi
	$(VENV)/bin/uv pip sync --python $(PY) requirements.lock
	@touch $@

# --- running ------------------------------------------------------------------

run: install
	@export DEBUG="$${DEBUG-1}"; \
	$(PY) manage.py migrate --noinput; \
	$(PY) manage.py seed_demo; \
	exec $(PY) manage.py runserver 127.0.0.1:8000

worker: install
	@if [ -z "$${REDIS_URL:-}" ]; then \
	    echo "ERROR: make worker needs REDIS_URL, e.g. REDIS_URL=redis://127.0.0.1:6379/0 make worker" >&2; \
	    exit 1; \
	fi
	$(PY) manage.py rqworker default

# The bench's own database and Redis db, so it never touches the tests' data;
# BENCH_ARGS passes flags, e.g. BENCH_ARGS="--size small --only pages".
bench: DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/reflexio_bench
bench: REDIS_URL ?= redis://127.0.0.1:6379/11
bench: SECRET_KEY ?= bench-secret-not-for-production
bench: DEBUG ?= 0
bench: ALLOWED_HOSTS ?= 127.0.0.1,localhost,testserver
BENCH_ARGS ?=

bench: install
	bash scripts/services.sh start
	DATABASE_URL='$(DATABASE_URL)' \
	REDIS_URL='$(REDIS_URL)' \
	SECRET_KEY='$(SECRET_KEY)' \
	DEBUG='$(DEBUG)' \
	SECURE_SSL_REDIRECT=0 \
	SECURE_COOKIES=0 \
	SECURE_HSTS_SECONDS=0 \
	ALLOWED_HOSTS='$(ALLOWED_HOSTS)' \
	$(PY) -m bench $(BENCH_ARGS)

# --- tests ----------------------------------------------------------------------

test: install
	bash scripts/services.sh start
	CHROMIUM_PATH='$(CHROMIUM_PATH)' bash scripts/ensure_chromium.sh
	DATABASE_URL='$(DATABASE_URL)' \
	REDIS_URL='$(REDIS_URL)' \
	SECRET_KEY='$(SECRET_KEY)' \
	DEBUG='$(DEBUG)' \
	ALLOWED_HOSTS='$(ALLOWED_HOSTS)' \
	CHROMIUM_PATH='$(CHROMIUM_PATH)' \
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .

fmt: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis staticfiles
	find . -name __pycache__ -type d -prune -not -path './.git/*' -exec rm -rf {} +
