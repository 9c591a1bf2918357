"""Small frame helpers shared by the feature builders.

Every window in this package counts calendar days, not rows: a series is first put on a
complete daily grid per asset (`complete_days`), so `shift(5)` is always D-5 and a missing
day is a null that rolling statistics skip (they need `min_samples` present values).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import polars as pl

from dvol_pipeline.quant.rolling import trailing_mean
from dvol_pipeline.quant.stats import PERIODS_PER_YEAR

DAYS_PER_YEAR = float(PERIODS_PER_YEAR)
"""Crypto trades every day: annualise daily variance by 365 (quant/stats.py)."""


def min_samples(window: int) -> int:
    """Present values a rolling window needs: 80 % of it, at least 1."""
    return max(1, math.ceil(0.8 * window))


def complete_days(df: pl.DataFrame, by: str = "asset") -> pl.DataFrame:
    """`df` (one row per (by, date)) on a complete daily grid from each group's first to last day."""
    if df.is_empty():
        return df
    grid = (
        df.group_by(by)
        .agg(pl.date_range(pl.col("date").min(), pl.col("date").max()).alias("date"))
        .explode("date")
    )
    return grid.join(df, on=[by, "date"], how="left").sort(by, "date")


def extend_after(base: pl.DataFrame, later: pl.DataFrame, by: str = "asset") -> pl.DataFrame:
    """`base`'s rows, then `later`'s rows dated after `base`'s last day of their group (all of a
    group `base` lacks), sorted by (by, date); the columns are `base`'s. Where both hold a day,
    `base`'s row is kept: how saved GARCH returns and freshly read ones are joined either way."""
    last = base.group_by(by).agg(_last=pl.col("date").max())
    newer = later.join(last, on=by, how="left").filter(
        pl.col("_last").is_null() | (pl.col("date") > pl.col("_last"))).select(base.columns)
    return pl.concat([base, newer]).sort(by, "date")


def ann_vol(daily_var: pl.Expr) -> pl.Expr:
    """Daily variance (log-return units) -> annualised vol in vol points."""
    return (daily_var * DAYS_PER_YEAR).sqrt() * 100.0


def rmean(x: pl.Expr, window: int, by: str = "asset") -> pl.Expr:
    """Trailing mean over the `window` days ending at D (on a complete grid); each row's own
    window only (quant/rolling.py), so a build from the last year gives the bits of a build
    from all history."""
    return trailing_mean(x, window, min_samples(window), by)


def lag(x: pl.Expr, k: int, by: str = "asset") -> pl.Expr:
    return x.shift(k).over(by)


def require_columns(name: str, frame: pl.DataFrame, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(
            f"table {name} lacks column(s) {missing}; expected its TableSpec columns "
            f"(dvol_pipeline.contracts.tables). Has: {frame.columns}"
        )


def require_utc(name: str, frame: pl.DataFrame, col: str = "ts") -> None:
    dtype = frame.schema[col]
    if not isinstance(dtype, pl.Datetime) or dtype.time_zone != "UTC":
        raise ValueError(
            f"table {name}: column {col} is {dtype}, not a UTC datetime; naive or non-UTC "
            "timestamps are a contract violation (validate the table before building features)"
        )
