# syncd developer tasks (GNU make).  Quick start:  make test   |   make demo
#
# Knobs (environment or make VAR=...):
#   PYTHON=python3                   interpreter that creates .venv
#   REDMINE_PORT=3000                the real Redmine on 127.0.0.1 (make redmine)
#   REDMINE_DATADIR=/var/lib/syncd-redmine
#   SYNCD_REQUIRE_REDMINE=1          tests fail instead of skipping without Redmine (CI sets it)
#
# `make redmine` needs root (sudo is used when you are not): the first run apt-installs
# Debian's redmine package and starts it; later runs take about a second.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.syncd-install.stamp
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

export SYNCD_REQUIRE_REDMINE

.PHONY: help venv redmine redmine-stop test test-reliability bench bench-redmine lint format demo chromium clean distclean

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  %-13s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

venv: $(STAMP) ## .venv with syncd (editable) and the test tools

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check -q -e '.[test]'
	@touch $@

redmine: ## start + provision the real Redmine, write var/redmine.env (root)
	$(SUDO) env REDMINE_PORT="$(REDMINE_PORT)" REDMINE_DATADIR="$(REDMINE_DATADIR)" \
		bash scripts/test-env.sh >/dev/null

redmine-stop: ## stop the Redmine server (data is kept)
	$(SUDO) env REDMINE_DATADIR="$(REDMINE_DATADIR)" bash scripts/test-env.sh stop

test: venv redmine ## lint, format check, then the whole test suite
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest -q

test-reliability: venv redmine ## the reliability suite at full size (kills, faults, hostile input)
	SYNCD_RELIABILITY=full $(BIN)/pytest -q -m reliability

BENCH_REDMINE_PORT ?= 3200
BENCH_REDMINE_DATADIR ?= /var/lib/syncd-redmine-bench
BENCH_STAMP := $(VENV)/.syncd-bench.stamp

$(BENCH_STAMP): $(STAMP) pyproject.toml
	$(BIN)/python -m pip install --disable-pip-version-check -q -e '.[test,bench]'
	@touch $@

bench-redmine: ## a fresh Redmine of the benchmarks' own on :3200 (never the tests'), var/redmine-bench.env
	@case "$(abspath $(BENCH_REDMINE_DATADIR))" in "$(abspath $(REDMINE_DATADIR))"|/var/lib/syncd-redmine) \
		echo "BENCH_REDMINE_DATADIR must not be the tests' Redmine" >&2; exit 2;; esac
	$(SUDO) env REDMINE_DATADIR="$(BENCH_REDMINE_DATADIR)" bash scripts/test-env.sh stop
	$(SUDO) rm -f "$(BENCH_REDMINE_DATADIR)/db/redmine.sqlite3" "$(BENCH_REDMINE_DATADIR)/syncd-provision.json"
	$(SUDO) env REDMINE_PORT="$(BENCH_REDMINE_PORT)" REDMINE_DATADIR="$(BENCH_REDMINE_DATADIR)" \
		SYNCD_REDMINE_ENV="$(CURDIR)/var/redmine-bench.env" bash scripts/test-env.sh >/dev/null

bench: venv $(BENCH_STAMP) bench-redmine ## benchmarks (bench/) -> bench/results.md and .json; BENCH_ARGS=--quick
	$(BIN)/python -m bench $(BENCH_ARGS)

lint: venv ## ruff check + format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: venv ## apply ruff's formatting and safe fixes
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

demo: venv redmine ## run the demo against the local Redmine and the Zendesk emulator
	$(BIN)/syncd demo

chromium: ## Debian's chromium (for report screenshots; root)
	$(SUDO) apt-get install -y chromium fonts-liberation

clean: ## remove caches and build leftovers
	rm -rf .pytest_cache .ruff_cache .hypothesis build dist *.egg-info
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +

distclean: clean ## also remove .venv and var/ (local state, the Redmine env file)
	rm -rf $(VENV) var
