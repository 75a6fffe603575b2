# One command per chore. Every target installs what it needs first.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
BENCH_STAMP := $(VENV)/.bench-stamp

.PHONY: run test check bench install clean head head-check

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The bench extra (splink, the reference linker) only for `make bench`: its
# pyarrow is some 170 MB that neither the service nor its tests need.
$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $(BENCH_STAMP)

## run: install, start the embedded database, run the demo pipeline end to end
run: $(STAMP)
	$(BIN)/equity-connect demo

## test: the whole suite against the embedded database (or $$DATABASE_URL)
test: $(STAMP)
	$(BIN)/python -m pytest -q -n auto --dist loadfile

## check: lint and type-check the source
check: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

## bench: the benchmarks, each printing a ratio against an in-run baseline
bench: $(BENCH_STAMP)
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) .data .pytest_cache .mypy_cache .ruff_cache

## head: retrain the reply classifier's head from data/replies/*.jsonl
head: $(STAMP)
	$(BIN)/python -m equity_connect.replies.train

## head-check: fail when the committed head is stale (also a test)
head-check: $(STAMP)
	$(BIN)/python -m equity_connect.replies.train --check
