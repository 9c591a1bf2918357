# The two commands a newcomer needs: `make demo` and `make test` (both set themselves up).
# `make test` is the full suite (what CI runs) and builds the docs; `make check` skips the tests marked
# slow (under 4 min); `make docs` builds the documentation site into site/ (mkdocs build --strict).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | cksum | cut -d' ' -f1)
DOCS_STAMP := $(VENV)/.docs-installed-$(shell cat requirements-docs.lock | cksum | cut -d' ' -f1)
PYTEST_ARGS ?=

.PHONY: setup demo test check docs ui serve bench clean-lake postgres-server browser

setup: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@rm -f $(VENV)/.installed-*
	@touch $@

# `make demo` installs the runtime only (requirements.lock, above); `make test`, `check` and `bench`
# add requirements-test.lock: pytest and its plugins, hypothesis, selenium and the oracles the tests
# compare against (QuantLib, py_vollib, empyrical-reloaded), with their own dependencies, the
# runtime's versions kept as locked. Each lock is installed once (its own stamp file).
TEST_STAMP := $(VENV)/.test-installed-$(shell cat requirements.lock requirements-test.lock | cksum | cut -d' ' -f1)

$(TEST_STAMP): $(STAMP) requirements-test.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-test.lock -c requirements.lock
	@rm -f $(VENV)/.test-installed-*
	@touch $@

demo: $(STAMP)
	$(BIN)/python -m dvol_pipeline demo

test: $(TEST_STAMP) docs postgres-server browser
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The documentation site (docs/, mkdocs.yml) built offline into site/ (git-ignored). --strict turns
# every warning into a failure: a broken link or anchor, a page missing from the nav (see
# `validation` in mkdocs.yml). Then every relative link of README.md must name a file that exists.
# MkDocs comes from requirements-docs.lock, installed into .venv on its own (no full install needed).
docs: $(DOCS_STAMP)
	$(BIN)/mkdocs build --strict --clean --site-dir site
	@grep -oE '\]\([^)]+\)' README.md | sed -E 's/^\]\(//; s/\)$$//; s/#.*$$//' | grep -vE '^$$|^[a-z]+:' | \
	  while read -r target; do test -e "$$target" || { echo "README.md links to $$target, which does not exist"; exit 1; }; done
	@echo "docs: site/index.html built (mkdocs --strict); README.md links checked"

$(DOCS_STAMP): requirements-docs.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-docs.lock
	@rm -f $(VENV)/.docs-installed-*
	@touch $@

# The PostgreSQL server binaries for the production-profile test and benchmark (each starts its own
# throwaway server in a temp folder). Installed once from Debian's `postgresql` package; the system
# cluster the package creates is stopped again, nothing listens on 5432 afterwards.
postgres-server:
	@ls /usr/lib/postgresql/*/bin/initdb /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || { \
	  echo "installing the PostgreSQL server (Debian package postgresql) for the production-profile test"; \
	  SUDO=$$(test "$$(id -u)" = 0 || echo sudo); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends postgresql >/dev/null && \
	  { pg_lsclusters -h 2>/dev/null | while read -r ver name _; do $$SUDO pg_ctlcluster "$$ver" "$$name" stop || true; done; }; }

# A headless browser for the dashboard test (selenium drives Debian's chromium through chromedriver).
browser:
	@command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 || { \
	  echo "installing chromium and chromium-driver (Debian packages) for the dashboard browser test"; \
	  SUDO=$$(test "$$(id -u)" = 0 || echo sudo); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null; }

check: $(TEST_STAMP)
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

ui: $(STAMP)
	DAGSTER_HOME=$$($(BIN)/python -m dvol_pipeline home) \
	DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS=$${DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS:-true} \
	DAGSTER_EVENT_BATCH_SIZE=$${DAGSTER_EVENT_BATCH_SIZE:-500} \
	exec $(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

# The signal API and dashboard on http://127.0.0.1:8000 (HOST/PORT/LAKE override), read-only over the lake.
HOST ?= 127.0.0.1
PORT ?= 8000
serve: $(STAMP)
	exec $(BIN)/python -m dvol_pipeline serve --host $(HOST) --port $(PORT) $(if $(LAKE),--lake $(LAKE))

# hftbacktest (the replay engine the micro lane's parse and rebuild rates are set against) needs numpy<2.3,
# which the runtime's lock cannot have: `make bench` builds it its own environment, .venv-hft.
HFT_STAMP := .venv-hft/.installed-$(shell cat requirements-hft.lock | cksum | cut -d' ' -f1)

$(HFT_STAMP): requirements-hft.lock
	@test -x .venv-hft/bin/python || $(PYTHON) -m venv .venv-hft
	.venv-hft/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-hft.lock
	@rm -f .venv-hft/.installed-*
	@touch $@

bench: $(TEST_STAMP) postgres-server $(HFT_STAMP)
	$(BIN)/python -m dvol_pipeline_tests.bench.bench_demo
	$(BIN)/python -m dvol_pipeline_tests.bench.bench_raw_lake
	$(BIN)/python -m dvol_pipeline_tests.bench.bench_walkforward
	$(BIN)/python -m dvol_pipeline_tests.bench.bench_ml_vs_har
	$(BIN)/python -m dvol_pipeline_tests.bench.bench_options --no-surface
	$(BIN)/python -m dvol_pipeline_tests.bench.bench_surface
	$(BIN)/python -m dvol_pipeline_tests.bench.bench_backtest
	$(BIN)/python -m dvol_pipeline_tests.bench.bench_scale
	$(BIN)/python -m dvol_pipeline_tests.bench.bench_overhead
	$(BIN)/python -m dvol_pipeline_tests.bench.bench_universe
	$(BIN)/python -m dvol_pipeline_tests.bench.bench_serve
	$(BIN)/python -m dvol_pipeline_tests.bench.bench_paper
	HFT_PYTHON=.venv-hft/bin/python $(BIN)/python -m dvol_pipeline_tests.bench.bench_micro_parse
	HFT_PYTHON=.venv-hft/bin/python $(BIN)/python -m dvol_pipeline_tests.bench.bench_micro_book
	$(BIN)/python -m dvol_pipeline_tests.bench.bench_micro_features
	$(BIN)/python -m dvol_pipeline_tests.bench.bench_micro
	HFT_PYTHON=.venv-hft/bin/python $(BIN)/python -m dvol_pipeline_tests.bench.bench_micro_fills
	$(BIN)/python -m dvol_pipeline_tests.bench.bench_micro_fold --days 30

clean-lake:
	find data_lake -mindepth 1 -maxdepth 1 ! -name README.md ! -name .gitignore -exec rm -rf {} +
