"""Where the lake lives. One function, so every layer (CLI, assets, tests) agrees."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_COINS = ("BTC", "ETH")
DEFAULT_SEED = 20210324  # the simulated market's default seed (SimConfig.seed)
HISTORY_START = "2021-03-24"  # first day of Deribit's DVOL history, and of the simulated market
FRESHNESS_MAX_AGE_DAYS = 2
"""Oldest acceptable age (days) of a table's newest partition: the `fresh` checks' default and the
signal API's `stale` flag (just after the 00:30 end-of-day run the newest day is 1 day old)."""


def lake_root() -> Path:
    """`$DVOL_LAKE` if set, else `data_lake/` in the checkout."""
    env = os.environ.get("DVOL_LAKE")
    return Path(env).expanduser().resolve() if env else REPO_ROOT / "data_lake"


def dagster_home(root: Path | None = None) -> Path:
    return (root or lake_root()) / ".dagster"


EXECUTORS = ("in_process", "multiprocess", "celery", "k8s")


def executor_name() -> str:
    """`$DVOL_EXECUTOR`: how a launched run executes its steps: in its own process (`in_process`, the
    default), each step in a process of its own (`multiprocess`, the production profile on one host), each
    step a Celery task on any worker host (`celery`, deploy/dagster.celery.yaml) or a Kubernetes Job
    (`k8s`, deploy/helm-values.yaml). Workers must see the same value: they rebuild the same job."""
    name = os.environ.get("DVOL_EXECUTOR", "in_process").strip() or "in_process"
    if name not in EXECUTORS:
        raise ValueError(f"DVOL_EXECUTOR={name!r}: use one of {', '.join(EXECUTORS)}")
    return name


EVENT_BATCH_SIZE = "500"


def event_volume_defaults() -> None:
    """Dagster's two event-volume settings, unless the environment sets them (docs/operations.md, "Dagster's
    event volume"), in every process that runs steps: the CLI's and the UI's (cli.prepare_home) and a Celery
    worker's (celery_app.py), whose steps write their own events; a worker started without them wrote each
    of a range's materializations on its own, ~9x the compute on a year's range (bench_overhead)."""
    # a single-run backfill then writes one planned event per asset instead of one per partition
    # (about half of Dagster's time on a long range); Dagster's caveat: a failed run's partitions
    # read as missing, not failed. Set the variable to false to keep per-partition failure marks.
    os.environ.setdefault("DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS", "true")
    # and an asset's per-partition materialization events are written in batches (one transaction
    # each; dvol_pipeline/event_log.py for SQLite, Dagster's own for PostgreSQL)
    os.environ.setdefault("DAGSTER_EVENT_BATCH_SIZE", EVENT_BATCH_SIZE)


STEP_STARTS = ("spawn", "forkserver")


def step_start_method() -> str:
    """`$DVOL_STEP_START`: how the multiprocess executor starts a step's process: `spawn` (the default,
    Dagster's: a fresh interpreter that imports the project, 2-4 s a step) or `forkserver` (forked from a
    server that imported the project once: executors.multiprocess_executor_config). The forkserver keeps
    the environment of the process that first started it, so it is for a run that has a process of its
    own (a run the daemon or the webserver launches, deploy/dagster.postgres.yaml), not for one process
    that runs several runs with different variables (a test session changing DVOL_LAKE)."""
    name = os.environ.get("DVOL_STEP_START", "spawn").strip() or "spawn"
    if name not in STEP_STARTS:
        raise ValueError(f"DVOL_STEP_START={name!r}: use one of {', '.join(STEP_STARTS)}")
    return name


CELERY_BROKER_ENV = "DVOL_CELERY_BROKER"
CELERY_BACKEND_ENV = "DVOL_CELERY_BACKEND"
DEFAULT_CELERY_BROKER = "redis://127.0.0.1:6379/0"  # where `make redis` serves it
DEFAULT_CELERY_BACKEND = "redis://127.0.0.1:6379/1"
CELERY_VISIBILITY_ENV = "DVOL_CELERY_VISIBILITY_TIMEOUT"
DEFAULT_CELERY_VISIBILITY_S = 3600
"""Seconds after which Redis hands a step whose worker vanished (host lost, SIGKILL) to another worker:
longer than the longest step, or a step still running would be started a second time elsewhere."""


def celery_settings() -> tuple[str, str, int]:
    """(broker URL, result backend URL, visibility timeout in seconds) of the celery profile, from the
    environment (`DVOL_CELERY_BROKER`, `DVOL_CELERY_BACKEND`, `DVOL_CELERY_VISIBILITY_TIMEOUT`)."""
    broker = os.environ.get(CELERY_BROKER_ENV, "").strip() or DEFAULT_CELERY_BROKER
    backend = os.environ.get(CELERY_BACKEND_ENV, "").strip() or DEFAULT_CELERY_BACKEND
    text = os.environ.get(CELERY_VISIBILITY_ENV, "").strip()
    try:
        visibility = int(text) if text else DEFAULT_CELERY_VISIBILITY_S
    except ValueError:
        raise ValueError(f"{CELERY_VISIBILITY_ENV}={text!r}: a whole number of seconds") from None
    if visibility <= 0:
        raise ValueError(f"{CELERY_VISIBILITY_ENV}={visibility}: must be positive (seconds)")
    return broker, backend, visibility


DAGSTER_UI_URL_ENV = "DVOL_DAGSTER_UI_URL"
DEFAULT_DAGSTER_UI_URL = "http://127.0.0.1:3000"  # where `make ui` serves it
API_URL_ENV = "DVOL_API_URL"
DEFAULT_API_URL = "http://127.0.0.1:8000"  # where `make serve` serves the signal API and dashboard


def dagster_ui_url() -> str:
    """`$DVOL_DAGSTER_UI_URL`, else the `make ui` address; no trailing slash."""
    return (os.environ.get(DAGSTER_UI_URL_ENV, "").strip() or DEFAULT_DAGSTER_UI_URL).rstrip("/")


def api_url() -> str:
    """`$DVOL_API_URL`, else the `make serve` address; no trailing slash."""
    return (os.environ.get(API_URL_ENV, "").strip() or DEFAULT_API_URL).rstrip("/")
