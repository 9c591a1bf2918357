"""Jobs, selected by asset group so assets added to a group later join them on their own.

A job holds one partitions definition, but Dagster lets unpartitioned assets ride along in
the same run: `eod_job` refreshes the warehouse after the day's partition, and
`monthly_job` rebuilds the metrics, backtests and warehouse after the month's folds.
`python -m dvol_pipeline demo | run | eod` execute these jobs (cli.py), so their runs are
recorded under the jobs' names and watched by the alert sensors like the schedules' runs.
The freshness checks are left out of the data jobs: they judge the lake against today, so
inside a backfill of old days they would only report the obvious.
"""

import dagster as dg

from dvol_pipeline.assets.freshness import freshness_checks
from dvol_pipeline.executors import step_retry_policy

DAILY_GROUPS = ("raw", "features", "surface", "signals")
MONTHLY_GROUPS = ("forecasts", "backtest")
FRESHNESS = dg.AssetSelection.checks(*freshness_checks)
RETRY = step_retry_policy()
"""Every step's retry policy: none on one host, twice on a lost host in the distributed profiles (executors.py)."""

raw_ingest_job = dg.define_asset_job(
    "raw_ingest_job", op_retry_policy=RETRY,
    selection=dg.AssetSelection.groups("raw") - FRESHNESS,
    description="Ingest, contract-check and write every raw table for a day or a range (one run).",
)

warehouse_job = dg.define_asset_job(
    "warehouse_job", op_retry_policy=RETRY, selection=dg.AssetSelection.groups("warehouse"), description="Rebuild warehouse.duckdb."
)

daily_job = dg.define_asset_job(
    "daily_job", op_retry_policy=RETRY,
    selection=dg.AssetSelection.groups("raw", "surface", "features") - FRESHNESS,
    description="The days of a range as one run: raw, surface and features, what the folds and signals read "
    "(`python -m dvol_pipeline run` and `demo` run it over the whole range first).",
)

eod_job = dg.define_asset_job(
    "eod_job", op_retry_policy=RETRY,
    selection=dg.AssetSelection.groups(*DAILY_GROUPS, "warehouse") - FRESHNESS,
    description="End of day: raw, features, surface and signals for the day just closed, then the warehouse.",
)

monthly_job = dg.define_asset_job(
    "monthly_job", op_retry_policy=RETRY,
    selection=dg.AssetSelection.groups(*MONTHLY_GROUPS, "warehouse"),
    description="Walk-forward folds (oos_predictions), then forecast metrics, backtests, tear sheets and warehouse.",
)

freshness_check_job = dg.define_asset_job(
    "freshness_check_job", op_retry_policy=RETRY,
    selection=FRESHNESS,
    description="Only the `fresh` checks: is the newest raw partition of every table recent enough?",
)

universe_job = dg.define_asset_job(
    "universe_job", op_retry_policy=RETRY,
    selection=dg.AssetSelection.groups("universe", "warehouse"),
    description="The coin universe: raw bars, features, walk-forward, metrics, strategy, report, then the warehouse.",
)

micro_job = dg.define_asset_job(
    "micro_job", op_retry_policy=RETRY,
    selection=dg.AssetSelection.groups("micro", "warehouse"),
    description="Order-book microstructure: ticks in, books rebuilt, quality, bars and features, then the warehouse.",
)
