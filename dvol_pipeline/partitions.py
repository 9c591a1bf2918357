"""Partitions: one per UTC day since DVOL history starts.

The coins (BTC, ETH) are not a second Dagster dimension: single-run backfills of
multi-dimensional partitions are unreliable in Dagster (its GitHub issues 18852, 23996, 28861), and
a range backfill must be ONE vectorised run. The coin is a column and a hive folder
(`asset=BTC/`) instead, and the coin set is configuration (`MarketResource.coins`).
"""

from __future__ import annotations

import warnings
from datetime import date, timedelta

import dagster as dg

from dvol_pipeline.settings import HISTORY_START

daily_partitions = dg.DailyPartitionsDefinition(start_date=HISTORY_START, timezone="UTC", end_offset=0)


def single_run_asset(**kwargs):
    """`@dg.asset(**kwargs)` whose range backfill is ONE run (`BackfillPolicy.single_run()`): every
    partitioned single asset of the graph is declared with it (multi-assets pass the policy themselves)."""
    with warnings.catch_warnings():
        # Dagster 1.13 labels the `backfill_policy` parameter of `@asset` beta (the same parameter of
        # `@multi_asset` carries no label). A range as one vectorised run is what this project is built
        # on (module docstring), so that one label is silenced here, at its only call site.
        warnings.filterwarnings("ignore", message=r"Parameter `backfill_policy` of function `asset`",
                                category=dg.BetaWarning)
        return dg.asset(backfill_policy=dg.BackfillPolicy.single_run(), **kwargs)


def partition_dates(context: dg.AssetExecutionContext) -> tuple[date, date]:
    """First and last day (inclusive) of the run's partition range, one day or many."""
    window = context.partition_time_window
    return window.start.date(), (window.end - timedelta(days=1)).date()


FIRST_FOLD = "2022-04"  # the first month with a year of purged history after 2021-03-24
fold_partitions = dg.TimeWindowPartitionsDefinition(
    start=FIRST_FOLD, fmt="%Y-%m", cron_schedule="0 0 1 * *", timezone="UTC", end_offset=1
)
"""Monthly walk-forward folds, keyed "2023-04"; the current month is a fold too (it fills
in as its days arrive)."""


def fold_keys(context: dg.AssetExecutionContext) -> list[str]:
    """The fold keys of the run, oldest first."""
    return sorted(context.partition_keys)
