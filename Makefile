# Two promises to a newcomer: `make run` and `make test`, on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
RUN_STAMP := $(VENV)/.installed-run
HOST   ?= 127.0.0.1
PORT   ?= 8888

.PHONY: run test lint bots clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# The server alone needs only the package; the tests and benchmarks need the extras.
$(RUN_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $(RUN_STAMP)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP) $(RUN_STAMP)

run: $(RUN_STAMP)
	$(BIN)/python -m game_server --host $(HOST) --port $(PORT)

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .

bots: $(RUN_STAMP)
	$(BIN)/python -m client.bots --url http://$(HOST):$(PORT) --bots 10 --duration 60

clean:
	rm -rf $(VENV) data .pytest_cache
