# `make demo` and `make test` work on a fresh machine: each creates .venv and installs
# the project into it first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install demo test lint bench soak clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/dbops db start
	$(BIN)/dbops migrate
	$(BIN)/dbops sample-data --users 200 --seed 1 --skip-loaded
	$(BIN)/dbops status
	$(BIN)/dbops check
	$(BIN)/dbops retention run --metrics-file "$${DBOPS_HOME:-.dbops}/retention.prom"
	$(BIN)/dbops backup
	$(BIN)/dbops backup verify latest --restore
	$(BIN)/python -m ops.wal.demo

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check ops tests bench
	$(BIN)/mypy

# all jobs at once under application load, with kill -9 of random jobs (SOAK_SECONDS, default 120)
soak: $(STAMP)
	$(BIN)/python -m tests.soak

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	-$(BIN)/dbops db stop
	rm -rf $(VENV) .dbops
