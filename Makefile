# Quick start: `make run` (embedded pipeline, no servers) and `make test` (whole suite, starts its own Kafka).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test unit integration bench up down lint clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[embedded,dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/platestream run

# Two pytest processes (most tests wait on brokers and subprocesses, not on the CPU), whole files to each so a
# file's fixtures (a broker, a worker, a store) are set up once; each process starts its own Kafka broker.
test: lint
	$(BIN)/pytest -q -n 2 --dist loadfile

unit: $(STAMP)
	$(BIN)/pytest -q -m "not integration"

bench: $(STAMP)
	$(BIN)/python load_tests/bench_core.py

# Style (ruff) and which way imports run (import-linter contracts in pyproject.toml).
lint: $(STAMP)
	$(BIN)/ruff check streams tests load_tests
	$(BIN)/lint-imports

# Full local stack: a real Kafka broker, topics, one worker on embedded ClickHouse. `make down` stops it.
up: $(STAMP)
	deploy/local/stack.sh up

down:
	deploy/local/stack.sh down

clean:
	rm -rf $(VENV) .local out
