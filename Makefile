# The two commands a newcomer needs: `make demo` and `make test` (both set themselves up).
# `make test` is the full suite (what CI runs); `make check` skips the tests marked slow (under 2 min).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | cksum | cut -d' ' -f1)
PYTEST_ARGS ?=

.PHONY: setup demo test check ui bench clean-lake

setup: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@rm -f $(VENV)/.installed-*
	@touch $@

demo: $(STAMP)
	$(BIN)/python -m dvol_pipeline demo

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

check: $(STAMP)
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

ui: $(STAMP)
	DAGSTER_HOME=$$($(BIN)/python -m dvol_pipeline home) exec $(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

bench: $(STAMP)
	$(BIN)/python -m dvol_pipeline_tests.bench.bench_raw_lake
	$(BIN)/python -m dvol_pipeline_tests.bench.bench_walkforward
	$(BIN)/python -m dvol_pipeline_tests.bench.bench_options --no-surface
	$(BIN)/python -m dvol_pipeline_tests.bench.bench_surface
	$(BIN)/python -m dvol_pipeline_tests.bench.bench_backtest
	$(BIN)/python -m dvol_pipeline_tests.bench.bench_scale

clean-lake:
	find data_lake -mindepth 1 -maxdepth 1 ! -name README.md ! -name .gitignore -exec rm -rf {} +
