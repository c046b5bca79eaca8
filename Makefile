# The hub: `make run` serves the demo, `make test` runs everything.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha256sum | cut -c1-12)
DATA ?= data
PORT ?= 8000
# outside Linux's ephemeral range, so no client's own port can take it while it restarts
KAFKA_PORT ?= 29092
export KAFKA_PORT

.PHONY: setup run test lint bench bench-full clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev,bench]'
	rm -f $(VENV)/.installed-* && touch $(STAMP)

setup: $(STAMP)

run: setup
	$(BIN)/hub --data $(DATA) serve --demo --port $(PORT)

lint: setup
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy

# The Kafka tests talk to a real one-broker KRaft cluster that scripts/kafka starts here;
# the browser tests drive Debian's Chromium, which scripts/browser-deps installs if missing.
test: setup lint
	scripts/browser-deps
	scripts/kafka start
	HUB_TEST_KAFKA=127.0.0.1:$(KAFKA_PORT) $(BIN)/pytest; status=$$?; scripts/kafka stop; exit $$status

bench: setup
	$(BIN)/python -m bench.run

bench-full: setup
	$(BIN)/python -m bench.run --full

clean:
	rm -rf $(DATA)
