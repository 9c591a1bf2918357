# The two commands a newcomer needs: `make demo` and `make test` (both set themselves up).
# `make test` is the full suite (what CI runs) and builds the docs; `make check` skips the tests marked
# slow (under 4 min); `make docs` builds the documentation site into site/ (mkdocs build --strict).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | cksum | cut -d' ' -f1)
DOCS_STAMP := $(VENV)/.docs-installed-$(shell cat requirements-docs.lock | cksum | cut -d' ' -f1)
PYTEST_ARGS ?=

.PHONY: setup demo test check docs ui serve bench clean-lake postgres-server redis-server browser redis workers \
	workers-stop

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

test: $(TEST_STAMP) docs postgres-server redis-server browser
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

# The Redis server, broker of the celery profile (deploy/dagster.celery.yaml) and of its fault test
# (dvol_pipeline_tests/test_celery.py starts its own on a free port). Installed once from Debian's
# `redis-server` package; the system service the package may start is stopped again (nothing stays on 6379).
redis-server:
	@command -v redis-server >/dev/null 2>&1 || { \
	  echo "installing the Redis server (Debian package redis-server) for the celery profile and its test"; \
	  SUDO=$$(test "$$(id -u)" = 0 || echo sudo); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends redis-server >/dev/null && \
	  { $$SUDO service redis-server stop >/dev/null 2>&1 || true; }; }

# The celery profile on this machine, for a person trying it (docs/operations.md, "Celery profile"):
# `make redis` starts a broker on 127.0.0.1:$(REDIS_PORT) (append-only file: a restart keeps the queue),
# `make workers N=2` starts N Celery workers (w1@host, w2@host...; one step at a time each), and
# `make workers-stop` stops the workers, then the broker. Pid files and logs: .run/ (git-ignored).
# The workers read DAGSTER_PG_*, DVOL_LAKE and DVOL_CELERY_* from the environment, as the run does.
RUN_DIR    := .run
REDIS_PORT ?= 6379
N          ?= 2
CELERY_ENV := DVOL_EXECUTOR=celery DVOL_CELERY_BROKER=$${DVOL_CELERY_BROKER:-redis://127.0.0.1:$(REDIS_PORT)/0} \
	DVOL_CELERY_BACKEND=$${DVOL_CELERY_BACKEND:-redis://127.0.0.1:$(REDIS_PORT)/1}

redis: redis-server
	@mkdir -p $(RUN_DIR)/redis
	@if test -f $(RUN_DIR)/redis.pid && kill -0 $$(cat $(RUN_DIR)/redis.pid) 2>/dev/null; then \
	  echo "redis already running (pid $$(cat $(RUN_DIR)/redis.pid))"; else \
	  redis-server --bind 127.0.0.1 --port $(REDIS_PORT) --dir $(abspath $(RUN_DIR)/redis) --appendonly yes \
	    --daemonize yes --pidfile $(abspath $(RUN_DIR)/redis.pid) --logfile $(abspath $(RUN_DIR)/redis.log) && \
	  echo "redis on 127.0.0.1:$(REDIS_PORT) (log $(RUN_DIR)/redis.log)"; fi

workers: $(STAMP) redis
	@for i in $$(seq 1 $(N)); do \
	  if test -f $(RUN_DIR)/worker-$$i.pid && kill -0 $$(cat $(RUN_DIR)/worker-$$i.pid) 2>/dev/null; then \
	    echo "worker w$$i already running"; continue; fi; \
	  $(CELERY_ENV) $(BIN)/celery -A dvol_pipeline.celery_app worker -n w$$i@%h -c 1 --prefetch-multiplier=1 \
	    -l INFO --detach --pidfile=$(abspath $(RUN_DIR))/worker-$$i.pid --logfile=$(abspath $(RUN_DIR))/worker-$$i.log && \
	  echo "worker w$$i started (log $(RUN_DIR)/worker-$$i.log)"; done
	@echo "runs use them with: DVOL_EXECUTOR=celery DVOL_DAGSTER_YAML=deploy/dagster.celery.yaml DAGSTER_PG_*=... make ui"

workers-stop:
	@for pidfile in $(RUN_DIR)/worker-*.pid $(RUN_DIR)/redis.pid; do \
	  test -f "$$pidfile" || continue; pid=$$(cat "$$pidfile"); \
	  if kill -TERM "$$pid" 2>/dev/null; then \
	    for _ in $$(seq 1 60); do kill -0 "$$pid" 2>/dev/null || break; sleep 0.5; done; \
	    echo "stopped $$(basename $$pidfile .pid) (pid $$pid)"; fi; \
	  rm -f "$$pidfile"; done

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

bench: $(TEST_STAMP) postgres-server redis-server $(HFT_STAMP)
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
