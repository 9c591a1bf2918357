"""DVOL features (group `iv`), the calendar group and the labels.

raw_dvol may hold daily bars (the contract) or hourly bars (some dumps): either way the
bars opened on day D are aggregated into D's open/high/low/close, and all of them close at
or before the cut-off D+1 00:00 UTC, so the close of D is usable for D's row.
"""

from __future__ import annotations

import polars as pl

from ._frames import complete_days, lag, require_columns, require_utc, rmean
from .registry import LABELS


def dvol_daily(raw_dvol: pl.DataFrame) -> pl.DataFrame:
    """asset, date, open, high, low, close (one row per day that has bars)."""
    require_columns("raw_dvol", raw_dvol, ["ts", "asset", "open", "high", "low", "close"])
    require_utc("raw_dvol", raw_dvol)
    return (
        raw_dvol.sort("asset", "ts")
        .group_by("asset", pl.col("ts").dt.date().alias("date"), maintain_order=True)
        .agg(
            pl.col("open").first(),
            pl.col("high").max(),
            pl.col("low").min(),
            pl.col("close").last(),
        )
    )


def dvol_bar_kind(raw_dvol: pl.DataFrame) -> str:
    per_day = raw_dvol.group_by("asset", pl.col("ts").dt.date()).len()["len"]
    return "daily bars" if per_day.is_empty() or per_day.max() == 1 else "intraday bars aggregated per UTC day"


def iv_features(daily: pl.DataFrame) -> pl.DataFrame:
    """iv + calendar features on the days DVOL has a close (date, asset, ...)."""
    g = complete_days(daily)
    c = pl.col("close")
    out = g.select(
        "date",
        "asset",
        dvol=c,
        dvol_lag1=lag(c, 1),
        dvol_lag2=lag(c, 2),
        dvol_lag5=lag(c, 5),
        dvol_chg1=c - lag(c, 1),
        dvol_chg5=c - lag(c, 5),
        dvol_range=pl.col("high") - pl.col("low"),
        dvol_ma5=rmean(c, 5),
        dvol_ma22=rmean(c, 22),
        dvol_ma66=rmean(c, 66),
    ).with_columns(
        dvol_dist_ma5=pl.col("dvol") - pl.col("dvol_ma5"),
        dvol_dist_ma22=pl.col("dvol") - pl.col("dvol_ma22"),
        dvol_dist_ma66=pl.col("dvol") - pl.col("dvol_ma66"),
        weekday=pl.col("date").dt.weekday().cast(pl.Int8),
        is_weekend=(pl.col("date").dt.weekday() >= 6).cast(pl.Int8),
    )
    return out.filter(pl.col("dvol").is_not_null())


def labels(daily: pl.DataFrame) -> pl.DataFrame:
    """date, asset, y_1d, y_7d, y_14d: DVOL close(D+h) - close(D), matched by calendar day."""
    base = daily.select("asset", "date", "close")
    out = base
    for h, name in LABELS.items():
        ahead = base.select("asset", (pl.col("date") - pl.duration(days=h)).alias("date"), pl.col("close").alias("_ahead"))
        out = out.join(ahead, on=["asset", "date"], how="left").with_columns(
            (pl.col("_ahead") - pl.col("close")).alias(name)
        ).drop("_ahead")
    return out.drop("close")
