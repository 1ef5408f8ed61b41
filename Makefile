# Hotline: `make demo` runs the embedded demo, `make test` the whole suite.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# two stamps: the demo installs Hotline alone; the tests add their tools (pytest, mypy,
# playwright...) on top, so `make test` after `make demo` still installs them
DEMO_STAMP := $(VENV)/.installed-demo
TEST_STAMP := $(VENV)/.installed-test
# the front-end packages Hotline serves itself (chart.js for the reports' charts; no CDN):
# `npm ci` writes this file last, so it stamps a finished install of package-lock.json
NPM ?= npm
NODE_STAMP := node_modules/.package-lock.json

.PHONY: demo test lint venv clean bench

$(BIN)/python:
	@echo "==> creating the virtual environment $(VENV)"
	$(PY) -m venv $(VENV)
	@echo "==> updating pip"
	$(BIN)/pip install --upgrade pip

$(DEMO_STAMP): pyproject.toml | $(BIN)/python
	@echo "==> installing Hotline and what it runs on (no test tools)"
	$(BIN)/pip install -e .
	touch $@

$(TEST_STAMP): pyproject.toml | $(BIN)/python
	@echo "==> installing Hotline with the test tools (pytest, mypy, playwright...)"
	$(BIN)/pip install -e '.[test]'
	touch $@

$(NODE_STAMP): package.json package-lock.json
	@if command -v $(NPM) >/dev/null 2>&1; then \
	  echo "==> installing the front-end packages Hotline serves (chart.js)"; \
	  $(NPM) ci --omit=dev --no-audit --no-fund \
	    || { echo "==> npm ci failed: the reports will show their tables without charts"; \
	         [ -z "$$CI" ]; }; \
	else \
	  echo "==> npm not found: the reports will show their tables without charts"; \
	  [ -z "$$CI" ]; \
	fi

venv: $(TEST_STAMP) $(NODE_STAMP)

demo: $(DEMO_STAMP) $(NODE_STAMP)
	@echo "==> starting the demo (its log goes to a file: the banner says where)"
	$(BIN)/hotline demo

test: $(TEST_STAMP) $(NODE_STAMP)
	$(BIN)/python -m pytest -q

lint: $(TEST_STAMP)
	$(BIN)/ruff check hotline telephony crm_core ivr agent_console numbering tests benchmarks
	$(BIN)/mypy

bench: $(TEST_STAMP)
	$(BIN)/python benchmarks/ingest.py

clean:
	rm -rf $(VENV) node_modules build *.egg-info .pytest_cache .mypy_cache .ruff_cache
