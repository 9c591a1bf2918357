"""vol_regimes in the lake: read DVOL, price bars and the surface from a year before the range
(the rank's window, D-364..D, and the previous close of the first return; never before the first
day of history), label, keep the range, write per (coin, day). Every number of a row is a
function of its own window (quant/rolling.py, `trailing_rank_pct`), so the rows equal those of a
read from the first day, and an end-of-day run's work does not grow with the lake.

The `regime` feature group of features_daily is computed by the same function
(quant/dvol/regimes.py) from the same tables, so the table and the features always agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import polars as pl

from dvol_pipeline.lake.parquet import read_table, read_table_or_none, write_partitions
from dvol_pipeline.quant.dvol.features import iv
from dvol_pipeline.quant.dvol.features import realized
from dvol_pipeline.quant.dvol.regimes import RegimeThresholds, vol_regimes

REGIMES_TABLE = "vol_regimes"


@dataclass
class RegimeBuild:
    rows: pl.DataFrame  # the range's rows, as written
    partitions: int
    counts: dict[str, int]  # label -> coin-days in the range ("unknown": too little history)


def regimes_from_tables(tables: dict[str, pl.DataFrame | None], t: RegimeThresholds = RegimeThresholds()) -> pl.DataFrame:
    """vol_regimes from raw_dvol, raw_ohlcv and surface_features frames (the last two may be None)."""
    daily = iv.dvol_daily(tables["raw_dvol"]).select("date", "asset", dvol="close")
    ohlcv = tables.get("raw_ohlcv")
    rv = None if ohlcv is None or ohlcv.is_empty() else realized.daily_price_stats(ohlcv).select("date", "asset", "rv")
    return vol_regimes(daily, rv, tables.get("surface_features"), t)


def build_range(root: Path, first_day: date, start: date, end: date, coins: list[str],
                t: RegimeThresholds = RegimeThresholds()) -> RegimeBuild:
    first_day = max(first_day, start - timedelta(days=max(t.window_days, t.rv_window_days) + 1))
    try:
        dvol = read_table(root, "raw_dvol", first_day, end, coins)
    except FileNotFoundError:
        raise FileNotFoundError(f"vol_regimes needs raw_dvol for {coins} up to {end} under {root}; "
                                "materialize it first") from None
    tables = {"raw_dvol": dvol,
              "raw_ohlcv": read_table_or_none(root, "raw_ohlcv", first_day, end, coins),
              "surface_features": read_table_or_none(root, "surface_features", first_day, end, coins)}
    rows = regimes_from_tables(tables, t).filter(pl.col("date").is_between(start, end))
    written = write_partitions(root, REGIMES_TABLE, rows)
    counts = rows.group_by(pl.col("regime").fill_null("unknown")).len().sort("regime")
    return RegimeBuild(rows, len(written), dict(counts.iter_rows()))
