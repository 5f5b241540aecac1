# Kelian developer entry points. From a fresh clone:
#   make run    create .venv, install Kelian, serve it with demo data on http://127.0.0.1:8080
#   make test   install the test extras and run the whole test suite
#   make lint   ruff
#   make bench  a short fanout load test of the relay beside the naive aiortc baseline
#               (BENCH_ARGS to change it; report in bench/)
# Dependencies are reinstalled only when pyproject.toml or constraints.txt change (stamp files
# in .venv record the last install); the browser code from npm (hls.js) only when package.json or
# package-lock.json change (`npm ci`; needs Debian's nodejs and npm).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEPS := pyproject.toml constraints.txt
RUN_STAMP := $(VENV)/.kelian-run-installed
TEST_STAMP := $(VENV)/.kelian-test-installed
BENCH_STAMP := $(VENV)/.kelian-bench-installed
NODE_STAMP := node_modules/.kelian-installed
PYTEST_ARGS ?=

.PHONY: run test lint bench

run: $(RUN_STAMP) $(NODE_STAMP)
	$(BIN)/kelian serve --demo

test: $(TEST_STAMP) $(NODE_STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(TEST_STAMP)
	$(BIN)/ruff check .

BENCH_OUT ?= bench
BENCH_ARGS ?= --subscribers 1,10,25 --duration 15 --target kelian --target naive-aiortc

bench: $(BENCH_STAMP)
	$(BIN)/python -m loadtest fanout --out $(BENCH_OUT) $(BENCH_ARGS)

$(BIN)/pip:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Kelian needs Python 3.11 or newer as $(PYTHON)" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV) || \
		{ echo "could not make $(VENV); on Debian/Ubuntu: apt-get install python3-venv" >&2; \
		  exit 1; }

$(RUN_STAMP): $(DEPS) | $(BIN)/pip
	$(BIN)/python -m pip install -c constraints.txt -e .
	touch $@

# The test extras include everything `run` needs, so this install satisfies both stamps.
$(TEST_STAMP): $(DEPS) | $(BIN)/pip
	$(BIN)/python -m pip install -c constraints.txt -e '.[test]'
	touch $@ $(RUN_STAMP)

$(BENCH_STAMP): $(DEPS) | $(BIN)/pip
	$(BIN)/python -m pip install -c constraints.txt -e '.[loadtest]'
	touch $@ $(RUN_STAMP)

$(NODE_STAMP): package.json package-lock.json
	@command -v npm >/dev/null 2>&1 || \
		{ echo "Kelian's pages need npm; on Debian/Ubuntu: apt-get install nodejs npm" >&2; exit 1; }
	npm ci --no-audit --no-fund
	touch $@
