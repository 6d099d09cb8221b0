# Two promises to a newcomer: `make run` and `make test`, on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
RUN_STAMP := $(VENV)/.installed-run
BENCH_STAMP := $(VENV)/.installed-bench
HOST   ?= 127.0.0.1
PORT   ?= 8888
# ARGS: the arguments of the command a target runs, replacing its defaults:
#   make capacity ARGS="--steps 100,200"   make locust ARGS="--headless -u 200 -r 50 -t 60s"
# Installs print errors only: a first `make run` shows Arena's own lines, not pip's progress or
# warnings about this machine's pip configuration. The build backend's warnings are fixed at
# their cause (packages declared whole); its one note on every editable install of a flat layout
# (a box saying folders named like the package may shadow it) is filtered by its text, in the
# backend's environment, so it stays away at any verbosity.
PIP_INSTALL := PYTHONWARNINGS="ignore:Editable installation" $(BIN)/pip install --quiet --quiet \
               --disable-pip-version-check

.PHONY: run test lint bots bench probe capacity locust clean

$(BIN)/python:
	@echo "Setting up $(VENV) (first run only; takes a minute)"
	@$(PYTHON) -m venv $(VENV)
	@$(PIP_INSTALL) --upgrade pip

# The server needs the package; the guides' games (examples/tictactoe, examples/lantern, separate
# packages) come too, since the README's lobby shows them. The tests and benchmarks need extras.
EXAMPLES := -e examples/tictactoe -e examples/lantern
$(RUN_STAMP): pyproject.toml examples/tictactoe/pyproject.toml examples/lantern/pyproject.toml | $(BIN)/python
	@$(PIP_INSTALL) -e . $(EXAMPLES)
	@touch $(RUN_STAMP)

# The examples' tests run with the rest.
$(STAMP): pyproject.toml examples/tictactoe/pyproject.toml examples/lantern/pyproject.toml | $(BIN)/python
	@echo "Installing the test dependencies into $(VENV)"
	@$(PIP_INSTALL) -e '.[test]' $(EXAMPLES)
	@touch $(STAMP) $(RUN_STAMP)

$(BENCH_STAMP): pyproject.toml | $(BIN)/python
	@echo "Installing the benchmark dependencies (locust, matplotlib, py-spy) into $(VENV)"
	@$(PIP_INSTALL) -e '.[bench]' $(EXAMPLES)
	@touch $(BENCH_STAMP) $(RUN_STAMP)

run: $(RUN_STAMP)
	@$(BIN)/python -m game_server --host $(HOST) --port $(PORT) $(ARGS)

# The suite runs on $(JOBS) workers, then the tests marked `serial` (they measure rates, timing or
# memory, which a neighbour's load would skew) run alone. Either part may select no test when
# ARGS names a few (pytest's exit code 5), which is not a failure.
JOBS ?= 2
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -n $(JOBS) -m "not serial" $(ARGS) || [ $$? -eq 5 ]
	$(BIN)/python -m pytest -q -p no:xdist -m serial $(ARGS) || [ $$? -eq 5 ]

lint: $(STAMP)
	$(BIN)/ruff check .

bots: ARGS ?= --bots 10 --duration 60
bots: $(RUN_STAMP)
	$(BIN)/python -m client.bots --url http://$(HOST):$(PORT) $(ARGS)

# Arena against the transport floor (bench/floor.py): make bench ARGS="--rounds 5"
bench: $(BENCH_STAMP)
	$(BIN)/python -m bench.floor $(ARGS)

# Timers inside the game servers a command starts (bench/probe.py):
# make probe ARGS="-- -m bench.floor --players 400 --rounds 1"
probe: $(BENCH_STAMP)
	$(BIN)/python -m bench.probe $(ARGS)

# How many players one server process holds (bench/capacity.py, locust): make capacity
capacity: $(BENCH_STAMP)
	$(BIN)/python -m bench.capacity $(ARGS)

# Locust players against a running server (make run in another terminal)
locust: ARGS ?= --headless -u 50 -r 10 -t 20s
locust: $(BENCH_STAMP)
	$(BIN)/locust -f bench/locustfile.py --host http://$(HOST):$(PORT) $(ARGS)

clean:
	rm -rf $(VENV) data .pytest_cache
