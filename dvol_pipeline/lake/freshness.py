"""How old the newest partition of each lake table is, from folder names alone.

Freshness must be cheap enough to ask every hour and must not depend on Dagster's run
history (a wiped `.dagster/` or a lake filled by the CLI is still judged right), so it
reads `asset=<A>/date=<D>` folder names and never opens a Parquet file. A day counts only
when its `part-0.parquet` exists: a run killed before the rename leaves an empty folder.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path

import polars as pl

from dvol_pipeline.lake.catalog import table as catalog_table

REPORT_SCHEMA = {"table": pl.String, "asset": pl.String, "newest": pl.Date, "age_days": pl.Int64, "stale": pl.Boolean}


def newest_by_asset(root: Path, table: str) -> dict[str, date]:
    """Coin -> its newest complete partition; coins without one are left out. Reads each coin's
    folder listing newest first and stops at the first day holding its file (cheap on long histories)."""
    t = catalog_table(table)
    newest: dict[str, date] = {}
    for asset in t.coins(root):
        for day_text in reversed(t.coin_days(root, asset)):
            try:
                day = date.fromisoformat(day_text)
            except ValueError:  # not a partition folder: ignored, never guessed
                continue
            if t.partition_file(root, asset, day_text).is_file():
                newest[asset] = day
                break
    return newest


def newest_partition(root: Path, table: str, asset: str | None = None) -> date | None:
    """The newest partition of one coin, or of any coin; None when there is none."""
    newest = newest_by_asset(root, table)
    if asset is not None:
        return newest.get(asset)
    return max(newest.values(), default=None)


def freshness_report(
    root: Path,
    tables: Sequence[str],
    today: date,
    max_age_days: int,
    coins: Sequence[str] | None = None,
) -> pl.DataFrame:
    """One row per (table, coin): newest partition, its age in days at `today`, and whether
    it is older than `max_age_days` (a coin with no partition is stale, newest null).

    `coins` are the coins the desk expects; None judges the coins found (and an empty table
    gets one row with a null asset).
    """
    rows = []
    for table in tables:
        newest = newest_by_asset(root, table)
        expected = list(coins) if coins is not None else sorted(newest) or [None]
        rows.extend({"table": table, "asset": c, "newest": newest.get(c)} for c in expected)
    frame = pl.DataFrame(rows, schema={k: REPORT_SCHEMA[k] for k in ("table", "asset", "newest")})
    age = (pl.lit(today, dtype=pl.Date) - pl.col("newest")).dt.total_days()
    return frame.with_columns(age.alias("age_days")).with_columns(
        (pl.col("newest").is_null() | (pl.col("age_days") > max_age_days)).alias("stale")
    ).select(list(REPORT_SCHEMA))


def staleness_message(report: pl.DataFrame, root: Path, today: date, max_age_days: int) -> str:
    """What a user reads on a failed check: which coin is how old, and what to do."""
    lines = []
    for table, asset, newest, age, stale in report.iter_rows():
        who = f"{table}" + (f" {asset}" if asset else "")
        if newest is None:
            lines.append(f"{who}: no partitions under {catalog_table(table).base(root)} (nothing ingested yet)")
        elif stale:
            lines.append(f"{who}: newest partition {newest} is {age} days old at {today} (> {max_age_days} allowed)")
        else:
            lines.append(f"{who}: fresh, newest {newest} ({age} days old)")
    if report["stale"].any():
        lines.append("Run the end-of-day job (eod_job) or materialize group:raw for the missing days.")
    return "\n".join(lines)
