# l2i: `make run` starts the service with its database, `make test` runs the whole suite. `make` lists targets.
SHELL := /bin/bash
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
export DATABASE_URL ?= postgresql:///l2i

.DEFAULT_GOAL := help
.PHONY: help run test ha db db-up migrate fuzz compliance bench bench-partitions clean nginx mutants

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

# The venv is a file target: rebuilt when the dependencies in setup.cfg (or the packaging in setup.py) change.
$(BIN)/.installed: setup.cfg setup.py
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	@touch $@

$(BIN)/.installed-test: $(BIN)/.installed
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $@

db-up: ## make sure the local PostgreSQL server is running (starts it if needed)
	@pg_isready -q || { \
	  v=$$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1); \
	  test -n "$$v" || { echo "PostgreSQL is not running and no local cluster was found: set DATABASE_URL"; exit 1; }; \
	  echo "starting PostgreSQL $$v"; pg_ctlcluster --skip-systemctl-redirect $$v main start; \
	  for i in $$(seq 1 30); do pg_isready -q && break; sleep 1; done; pg_isready; }

# What the tests need from the system, installed with apt-get when missing (CI: a fresh machine with PostgreSQL only).
# pgbouncer: tests/test_pgbouncer.py and make bench; pg_autoctl (pg_auto_failover): tests/test_failover.py.
APT_INSTALL = apt-get install -y -qq $(1) || { apt-get update -qq && apt-get install -y -qq $(1); }
/usr/sbin/pgbouncer:
	$(call APT_INSTALL,pgbouncer)

/usr/bin/pg_autoctl:
	$(call APT_INSTALL,postgresql-15-auto-failover)

migrate: $(BIN)/.installed db-up ## create the database if missing and apply the migrations
	$(BIN)/l2i migrate --create-database

run: migrate ## start the service (gunicorn, http://127.0.0.1:8000) with its database
	exec $(BIN)/gunicorn -c gunicorn.conf.py

# Debian's nginx, for tests/test_nginx.py (which starts its own on scratch ports with deploy/nginx/l2i.conf).
nginx: ## install nginx if missing (apt-get)
	@command -v nginx >/dev/null || test -x /usr/sbin/nginx || apt-get install -y -qq nginx \
	  || { apt-get update -qq && apt-get install -y -qq nginx; }

# make test leaves out the tests marked ha (a pg_auto_failover formation: 2-4 minutes on a shared 2-core machine).
test: $(BIN)/.installed-test db-up nginx /usr/sbin/pgbouncer ## run the test suite (creates and drops scratch databases); make ha for failover
	$(BIN)/python -m pytest -m "not ha" $(PYTEST_ARGS)

ha: $(BIN)/.installed-test db-up /usr/bin/pg_autoctl ## the failover and standby tests: a pg_auto_failover formation on loopback (2-4 min)
	$(BIN)/python -m pytest -m ha -s $(PYTEST_ARGS)

fuzz: $(BIN)/.installed-test db-up ## fuzz every documented endpoint with many more examples
	L2I_FUZZ_EXAMPLES=$${L2I_FUZZ_EXAMPLES:-1000} $(BIN)/python -m pytest tests/test_fuzz.py $(PYTEST_ARGS)

compliance: $(BIN)/.installed-test db-up ## compare the calling rules with the oracle: every 5 minutes of 2027-2028, more leads
	L2I_ORACLE=full $(BIN)/python -m pytest tests/test_calling_oracle.py tests/test_calling_window.py tests/test_compliance.py $(PYTEST_ARGS)

mutants: $(BIN)/.installed-test db-up nginx ## apply named mutants of the critical SQL and Python; print which survive
	$(BIN)/python tests/mutants.py $(MUTANTS)

# `make bench SOAK=300` for the 5-minute memory run; BENCH_SECONDS is the length of each measurement. The rounds
# against the reference run ../shared/perf-reference/run.sh (L2I_REFERENCE=folder to point elsewhere) when it
# exists, and say "reference: skipped" when it does not. Last, intake, GET and claims on LEADS leads over 24 months,
# partitioned against one table (bench/partitions.py, also alone as `make bench-partitions`): the default, 10
# million leads as issue 12 asks, loads for a long while (about an hour here); LEADS=1000000 takes about 10 minutes.
SOAK ?= 60
BENCH_SECONDS ?= 15
LEADS ?= 10000000
bench: $(BIN)/.installed db-up /usr/sbin/pgbouncer ## measure intake next to its SQL floor, framework ceiling and the reference, what a campaign and the constraints add, and partitions vs one table; writes bench/RESULTS.md
	@command -v wrk >/dev/null || apt-get install -y -qq wrk || { apt-get update -qq && apt-get install -y -qq wrk; }
	$(BIN)/python bench/run.py --seconds $(BENCH_SECONDS) --soak $(SOAK)
	$(BIN)/python bench/campaign_cost.py
	$(BIN)/python bench/intake_cost.py
	$(BIN)/python bench/partitions.py --leads $(LEADS) --seconds $(BENCH_SECONDS)

bench-partitions: $(BIN)/.installed db-up ## intake, GET and claims on LEADS leads over 24 months: partitioned vs one table
	@command -v wrk >/dev/null || apt-get install -y -qq wrk || { apt-get update -qq && apt-get install -y -qq wrk; }
	$(BIN)/python bench/partitions.py --leads $(LEADS) --seconds $(BENCH_SECONDS)

clean: ## remove the venv and caches
	rm -rf $(VENV) .pytest_cache .hypothesis *.egg-info
